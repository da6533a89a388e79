"""Benchmark: the status page under load, at 16, 64 and 256 connections.

Uses the dashboard's own benchmark (``bench/dashboard.py``, kept by the dashboard's
authors) for the set-up: 100 services with 90 days of history in SQLite, the dashboard
served the production way (``vigie dashboard``'s listener, :func:`monitor.web.serve`, in
its own process; ``--server waitress`` serves it with waitress as before, to compare).
This runner drives it with wrk (Debian) against ``/`` (uncompressed, as wrk asks, and
gzip, as browsers ask) and ``/api/v1/summary.json`` at each concurrency level, ``--runs``
times each (the levels alternate within a run), and prints requests/s and the latency
percentiles as medians [min–max].

    .venv/bin/python bench/status_page.py
    .venv/bin/python bench/status_page.py --connections 64 --runs 5 --duration 10

Target: at least 2,000 requests/s with a p99 under 50 ms at 64 connections.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import dashboard
from bench.common import (
    MachineLoad,
    child_env,
    describe_machine,
    load_note,
    progress,
    spread,
)

TARGET_RPS, TARGET_P99_MS, TARGET_AT = dashboard.AIM_RPS, dashboard.AIM_P99_MS, 64
#: (label, path, extra headers): the overview as wrk asks for it (uncompressed), as
#: browsers ask for it (gzip), and the JSON summary
PATHS = (("/", "/", []), ("/ (gzip)", "/", ["Accept-Encoding: gzip"]),
         ("/api/v1/summary.json", "/api/v1/summary.json", []))


def main() -> int:
    """Seed, serve, run wrk at each level, print medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8, help="worker threads")
    parser.add_argument("--server", choices=("vigie", "waitress"), default="vigie",
                        help="the listener of vigie dashboard, or waitress (as before)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    print(describe_machine())
    folder = Path(tempfile.mkdtemp(prefix="vigie-bench-status-"))
    started = time.perf_counter()
    config = dashboard.prepare(folder, args.services)
    progress(f"seeded {args.services} services and 90 days in {time.perf_counter() - started:.0f} s")
    port = dashboard.free_port()
    server = subprocess.Popen(
        [sys.executable, str(Path(dashboard.__file__).resolve()), "--serve", str(config),
         str(port), "--threads", str(args.threads), "--server", args.server], env=child_env())
    results: dict[tuple[str, int], list[dict]] = {}
    loads = []
    try:
        base = f"http://127.0.0.1:{port}"
        dashboard.wait_until_up(base + "/healthz")
        sizes = {}
        for label, path, headers in PATHS:
            request = urllib.request.Request(base + path, headers=dict(
                h.split(": ", 1) for h in headers))
            with urllib.request.urlopen(request) as response:  # also warms caches
                sizes[label] = len(response.read())
        for run in range(args.runs):
            for level in args.connections:
                for label, path, headers in PATHS:
                    load = MachineLoad().start()
                    load.track(server.pid)
                    result = dashboard.wrk(base + path, args.duration, level, headers)
                    result["load"] = load.stop()
                    loads.append(result["load"])
                    results.setdefault((label, level), []).append(result)
                    progress(f"run {run + 1}/{args.runs} c={level} {label}: "
                             f"{result['rps']:.0f} req/s p99 {result['p99']:.1f} ms")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"status page: {args.services} services, 90 days of history, {args.server} "
          f"{args.threads} threads; wrk {args.duration} s per run, {args.runs} runs "
          "(median [min–max])")
    print(f"{'path':<22} {'conns':>5} {'requests/s':>22} {'p50 ms':>18} {'p99 ms':>20}")
    missed = False
    for path, _, _ in PATHS:
        for level in args.connections:
            rs = results[(path, level)]
            rps, p50, p99 = (spread(r[k] for r in rs) for k in ("rps", "p50", "p99"))
            errors = sum(r["non2xx"] for r in rs)
            verdict = ""
            if level == TARGET_AT:
                ok = rps.median >= TARGET_RPS and p99.median < TARGET_P99_MS and not errors
                missed |= not ok
                verdict = f"  target >= {TARGET_RPS} req/s, p99 < {TARGET_P99_MS:.0f} ms: " \
                          f"{'met' if ok else 'MISSED'}"
            print(f"{path:<22} {level:>5} {rps.fmt(0):>22} {p50.fmt(1):>18} {p99.fmt(1):>20}"
                  f"{verdict}{f'  ({errors} errors)' if errors else ''}")
    print(f"page sizes: {', '.join(f'{p} {n / 1024:.0f} KiB' for p, n in sizes.items())}")
    print(load_note(loads) + " (wrk and the dashboard's process counted as ours)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
