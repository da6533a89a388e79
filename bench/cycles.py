"""Benchmark: large cycles, 100,000 HTTP checks every 300 s, on SQLite and on PostgreSQL.

The checks go to local targets: 96 % to a local nginx, 2 % to a server that accepts and
never answers (each of those runs into its 10 s deadline, then is re-checked 30 s later
before being confirmed down), 2 % to a port that refuses connections; the failing checks
fill whole services (as when a host is down: 40 services of 100 checks in major outage),
or with ``--failures spread`` one check in 25 of every service fails (every service in
partial outage, one incident each). Vigie runs as
``vigie run`` does (every installed plugin but the demo, uvloop, first runs spread over
the interval, 256 workers, results written in batches by the writer thread), in a child
process measured from the moment it is ready, for ``--duration`` seconds, while the parent
scrapes its ``/metrics`` every ``--scrape-every`` seconds like Prometheus. Reported:

- whether every check ran within its interval (cycles completed, their duration, the
  largest scheduling lag) and the scheduling lag p50/p99 over every run;
- average CPU of the Vigie process (all threads) in % of one core, peak and final RSS;
- database growth per day: bytes per stored result times results per day at this rate;
- /metrics scrape time seen by the scraper.

The database is migrated beforehand by a separate process (as ``vigie db upgrade`` does in
a deployment), PostgreSQL in a dedicated schema of the local ``test`` database, dropped
afterwards.

    .venv/bin/python bench/cycles.py                  # 100,000 checks, 330 s per engine
    .venv/bin/python bench/cycles.py --quick          # 10,000 checks every 30 s, 40 s each
    .venv/bin/python bench/cycles.py --engines sqlite --duration 930   # three cycles

Targets: every cycle inside its interval, lag p99 under 5 s, average CPU under 50 % of one
core, RSS under 300 MB (100,000 checks every 300 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
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

POSTGRES = os.environ.get("VIGIE_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGET_LAG_P99 = 5.0
TARGET_CPU = 50.0
TARGET_RSS = 300.0


# The measured child ---------------------------------------------------------------------


def _lag_stats_class():
    """A SchedulerStats that also keeps every lag (8 bytes each, counted in the RSS)."""
    from array import array

    from monitor.stats import SchedulerStats

    class AllLags(SchedulerStats):
        __slots__ = ("all_lags",)

        def __init__(self) -> None:
            super().__init__()
            self.all_lags = array("d")

        def record_lag(self, lag: float) -> None:
            super().record_lag(lag)
            self.all_lags.append(lag)

    return AllLags


def _db_size(store) -> int:
    """Bytes the database holds now (SQLite: pages in use; PostgreSQL: the schema's tables
    with their indexes and TOAST)."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            pages = conn.execute(text("PRAGMA page_count")).scalar()
            free = conn.execute(text("PRAGMA freelist_count")).scalar()
            size = conn.execute(text("PRAGMA page_size")).scalar()
            return (pages - free) * size
        return int(conn.execute(text(
            "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r'")).scalar())


async def _child(config_path: Path, duration: float) -> dict:
    import psutil

    from monitor.config_loader import load_with_plugins
    from monitor.runtime import Runtime

    process = psutil.Process()
    t0 = time.perf_counter()
    pm, registry, config = load_with_plugins(config_path)
    load_seconds = time.perf_counter() - t0
    runtime = Runtime(config, pm, registry)
    runtime.scheduler_stats = stats = _lag_stats_class()()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    await ready.wait()
    startup_seconds = time.perf_counter() - t0
    size0, written0 = await asyncio.to_thread(_db_size, runtime.store), runtime.writer_stats.written
    print(json.dumps({"event": "ready", "port": runtime.web.port}), flush=True)
    wall0, cpu0 = time.monotonic(), sum(process.cpu_times()[:2])
    rss_peak, cycles, cpu_samples = 0, [], []
    last_cpu, last_t = cpu0, wall0
    while time.monotonic() - wall0 < duration:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        rss_peak = max(rss_peak, process.memory_info().rss)
        if stats.cycles > len(cycles):
            cycles.append(stats.last_cycle_duration)
        if os.environ.get("VIGIE_BENCH_TRACE"):
            print(f"t={now - wall0:.0f}s rss={process.memory_info().rss / 2**20:.0f}MB "
                  f"runs={sum(stats.runs.values())} buffered={runtime.writer_stats.buffered}",
                  file=sys.stderr, flush=True)
        cpu = sum(process.cpu_times()[:2])
        cpu_samples.append((cpu - last_cpu) / max(1e-9, now - last_t))
        last_cpu, last_t = cpu, now
    wall, cpu = time.monotonic() - wall0, sum(process.cpu_times()[:2]) - cpu0
    rss_end = process.memory_info().rss
    # let the writer catch up, then measure what the window's results take
    await asyncio.sleep(min(5.0, runtime.config.file.store.flush_interval * 2 + 1))
    size1, written1 = await asyncio.to_thread(_db_size, runtime.store), runtime.writer_stats.written
    lags = sorted(stats.all_lags)
    runs = dict(stats.runs)
    checks = len(config.checks)
    stop.set()
    await task

    def q(p: float) -> float:
        return lags[min(len(lags) - 1, int(p * len(lags)))] if lags else float("nan")

    return {
        "checks": checks, "load_s": load_seconds, "startup_s": startup_seconds,
        "wall_s": wall, "cpu_percent": cpu / wall * 100, "cpu_s": cpu,
        "cpu_percent_max_1s": max(cpu_samples, default=0.0) * 100,
        "rss_mb_peak": max(rss_peak, rss_end) / 2**20, "rss_mb_end": rss_end / 2**20,
        "lag_p50": q(0.50), "lag_p99": q(0.99), "lag_max": lags[-1] if lags else float("nan"),
        "runs": sum(runs.values()), "runs_by_status": {f"{k}:{s}": n for (k, s), n in runs.items()},
        "cycles": cycles, "written": written1 - written0, "db_bytes": size1 - size0,
        "db_total_bytes": size1,
    }


