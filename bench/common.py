"""What every benchmark shares: medians with their spread, the machine's load, configs.

The machine these benchmarks run on is small (2 cores) and often shared, so every figure
is the median of several runs with its min and max, and every report says how busy the
machine was with other work while it ran (:class:`MachineLoad`).
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def use_repo_root() -> None:
    """Put the repository root first on ``sys.path`` and take ``bench/`` off it.

    Running ``python bench/x.py`` puts ``bench/`` first, where ``bench/dashboard.py``
    would shadow the real ``dashboard`` package (a plugin every Vigie process loads).
    """
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(here)]
    if str(ROOT) not in sys.path[:1]:
        sys.path.insert(0, str(ROOT))


def child_env() -> dict[str, str]:
    """Environment for a benchmark's child process: the repository importable, quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def migrate_in_subprocess(url: str) -> None:
    """Create the database schema from a separate process, as ``vigie db upgrade`` does in
    a deployment: the measured Vigie then starts on an up-to-date database (a restart) and
    never loads Alembic."""
    import subprocess

    code = "import sys; from monitor.store import upgrade; upgrade(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, url], check=True, env=child_env())


@dataclass(frozen=True, slots=True)
class Spread:
    """Median, min and max of a series of runs."""

    median: float
    low: float
    high: float
    runs: int

    def fmt(self, digits: int = 0, unit: str = "") -> str:
        """``1234 [1100–1300]`` (with ``unit`` after the median)."""
        f = f"{{:,.{digits}f}}"
        text = f.format(self.median) + (f" {unit}" if unit else "")
        if self.runs > 1:
            text += f" [{f.format(self.low)}–{f.format(self.high)}]"
        return text


def spread(values: Iterable[float]) -> Spread:
    """The :class:`Spread` of ``values`` (at least one)."""
    data = [float(v) for v in values]
    if not data:
        raise ValueError("no values")
    return Spread(statistics.median(data), min(data), max(data), len(data))


def ratio(a: Spread, b: Spread) -> Spread:
    """Median of a over median of b, with the extreme ratios as bounds (a/b)."""
    return Spread(a.median / b.median, a.low / b.high, a.high / b.low, min(a.runs, b.runs))


class MachineLoad:
    """How busy the machine was with *other* work while a benchmark ran.

    ``others_cores`` is the CPU time used by every process except the ones listed in
    ``ours`` (pids, children included) and every child process this one reaped meanwhile
    (``RUSAGE_CHILDREN``), divided by the wall time: 0.5 means half a core was taken by
    someone else on average. ``loadavg`` is the 1-minute load at the end.
    """

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._ours: dict[int, float] = {}
        self._t0 = self._busy0 = self._reaped0 = 0.0

    def _busy(self) -> float:
        times = self._psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    def start(self) -> MachineLoad:
        """Begin measuring."""
        self._t0, self._busy0 = time.monotonic(), self._busy()
        self._reaped0 = _reaped_cpu()
        self._ours.clear()
        return self

    def track(self, pid: int) -> None:
        """Count ``pid`` (and its children) as ours, from now on."""
        self._ours[pid] = _tree_cpu(self._psutil, pid)

    def ours_now(self) -> float:
        """CPU seconds our tracked processes used since tracked."""
        return sum(max(0.0, _tree_cpu(self._psutil, pid) - c0) for pid, c0 in self._ours.items())

    def stop(self, ours_cpu: float | None = None) -> dict[str, float]:
        """``{"others_cores", "loadavg", "wall"}``; ``ours_cpu`` adds CPU seconds used by
        our own processes that were not tracked (e.g. measured by a child itself)."""
        wall = max(1e-9, time.monotonic() - self._t0)
        busy = self._busy() - self._busy0
        ours = self.ours_now() + (_reaped_cpu() - self._reaped0) + (ours_cpu or 0.0)
        return {"others_cores": max(0.0, busy - ours) / wall,
                "loadavg": os.getloadavg()[0], "wall": wall}


