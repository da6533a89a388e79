"""Benchmark: memory of ``vigie run``, idle and with 10,000 and 100,000 checks configured.

Each measurement starts the real command (``vigie -c vigie.yaml run``, every installed
plugin but the demo, the dashboard mounted) in a fresh process and reads its resident
set size (RSS) from /proc:

- **idle**: one check every hour, the database already created (a restart, as a running
  instance lives most of its life; the very first start also loads Alembic to create the
  tables, reported beside it);
- **N checks**: N http checks against a local nginx, all run at start (no spread) so
  that every check has a result in memory; RSS once the first cycle is complete and the
  writer idle, then again after one ``/metrics`` scrape.

blackbox_exporter's idle RSS is measured the same way, for reference. ``--imports``
prints where the idle memory goes: the RSS each imported package adds (its own share,
the packages it imports counted apart).

    .venv/bin/python bench/memory.py
    .venv/bin/python bench/memory.py --checks 10000 --runs 5
    .venv/bin/python bench/memory.py --imports

Targets: idle RSS under 60 MB; at most 150 MB with 10,000 checks (issue 2); under 300 MB
with 100,000 (the large-cycle target).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import (
    MachineLoad,
    Target,
    child_env,
    describe_machine,
    load_note,
    migrate_in_subprocess,
    progress,
    spread,
    write_checks_config,
)
from bench.targets import free_port

TARGETS = {0: 60.0, 10_000: 150.0, 100_000: 300.0}
VIGIE = Path(sys.executable).with_name("vigie")


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _wait_health(base: str, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vigie run exited with {proc.returncode}")
        try:
            return _get_json(base + "/healthz")
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"vigie run did not answer at {base} within {timeout:.0f}s")


def measure_vigie(folder: Path, url: str, checks: int, first_start: bool = False) -> dict:
    """Start ``vigie run`` with ``checks`` checks (0: idle, one hourly check) and measure.

    The database is created by a first start beforehand unless ``first_start``.
    """
    port = free_port()
    config = folder / "vigie.yaml"
    write_checks_config(config, [Target(f"{url}/ok.html")], max(1, checks),
                        listen=f"127.0.0.1:{port}", spread_first_runs=checks == 0,
                        interval="1h", batch_size=1000, flush_interval="1s")
    command = [str(VIGIE), "-c", str(config), "--log-level", "warning", "run"]
    base = f"http://127.0.0.1:{port}"
    database = folder / "data" / "vigie.sqlite"
    if not first_start and not database.exists():
        database.parent.mkdir(parents=True, exist_ok=True)
        migrate_in_subprocess(f"sqlite:///{database}")  # as a previous start would have
    proc = subprocess.Popen(command, cwd=folder, env=child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        started = time.perf_counter()
        _wait_health(base, proc, 600)
        ready_s = time.perf_counter() - started
        out: dict = {"ready_s": ready_s}
        if checks == 0:
            time.sleep(3)  # settled: background tasks started, one tick done
            out["rss_mb"] = rss_mb(proc.pid)
            return out
        deadline = time.monotonic() + 900
        while not _get_json(base + "/healthz").get("last_cycle_at"):
            if time.monotonic() > deadline:
                raise SystemExit("the first cycle did not complete in 15 minutes")
            time.sleep(1)
        out["cycle_s"] = time.perf_counter() - started - ready_s
        while _get_json(base + "/healthz").get("results_buffered"):
            time.sleep(0.5)
        time.sleep(2)
        out["rss_mb"] = rss_mb(proc.pid)
        with urllib.request.urlopen(base + "/metrics", timeout=120) as response:
            out["metrics_bytes"] = len(response.read())
        time.sleep(1)
        out["rss_after_scrape_mb"] = rss_mb(proc.pid)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure_blackbox() -> float:
    """blackbox_exporter's idle RSS in MiB."""
    from bench.targets import blackbox_exporter

    with blackbox_exporter() as (_url, pid):
        time.sleep(2)
        return rss_mb(pid)