def child_main(config: str, duration: float) -> None:
    """Run the measured Vigie and print its figures as the last JSON line."""
    from monitor.loop import run

    result = run(_child(Path(config), duration))
    print(json.dumps({"event": "result", **result}), flush=True)


# The parent -----------------------------------------------------------------------------


class _Scraper(threading.Thread):
    """Fetches /metrics every ``every`` seconds and keeps how long each scrape took."""

    def __init__(self, port: int, every: float) -> None:
        super().__init__(daemon=True)
        self.url, self.every = f"http://127.0.0.1:{port}/metrics", every
        self.times: list[float] = []
        self.sizes: list[int] = []
        self.errors = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as response:
                    self.sizes.append(len(response.read()))
                self.times.append(time.perf_counter() - started)
            except OSError:
                self.errors += 1


def run_engine(engine: str, args: argparse.Namespace, targets: list[Target],
               folder: Path, target_pids: list[int]) -> dict:
    """One measured run on ``engine`` (sqlite or postgresql); the targets' processes
    (``target_pids``) count as ours in the machine's load."""
    schema = None
    if engine == "sqlite":
        url = f"sqlite:///{folder / 'vigie.sqlite'}"
    else:
        import sqlalchemy as sa

        schema = f"vigie_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(POSTGRES)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    try:
        migrate_in_subprocess(url)
        config = folder / "vigie.yaml"
        counts = write_checks_config(
            config, targets, args.checks, interval=f"{args.interval:g}s", timeout="10s",
            concurrency=args.concurrency, spread_first_runs=True, store_url=url,
            batch_size=500, flush_interval="2s", grouped=args.failures == "grouped")
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child",
                                 str(config), "--duration", str(args.duration)],
                                stdout=subprocess.PIPE, text=True, env=child_env(), cwd=folder)
        scraper = None
        result = None
        load = MachineLoad()
        try:
            for line in proc.stdout:  # type: ignore[union-attr]  # stdout=PIPE
                message = json.loads(line) if line.startswith("{") else {}
                if message.get("event") == "ready":
                    load.start()
                    for pid in target_pids:
                        load.track(pid)
                    scraper = _Scraper(message["port"], args.scrape_every)
                    scraper.start()
                elif message.get("event") == "result":
                    result = message
                    # before the child is reaped, so its CPU is counted once (its own figure)
                    result["load"] = load.stop(ours_cpu=result["cpu_s"])
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if scraper is not None:
                scraper.stopping.set()
        if result is None or proc.returncode != 0:
            raise SystemExit(f"{engine}: the measured Vigie failed (exit {proc.returncode})")
        result["scrapes"] = scraper.times if scraper else []
        result["scrape_bytes"] = scraper.sizes[-1] if scraper and scraper.sizes else 0
        result["targets"] = counts
        return result
    finally:
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def report(engine: str, results: list[dict], args: argparse.Namespace) -> bool:
    """Print one engine's figures; True when every target is met."""
    per_day = 86400 / args.interval * args.checks
    print(f"{engine}: {args.checks:,} checks every {args.interval:g} s, {args.duration:g} s "
          f"measured, {len(results)} run(s) (median [min–max])")
    cycles = [c for r in results for c in r["cycles"]]
    lag_max = spread(r["lag_max"] for r in results)
    inside = bool(cycles) and lag_max.high < args.interval
    print(f"  cycles completed: {len(cycles)} (durations {', '.join(f'{c:.0f} s' for c in cycles)}); "
          f"largest lag {lag_max.fmt(2)} s → every check ran within its interval: "
          f"{'yes' if inside else 'NO'}")
    p50, p99 = spread(r["lag_p50"] for r in results), spread(r["lag_p99"] for r in results)
    cpu = spread(r["cpu_percent"] for r in results)
    rss = spread(r["rss_mb_peak"] for r in results)
    ok = {"lag": p99.median < TARGET_LAG_P99, "cpu": cpu.median < TARGET_CPU,
          "rss": rss.median < TARGET_RSS, "cycles": inside}
    print(f"  scheduling lag p50 {p50.fmt(3)} s, p99 {p99.fmt(3)} s "
          f"(target p99 < {TARGET_LAG_P99:g} s: {'met' if ok['lag'] else 'MISSED'})")
    print(f"  CPU {cpu.fmt(1)} % of one core on average "
          f"(busiest second {spread(r['cpu_percent_max_1s'] for r in results).fmt(0)} %; "
          f"target < {TARGET_CPU:g} %: {'met' if ok['cpu'] else 'MISSED'})")
    print(f"  RSS peak {rss.fmt(0)} MB, at the end {spread(r['rss_mb_end'] for r in results).fmt(0)} MB "
          f"(target < {TARGET_RSS:g} MB: {'met' if ok['rss'] else 'MISSED'})")
    per_result = spread(r["db_bytes"] / max(1, r["written"]) for r in results)
    print(f"  database: {per_result.fmt(0)} bytes per result → about "
          f"{per_result.median * per_day / 2**30:.1f} GiB per day at {per_day / 1e6:.1f} M results "
          f"a day; {results[-1]['db_total_bytes'] / 2**20:.0f} MB after the run")
    scrapes = [s for r in results for s in r["scrapes"]]
    if scrapes:
        print(f"  /metrics scrapes: {spread(s * 1000 for s in scrapes).fmt(0)} ms, "
              f"{results[-1]['scrape_bytes'] / 2**20:.1f} MB")
    print(f"  start-up: configuration {spread(r['load_s'] for r in results).fmt(1)} s, "
          f"ready after {spread(r['startup_s'] for r in results).fmt(1)} s; "
          f"runs by status: {results[-1]['runs_by_status']}")
    print(f"  {load_note([r['load'] for r in results])}")
    return all(ok.values())


