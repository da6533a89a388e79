"""Benchmark: the whole pipeline on N HTTP checks against a local nginx.

Measures, for Vigie's full pipeline (probe, runner, state machine, batched SQLite write,
one /metrics render): checks per second, CPU microseconds per check (every thread of the
Vigie process; nginx runs in its own process and is not counted), and RSS with N checks
configured. Each run is a fresh child process (``vigie run``'s own start-up: every
installed plugin but the demo, the real configuration loader, the runtime, uvloop) on a
database created beforehand by another process (as after a first start, or ``vigie db
upgrade``); the parent prints the median, min and max.

    .venv/bin/python bench/pipeline.py                 # 10,000 checks, 3 runs
    .venv/bin/python bench/pipeline.py --checks 2000 --runs 5 --concurrency 128

Only 127.0.0.1 is probed. Targets (issue 2): >= 2,500 checks/s, <= 400 µs CPU per check,
RSS <= 150 MB with 10,000 checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    # the repository root, not bench/ (bench/dashboard.py would shadow the dashboard package)
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

#: issue 2's targets for 10,000 checks
TARGETS = {"checks_per_s": (">=", 2500), "cpu_us_per_check": ("<=", 400), "rss_mb": ("<=", 150)}


def write_config(path: Path, url: str, checks: int, concurrency: int, per_service: int = 100) -> None:
    """A configuration of ``checks`` http checks to ``url``/ok.html, ``per_service`` per service."""
    write_checks_config(path, [Target(f"{url}/ok.html")], checks, concurrency=concurrency,
                        per_service=per_service)


async def _child(config_path: Path, checks: int) -> dict:
    import threading

    import psutil

    from monitor.config_loader import load_with_plugins
    from monitor.exposition import render
    from monitor.runtime import Runtime

    process = psutil.Process()
    load0 = time.perf_counter()
    pm, registry, config = load_with_plugins(config_path)
    load_seconds = time.perf_counter() - load0
    runtime = Runtime(config, pm, registry)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    await ready.wait()
    startup_seconds = time.perf_counter() - load0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    loop_cpu0 = time.thread_time()  # this thread runs the event loop
    while runtime.scheduler_stats.cycles < 1:
        await asyncio.sleep(0.005)
    wall_cycle = time.perf_counter() - wall0
    metrics_t0 = time.perf_counter()
    body = render(runtime.metrics_registry)
    metrics_seconds = time.perf_counter() - metrics_t0
    while runtime.writer_stats.written < checks:
        await asyncio.sleep(0.01)
    cpu = time.process_time() - cpu0
    loop_cpu = time.thread_time() - loop_cpu0
    rss = process.memory_info().rss
    threads = {t.native_id: t.name for t in threading.enumerate()}
    by_thread = {threads.get(t.id, "other"): (t.user_time + t.system_time)
                 for t in process.threads()}
    statuses = dict(runtime.scheduler_stats.runs)
    stop.set()
    await task
    return {
        "checks_per_s": checks / wall_cycle,
        "cpu_us_per_check": cpu / checks * 1e6,
        "rss_mb": rss / 2**20,
        "metrics_ms": metrics_seconds * 1000,
        "metrics_bytes": len(body),
        "load_s": load_seconds,
        "startup_s": startup_seconds,
        "cpu_s": cpu,
        # CPU of the event loop's thread during the cycle, the rest being the writer,
        # the web server and worker threads (cumulative since start, for reference)
        "loop_cpu_us_per_check": loop_cpu / checks * 1e6,
        "writer_thread_cpu_s": by_thread.get("vigie-store-writer", 0.0),
        "runs": {f"{k[0]}:{k[1]}": v for k, v in statuses.items()},
    }


def child_main(args: argparse.Namespace) -> None:
    """Run one measurement and print it as JSON on stdout."""
    from monitor.loop import run

    result = run(_child(Path(args.config), args.checks))
    print(json.dumps(result))


def run_once(url: str, checks: int, concurrency: int, folder: Path,
             load: MachineLoad | None = None) -> dict:
    """One measured child run against ``url`` (nginx's base URL); its JSON result.

    ``load``, when given, is stopped when the child has exited (its CPU counts as ours).
    """
    config = folder / "vigie.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    write_config(config, url, checks, concurrency)
    migrate_in_subprocess(f"sqlite:///{folder / 'data' / 'vigie.sqlite'}")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", "--config", str(config),
         "--checks", str(checks)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=folder)
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise SystemExit("pipeline child took more than 600 s") from None
    if proc.returncode != 0:
        raise SystemExit(f"pipeline child failed:\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    if load is not None:
        result["load"] = load.stop()
    return result


def report(results: list[dict], checks: int, concurrency: int) -> bool:
    """Print medians [min–max] against issue 2's targets; True when all are met."""
    all_met = True
    print(f"pipeline: {checks:,} http checks, concurrency {concurrency}, "
          f"{len(results)} runs (median [min–max])")
    for key, unit, digits in (("checks_per_s", "checks/s", 0),
                              ("cpu_us_per_check", "µs CPU/check", 0),
                              ("loop_cpu_us_per_check", "µs CPU/check in the event loop", 0),
                              ("rss_mb", "MB RSS", 1),
                              ("metrics_ms", "ms /metrics render (during the run)", 0),
                              ("load_s", "s to load the configuration", 1)):
        s = spread(r[key] for r in results)
        target = TARGETS.get(key)
        verdict = ""
        if target and checks == 10_000:
            op, value = target
            met = s.median >= value if op == ">=" else s.median <= value
            all_met &= met
            verdict = f"  target {op} {value:,}: {'met' if met else 'MISSED'}"
        print(f"  {key:18} {s.fmt(digits, unit)}{verdict}")
    print(f"  runs by status (last run): {results[-1]['runs']}")
    print(f"  {load_note([r['load'] for r in results if 'load' in r])}")
    return all_met


def parent_main(args: argparse.Namespace) -> int:
    """Start nginx, run the child ``--runs`` times, print medians with min and max."""
    from bench.targets import nginx_process

    print(describe_machine())
    results = []
    with nginx_process(workers=1) as (url, nginx_pid), \
            tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        for run in range(args.runs):
            load = MachineLoad().start()
            load.track(nginx_pid)
            results.append(run_once(url, args.checks, args.concurrency,
                                    Path(tmp) / f"run{run}", load))
            progress(f"run {run + 1}/{args.runs}: {json.dumps(results[-1])}")
    return 0 if report(results, args.checks, args.concurrency) else 1


def main() -> int:
    """Parse arguments; run as parent (default) or as a measured child."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return 0
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
