"""Benchmark: ``/metrics`` render time and size with 1,000, 10,000 and 100,000 checks.

Each size runs in a fresh child process that loads a real configuration of N http checks
(every installed plugin, as ``vigie run`` does), builds the runtime (its registry holds
the core collector, the incident collector and the process collector, as served), gives
every check a realistic last result (status code and response time samples; one check in
fifty down with a reason), then renders ``/metrics`` the way a scrape does: the first
render (empty label cache, as the first scrape after start) and then warm renders
(median of ``--renders``). Nothing runs beside it: the render cost during a busy cycle is
in ``bench/pipeline.py``'s output.

    .venv/bin/python bench/metrics_render.py
    .venv/bin/python bench/metrics_render.py --checks 10000 --runs 5

Target: under 300 ms at 10,000 checks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import (
    MachineLoad,
    Target,
    child_env,
    describe_machine,
    load_note,
    progress,
    spread,
    write_checks_config,
)

TARGET_MS = 300.0
TARGET_AT = 10_000


def _child(config_path: Path, renders: int) -> dict:
    import random

    from monitor.config_loader import load_with_plugins
    from monitor.exposition import render
    from monitor.probe import ProbeResult, Status, reason
    from monitor.runtime import Runtime

    pm, registry, config = load_with_plugins(config_path)
    runtime = Runtime(config, pm, registry)
    rng = random.Random(8)
    now = time.time()
    refused = reason("connection.refused", "Connexion refusée", "Connection refused")
    for index, check in enumerate(config.checks):
        if index % 50 == 49:
            result = ProbeResult(Status.DOWN, refused)
        else:
            result = ProbeResult(Status.UP, None, {"http_status_code": 200,
                                                   "http_response_seconds": rng.uniform(0.0005, 0.2)})
        result.started_at, result.duration = now - rng.uniform(0, 300), rng.uniform(0.0005, 0.2)
        runtime.state.apply(check.key, result)
    started = time.perf_counter()
    body = render(runtime.metrics_registry)
    first = time.perf_counter() - started
    warm = []
    for _ in range(renders):
        started = time.perf_counter()
        render(runtime.metrics_registry)
        warm.append(time.perf_counter() - started)
    runtime.store.dispose()
    return {"first_ms": first * 1000, "warm_ms": sorted(warm)[len(warm) // 2] * 1000,
            "bytes": len(body), "series": body.count(b"\n") - body.count(b"\n#")}


def run_once(checks: int, renders: int, folder: Path) -> dict:
    """One child process measuring ``checks``."""
    config = folder / "vigie.yaml"
    write_checks_config(config, [Target("http://127.0.0.1:9/ok.html")], checks)
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                          str(config), "--renders", str(renders)],
                         capture_output=True, text=True, env=child_env(), cwd=folder, timeout=900,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"metrics child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Measure every size ``--runs`` times; print medians [min–max]."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3, help="child processes per size")
    parser.add_argument("--renders", type=int, default=5, help="warm renders per child")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from monitor.loop import run

        async def measure() -> dict:  # inside a loop, as in vigie run
            return _child(Path(args.child), args.renders)

        print(json.dumps(run(measure())))
        return 0
    print(describe_machine())
    rows = []
    missed = False
    with tempfile.TemporaryDirectory(prefix="vigie-bench-metrics-") as tmp:
        for checks in args.checks:
            results, loads = [], []
            for run in range(args.runs):
                load = MachineLoad().start()
                results.append(run_once(checks, args.renders, Path(tmp) / f"{checks}-{run}"))
                loads.append(load.stop())
                progress(f"{checks} checks, run {run + 1}/{args.runs}: {results[-1]}")
            rows.append((checks, results, loads))
    print(f"/metrics render, {args.renders} warm renders per run, {args.runs} runs per size "
          "(median [min–max])")
    print(f"{'checks':>8} {'first render ms':>24} {'warm render ms':>24} {'size':>10} {'series':>9}")
    for checks, results, _loads in rows:
        warm = spread(r["warm_ms"] for r in results)
        verdict = ""
        if checks == TARGET_AT:
            ok = warm.median < TARGET_MS
            missed |= not ok
            verdict = f"  target < {TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'}"
        size = results[0]["bytes"]
        print(f"{checks:>8,} {spread(r['first_ms'] for r in results).fmt(0):>24} "
              f"{warm.fmt(0):>24} {size / 2**20:>8.1f} MB {results[0]['series']:>9,}{verdict}")
    print(load_note([l for _, _, loads in rows for l in loads]))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