def _reaped_cpu() -> float:
    """CPU seconds of every child process reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree_cpu(psutil, pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def describe_machine() -> str:
    """One line: cores, memory, load average right now."""
    import psutil

    mem = psutil.virtual_memory().total / 2**30
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, {mem:.0f} GiB RAM, load average {load[0]:.2f} "
            f"{load[1]:.2f} {load[2]:.2f}, Python {sys.version.split()[0]}")


def load_note(loads: Sequence[dict[str, float]]) -> str:
    """How busy the machine was with other work across runs, for the report."""
    if not loads:
        return ""
    others = spread(l["others_cores"] for l in loads)
    avg = spread(l["loadavg"] for l in loads)
    return (f"other work on the machine during the runs: {others.fmt(2)} cores busy; "
            f"load average {avg.fmt(1)}")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a share of the generated checks point."""

    url: str
    #: share of the checks, between 0 and 1 (the first target takes what is left)
    share: float = 0.0


def write_checks_config(path: Path, targets: Sequence[Target], checks: int, *,
                        grouped: bool = False,
                        interval: str = "1h", timeout: str = "10s", concurrency: int = 256,
                        spread_first_runs: bool = False, store_url: str | None = None,
                        batch_size: int = 1000, flush_interval: str = "0.5s",
                        per_service: int = 100, blocked: Sequence[str] = ("demo",),
                        listen: str = "127.0.0.1:0", extra: str = "") -> dict[str, int]:
    """Write a configuration of ``checks`` http checks, ``per_service`` per service.

    Check ``i`` goes to the target chosen by its position: every ``1/share``-th check
    (spread evenly over services and over time), or with ``grouped`` whole services in
    turn (every ``1/share``-th service: a dead host takes a whole service down, as in
    life). Returns how many checks each target URL got.
    """
    picker = _picker(targets)
    if grouped:
        by_check = picker

        def picker(i: int) -> str:
            return by_check(i // per_service)
    counts: dict[str, int] = {}
    lines = [
        "data_dir: data",
        (f"scheduler: {{concurrency: {concurrency}, spread_first_runs: "
         f"{'true' if spread_first_runs else 'false'}}}"),
        (f"store: {{batch_size: {batch_size}, flush_interval: {flush_interval}"
         + (f", url: '{store_url}'" if store_url else "") + "}"),
        f"server: {{listen: '{listen}'}}",
        f"defaults: {{interval: {interval}, timeout: {timeout}}}",
        f"plugins: {{blocked: [{', '.join(blocked)}]}}",
    ]
    if extra:
        lines.append(extra.rstrip("\n"))
    lines.append("services:")
    for s in range((checks + per_service - 1) // per_service):
        lines.append(f"  - id: svc{s}\n    name: Service {s}\n    checks:")
        for c in range(min(per_service, checks - s * per_service)):
            url = picker(s * per_service + c)
            counts[url] = counts.get(url, 0) + 1
            lines.append(f"      - {{id: c{c}, kind: http, url: '{url}?{s}-{c}'}}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return counts


def _picker(targets: Sequence[Target]) -> Callable[[int], str]:
    """Index → URL: each secondary target every ``round(1/share)``-th index."""
    if not targets:
        raise ValueError("no target")
    main, others = targets[0], [t for t in targets[1:] if t.share > 0]
    periods = [(round(1 / t.share), offset, t.url) for offset, t in enumerate(others)]

    def pick(i: int) -> str:
        for period, offset, url in periods:
            if i % period == offset:
                return url
        return main.url

    return pick


@contextlib.contextmanager
def timed(label: str, out=sys.stderr) -> Iterator[None]:
    """Print how long a step took (to stderr: progress, not results)."""
    start = time.perf_counter()
    yield
    print(f"  {label}: {time.perf_counter() - start:.1f}s", file=out)


def progress(message: str) -> None:
    """A progress line on stderr (results go to stdout)."""
    print(message, file=sys.stderr, flush=True)
