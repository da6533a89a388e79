"""Benchmark: the whole pipeline on N HTTP checks against a local nginx.

Measures, for Vigie's full pipeline (probe, runner, state machine, batched SQLite write,
one /metrics render): checks per second, CPU microseconds per check (every thread of the
Vigie process; nginx runs in its own process and is not counted), and RSS with N checks
configured. Each run is a fresh child process; the parent prints the median, min and max.

    .venv/bin/python bench/pipeline.py                 # 10,000 checks, 3 runs
    .venv/bin/python bench/pipeline.py --checks 2000 --runs 5 --concurrency 128

Only 127.0.0.1 is probed. Targets: >= 2,500 checks/s, <= 400 µs CPU per check, RSS <= 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def write_config(path: Path, url: str, checks: int, concurrency: int, per_service: int = 100) -> None:
    """A configuration of ``checks`` http checks, ``per_service`` per service."""
    lines = [
        "data_dir: data",
        "scheduler: {concurrency: %d, spread_first_runs: false}" % concurrency,
        "store: {batch_size: 1000, flush_interval: 0.5s}",
        "server: {listen: '127.0.0.1:0'}",
        "defaults: {interval: 1h, timeout: 10s}",
        "plugins: {blocked: [demo]}",
        "services:",
    ]
    for s in range((checks + per_service - 1) // per_service):
        lines.append(f"  - id: svc{s}\n    name: Service {s}\n    checks:")
        for c in range(min(per_service, checks - s * per_service)):
            lines.append(f"      - {{id: c{c}, kind: http, url: '{url}/ok.html?{s}-{c}'}}")
    path.write_text("\n".join(lines) + "\n")


async def _child(config_path: Path, checks: int) -> dict:
    import psutil

    from monitor.config_loader import load_config
    from monitor.metrics import render
    from monitor.plugins import ProbeRegistry, build_plugin_manager
    from monitor.runtime import Runtime

    process = psutil.Process()
    pm = build_plugin_manager(blocked=["demo"])
    registry = ProbeRegistry.from_plugin_manager(pm)
    config = load_config(config_path, registry)
    runtime = Runtime(config, pm, registry)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    await ready.wait()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while runtime.scheduler_stats.cycles < 1:
        await asyncio.sleep(0.005)
    wall_cycle = time.perf_counter() - wall0
    metrics_t0 = time.perf_counter()
    body = render(runtime.metrics_registry)
    metrics_seconds = time.perf_counter() - metrics_t0
    while runtime.writer_stats.written < checks:
        await asyncio.sleep(0.01)
    cpu = time.process_time() - cpu0
    rss = process.memory_info().rss
    statuses = dict(runtime.scheduler_stats.runs)
    stop.set()
    await task
    return {
        "checks_per_s": checks / wall_cycle,
        "cpu_us_per_check": cpu / checks * 1e6,
        "rss_mb": rss / 2**20,
        "metrics_ms": metrics_seconds * 1000,
        "metrics_bytes": len(body),
        "runs": {f"{k[0]}:{k[1]}": v for k, v in statuses.items()},
    }


def child_main(args: argparse.Namespace) -> None:
    """Run one measurement and print it as JSON on stdout."""
    from monitor.loop import run

    result = run(_child(Path(args.config), args.checks))
    print(json.dumps(result))


def parent_main(args: argparse.Namespace) -> None:
    """Start nginx, run the child ``--runs`` times, print medians with min and max."""
    from targets import nginx

    results = []
    with nginx(workers=1) as url, tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        for run in range(args.runs):
            config = Path(tmp) / f"run{run}" / "vigie.yaml"
            config.parent.mkdir()
            write_config(config, url, args.checks, args.concurrency)
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--config", str(config),
                 "--checks", str(args.checks)],
                capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                sys.exit(f"run {run} failed:\n{out.stderr[-3000:]}")
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"run {run + 1}/{args.runs}: {json.dumps(results[-1])}", file=sys.stderr)
    print(f"pipeline: {args.checks} http checks, concurrency {args.concurrency}, "
          f"{args.runs} runs (median [min-max])")
    for key, unit, target in (("checks_per_s", "checks/s", ">= 2500"),
                              ("cpu_us_per_check", "µs CPU/check", "<= 400"),
                              ("rss_mb", "MB RSS", "<= 150"),
                              ("metrics_ms", "ms /metrics render", "")):
        values = [r[key] for r in results]
        print(f"  {key:18} {statistics.median(values):10.1f} [{min(values):.1f}-{max(values):.1f}]"
              f" {unit}  {('target ' + target) if target else ''}")
    print(f"  runs by status (last run): {results[-1]['runs']}")


def main() -> None:
    """Parse arguments; run as parent (default) or as a measured child."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    child_main(args) if args.child else parent_main(args)


if __name__ == "__main__":
    main()