def main() -> int:
    """Start the targets, run each engine ``--runs`` times, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=100_000)
    parser.add_argument("--interval", type=float, default=300.0)
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds measured per run (default: interval + 30)")
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--scrape-every", type=float, default=30.0)
    parser.add_argument("--failures", choices=["grouped", "spread"], default="grouped",
                        help="failing checks grouped in whole services (default, as when a "
                             "host is down) or spread over every service (every service "
                             "then has an outage and an incident)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 10,000 checks every 30 s, 40 s per engine")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.duration)
        return 0
    if args.quick:
        args.checks, args.interval = 10_000, 30.0
        args.scrape_every = min(args.scrape_every, 10.0)
    if args.duration is None:
        args.duration = args.interval + (10.0 if args.quick else 30.0)

    from bench.targets import hanging_server, nginx_process, refusing_port

    print(describe_machine())
    ok = True
    with nginx_process(workers=1) as (url, nginx_pid), hanging_server() as (hang, hang_pid), \
            refusing_port() as refused, tempfile.TemporaryDirectory(prefix="vigie-bench-cycles-") as tmp:
        targets = [Target(f"{url}/ok.html"), Target(f"{hang}/hang", 0.02),
                   Target(f"{refused}/refused", 0.02)]
        for engine in args.engines:
            results = []
            for run in range(args.runs):
                progress(f"{engine}: run {run + 1}/{args.runs}, {args.checks:,} checks, "
                         f"{args.duration:g} s...")
                results.append(run_engine(engine, args, targets, Path(tmp) / f"{engine}{run}",
                                          [nginx_pid, hang_pid]))
            ok &= report(engine, results, args)
    if not args.quick and args.duration < args.interval:
        print("(shorter than one interval: run with the default --duration for the full figure)")
    if args.quick:
        print("quick run; the full one: .venv/bin/python bench/cycles.py  (about 12 minutes)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