IMPORT_PROFILE = r"""
import builtins, sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
own, stack, original = {}, [], builtins.__import__
def counted(name, globals=None, locals=None, fromlist=(), level=0):
    if level or name in sys.modules:
        return original(name, globals, locals, fromlist, level)
    stack.append([rss(), 0.0])
    try:
        return original(name, globals, locals, fromlist, level)
    finally:
        start, inner = stack.pop()
        total = rss() - start
        top = name.partition(".")[0]
        own[top] = own.get(top, 0.0) + total - inner
        if stack:
            stack[-1][1] += total
start = rss()
builtins.__import__ = counted
import monitor.cli, monitor.runtime
from monitor.plugins import ProbeRegistry, build_plugin_manager
ProbeRegistry.from_plugin_manager(build_plugin_manager(blocked=["demo"]))
builtins.__import__ = original
end = rss()
print(f"interpreter alone: {start:.1f} MB; after importing what vigie run imports: {end:.1f} MB")
shown = 0.0
for top, mb in sorted(own.items(), key=lambda kv: -kv[1]):
    if mb >= 0.5:
        print(f"  {top:28} {mb:6.1f} MB")
        shown += mb
print(f"  {'(smaller packages, plugin modules)':28} {end - start - shown:6.1f} MB")
"""


def profile_imports() -> None:
    """Print which packages the memory of an idle ``vigie run`` goes to (its imports)."""
    subprocess.run([sys.executable, "-c", IMPORT_PROFILE], check=True, env=child_env())


def main() -> int:
    """Measure every size ``--runs`` times; print medians [min–max] against the targets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, nargs="+", default=[0, 10_000, 100_000],
                        help="sizes to measure (0: idle)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-blackbox", action="store_true")
    parser.add_argument("--imports", action="store_true",
                        help="only print the memory each imported package takes (the idle "
                             "profile) and exit")
    args = parser.parse_args()
    if args.imports:
        profile_imports()
        return 0
    if not VIGIE.exists():
        raise SystemExit(f"{VIGIE} is missing: install Vigie in this virtualenv (make install)")

    from bench.targets import nginx_process

    print(describe_machine())
    rows: list[tuple[int, list[dict], list[dict]]] = []
    first_starts: list[float] = []
    with nginx_process() as (url, nginx_pid), \
            tempfile.TemporaryDirectory(prefix="vigie-bench-memory-") as tmp:
        for checks in args.checks:
            results, loads = [], []
            for run in range(args.runs):
                folder = Path(tmp) / f"{checks}-{run}"
                folder.mkdir()
                if checks == 0:
                    first = measure_vigie(folder / "first", url, 0, first_start=True)
                    first_starts.append(first["rss_mb"])
                    shutil.rmtree(folder / "first", ignore_errors=True)
                load = MachineLoad().start()
                load.track(nginx_pid)
                results.append(measure_vigie(folder, url, checks))
                loads.append(load.stop())
                shutil.rmtree(folder, ignore_errors=True)
                progress(f"{checks} checks, run {run + 1}/{args.runs}: {results[-1]}")
            rows.append((checks, results, loads))
        blackbox = None if args.no_blackbox else measure_blackbox()
    missed = False
    print(f"vigie run RSS, {args.runs} runs per size (median [min–max])")
    for checks, results, _ in rows:
        rss = spread(r["rss_mb"] for r in results)
        target = TARGETS.get(checks)
        verdict = ""
        if target is not None:
            ok = rss.median < target if checks != 10_000 else rss.median <= target
            missed |= not ok
            verdict = f"  target {'<' if checks != 10_000 else '<='} {target:.0f} MB: " \
                      f"{'met' if ok else 'MISSED'}"
        if checks == 0:
            print(f"  idle (restart)          {rss.fmt(1, 'MB')}{verdict}")
            print(f"  idle (first start, creating the database: Alembic loaded) "
                  f"{spread(first_starts).fmt(1, 'MB')}")
        else:
            print(f"  {checks:>7,} checks         {rss.fmt(1, 'MB')}{verdict}; "
                  f"after a /metrics scrape {spread(r['rss_after_scrape_mb'] for r in results).fmt(1)} MB; "
                  f"ready in {spread(r['ready_s'] for r in results).fmt(1)} s, first cycle "
                  f"{spread(r['cycle_s'] for r in results).fmt(1)} s")
    if blackbox is not None:
        print(f"  blackbox_exporter idle  {blackbox:.1f} MB (reference)")
    print(load_note([l for _, _, loads in rows for l in loads]))
    return 1 if missed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
