"""Benchmark: the memory and CPU of a real ``vigie agent`` running N http checks.

The agent runs in its own process, started as the ``vigie`` script starts it
(``python -m monitor agent``: :mod:`monitor.launch`, without the rest of the command
line), against a stand-in server speaking ``/api/agent/v1`` in this process
(``tests/monitor/agent/standin.py``, the one the tests use) and a local nginx serving the
checks' page. Each run measures the agent's resident set size (VmRSS, from /proc):

- **started**: once every check has a result stored on the server (a full cycle);
- **steady**: after ``--cycles`` more cycles, with the CPU the agent used meanwhile per
  result (µs, user + system);
- **server away**: the stand-in stopped for ``--cycles`` cycles (results go to the spool
  on disk, not to memory);
- **back**: the stand-in started again and every result of the outage sent;
- **peak**: the highest RSS of the whole run (VmHWM).

It also says whether the agent process mapped SQLAlchemy's or psycopg's compiled modules
(it must not: ``vigie agent`` imports no database code; the pure-Python Flask, Alembic
and Apprise leave no trace in a memory map, ``tests/monitor/agent/test_command.py``
checks those).

    .venv/bin/python bench/agent_footprint.py
    .venv/bin/python bench/agent_footprint.py --checks 100 1000 --runs 3 --interval 10

Target: under 60 MB with 100 checks (a small VPS or a home server).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import (
    MachineLoad,
    child_env,
    cpu_seconds,
    describe_machine,
    load_note,
    progress,
    spread,
    use_repo_root,
)

use_repo_root()

TARGET_MB = 60.0
#: give up on a phase after this many seconds (a broken agent, not a slow one)
PHASE_LIMIT = 900.0


def proc_status(pid: int, field: str) -> float:
    """A ``kB`` field of /proc/<pid>/status (``VmRSS``, ``VmHWM``) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def loaded_heavy(pid: int) -> list[str]:
    """Database libraries the agent loaded (their compiled modules show in its memory
    map)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in ("sqlalchemy", "psycopg", "psycopg_binary")
            if f"/{name}/" in maps]


def wait(condition, what: str, proc: subprocess.Popen) -> None:
    """Poll ``condition`` until it holds (the agent must stay alive meanwhile)."""
    deadline = time.monotonic() + PHASE_LIMIT
    while not condition():
        if proc.poll() is not None:
            raise SystemExit(f"the agent exited with {proc.returncode} while waiting for "
                             f"{what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"not seen in {PHASE_LIMIT:.0f} s: {what}")
        time.sleep(0.2)


def measure(folder: Path, url: str, checks: int, interval: float, cycles: int) -> dict:
    """One run: an agent with ``checks`` http checks against ``url`` (see the module)."""
    from tests.monitor.agent.standin import StandIn, http_check, spooled_seqs

    specs = [http_check(f"s{i // 100}/c{i}", f"{url}/ok.html", interval=interval,
                        timeout=10.0, retry_interval=interval) for i in range(checks)]
    token = folder / "token"
    data = folder / "data"
    out: dict = {}
    with StandIn(specs) as standin:
        token.write_text(standin.token + "\n")
        token.chmod(0o600)
        command = [sys.executable, "-m", "monitor", "agent", "--server", standin.url,
                   "--token-file", str(token), "--data-dir", str(data),
                   "--log-level", "warning", "--max-backoff", "2s"]
        proc = subprocess.Popen(command, env=child_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            def results() -> int:
                with standin.changed:
                    return len(standin.stored)

            wait(lambda: len({r["check"] for r in list(standin.stored.values())}) >= checks,
                 "a result of every check", proc)
            out["started_mb"] = proc_status(proc.pid, "VmRSS")
            before, cpu0 = results(), cpu_seconds(proc.pid)
            wait(lambda: results() >= before + checks * cycles, f"{cycles} cycles", proc)
            out["cpu_us_per_result"] = (cpu_seconds(proc.pid) - cpu0) / (
                results() - before) * 1e6
            out["steady_mb"] = proc_status(proc.pid, "VmRSS")
            standin.stop()
            spooled = max(spooled_seqs(data), default=0)
            wait(lambda: max(spooled_seqs(data), default=0) >= spooled + checks * cycles,
                 f"{cycles} cycles with the server away", proc)
            out["away_mb"] = proc_status(proc.pid, "VmRSS")
            produced = max(spooled_seqs(data))
            standin.start()
            wait(lambda: max(standin.stored, default=0) >= produced,
                 "the outage's results sent", proc)
            out["back_mb"] = proc_status(proc.pid, "VmRSS")
            out["peak_mb"] = proc_status(proc.pid, "VmHWM")
            out["heavy"] = loaded_heavy(proc.pid)
            out["in_order"] = standin.order == sorted(standin.order)
            out["duplicates"] = standin.duplicates
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return out


def main() -> int:
    """Measure each size ``--runs`` times; print medians [min–max] against the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, nargs="+", default=[100])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval", type=float, default=10.0,
                        help="seconds between two runs of a check (one cycle)")
    parser.add_argument("--cycles", type=int, default=3,
                        help="cycles measured in the steady and away phases")
    args = parser.parse_args()

    from bench.targets import nginx_process

    print(describe_machine())
    missed = False
    with nginx_process() as (url, nginx_pid), \
            tempfile.TemporaryDirectory(prefix="vigie-bench-agent-") as tmp:
        for checks in args.checks:
            rows, loads = [], []
            for run in range(args.runs):
                folder = Path(tmp) / f"{checks}-{run}"
                folder.mkdir()
                load = MachineLoad().start()
                load.track(nginx_pid)
                rows.append(measure(folder, url, checks, args.interval, args.cycles))
                loads.append(load.stop())
                progress(f"{checks} checks, run {run + 1}/{args.runs}: {rows[-1]}")
            print(f"vigie agent, {checks} http checks every {args.interval:g} s, "
                  f"{args.runs} runs (median [min–max])")
            for key, label in (("started_mb", "RSS, every check run once"),
                               ("steady_mb", f"RSS after {args.cycles} more cycles"),
                               ("away_mb", f"RSS after {args.cycles} cycles, server away"),
                               ("back_mb", "RSS once the outage's results are sent"),
                               ("peak_mb", "peak RSS (VmHWM)")):
                print(f"  {label:44} {spread(r[key] for r in rows).fmt(1, 'MB')}")
            cpu = spread(r["cpu_us_per_result"] for r in rows)
            print(f"  {'CPU per result (user + system)':44} {cpu.fmt(0, 'µs')}")
            heavy = sorted({name for r in rows for name in r["heavy"]})
            print(f"  database libraries loaded: {', '.join(heavy) or 'none'}; results in "
                  f"order: {all(r['in_order'] for r in rows)}; duplicates: "
                  f"{sum(r['duplicates'] for r in rows)}")
            if checks == 100:
                steady = spread(r["steady_mb"] for r in rows).median
                ok = steady < TARGET_MB
                missed |= not ok
                print(f"  target < {TARGET_MB:.0f} MB with 100 checks: "
                      f"{'met' if ok else 'MISSED'}")
            print(f"  {load_note(loads)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
