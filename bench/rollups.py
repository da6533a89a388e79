"""Benchmark: one daily-rollup pass over a full day of results, SQLite and PostgreSQL.

Seeds N checks (10 per service) × a day of results (288 per check by default: a run every
5 minutes; 96 % up, 1 % degraded, 2 % down, 0.5 % unknown, 0.5 % maintenance; no reasons
or samples, which the rollups do not read) into a SQLite file in a temporary folder and
into a dedicated schema of the local PostgreSQL ``test`` database (dropped afterwards).
Then, for each engine and implementation, a fresh child process runs one rollup pass of
that closed day: wall time, CPU time of the Python process (SQLite works inside it;
PostgreSQL's work is in the server and shows in the wall time only), the RSS the pass
added at its peak (``ru_maxrss`` minus the RSS before the pass), then the same pass again
under tracemalloc for the peak of Python allocations. ``new`` is ``monitor.store.rollups``
as it is; ``old`` is the implementation that read every result into Python, taken from git
(commit 73b2d29). For the new implementation, also timed: its next pass on the same day,
once final (skipped), and a pass without the latency percentiles (what each pass over
today costs between two hourly latency refreshes).

    .venv/bin/python bench/rollups.py                      # 10,000 checks, about 6 min
    .venv/bin/python bench/rollups.py --checks 100000 --impl new --engines postgresql

Bounded: ``--runs`` timed passes per engine and implementation (plus one traced), every
child has a time limit, the temporary folder and the PostgreSQL schema are removed at the
end, also on errors. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import (
    MachineLoad,
    child_env,
    describe_machine,
    load_note,
    migrate_in_subprocess,
    progress,
    spread,
    timed,
)

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TZ = "Europe/Paris"
DAY = date(2026, 11, 2)
#: the commit whose monitor/store/rollups.py read every result into Python
OLD_COMMIT = "73b2d29"
CHECKS_PER_SERVICE = 10
CHILD_TIMEOUT = 3600


def _results(check_ids: range, per_day: int, low: float, seed: int):
    """Rows ``(check_id, started_at, status, duration, reason_public)`` of one day."""
    rng = random.Random(seed)
    step = 86400 / per_day
    for check_id in check_ids:
        offset = (check_id * 7.3) % step
        for i in range(per_day):
            roll = rng.random()
            status = (0 if roll < 0.96 else 1 if roll < 0.97 else 2 if roll < 0.99
                      else 3 if roll < 0.995 else 4)
            duration = 10.0 if status == 2 else rng.lognormvariate(-3.0, 0.8)
            yield check_id, low + offset + i * step, status, duration, True


def seed(url: str, checks: int, per_day: int) -> None:
    """Schema, catalog and one day of results at ``url``."""
    import sqlalchemy as sa

    from monitor.store.engine import make_engine
    from monitor.store.rollups import day_bounds
    from zoneinfo import ZoneInfo

    migrate_in_subprocess(url)
    engine = make_engine(url)
    services = (checks + CHECKS_PER_SERVICE - 1) // CHECKS_PER_SERVICE
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO services (id, name_fr, position, active) VALUES (:id, :id, :p, true)"),
            [{"id": f"s{s:06d}", "p": s} for s in range(services)])
        conn.execute(sa.text(
            "INSERT INTO checks (id, key, service_id, check_id, kind, name_fr, position, "
            "run_interval, active) VALUES (:id, :key, :sid, 'http', 'http', 'http', 0, 300, "
            "true)"),
            [{"id": c + 1, "key": f"s{c // CHECKS_PER_SERVICE:06d}/c{c}",
              "sid": f"s{c // CHECKS_PER_SERVICE:06d}"} for c in range(checks)])
    low, _ = day_bounds(DAY, ZoneInfo(TZ))
    columns = "check_id, started_at, status, duration, reason_public"
    chunk = 500
    for first in range(1, checks + 1, chunk):
        rows = _results(range(first, min(first + chunk, checks + 1)), per_day, low, first)
        raw = engine.raw_connection()
        try:
            if engine.dialect.name == "postgresql":
                with raw.cursor() as cursor, cursor.copy(
                        f"COPY results ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor = raw.cursor()
                cursor.execute("BEGIN")
                cursor.executemany(f"INSERT INTO results ({columns}) VALUES (?, ?, ?, ?, ?)",
                                   rows)
                cursor.execute("COMMIT")
            raw.commit()
        finally:
            raw.close()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE results"))
    engine.dispose()


def _rss() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _old_module():
    import types

    source = subprocess.run(["git", "show", f"{OLD_COMMIT}:monitor/store/rollups.py"],
                            capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout
    module = types.ModuleType("old_rollups")
    sys.modules["old_rollups"] = module  # dataclasses look their module up there
    exec(compile(source, "old_rollups.py", "exec"), module.__dict__)
    return module


def child(impl: str, url: str, traced: bool) -> dict:
    """One pass of ``impl`` on the seeded day, measured in this process."""
    import tracemalloc
    from zoneinfo import ZoneInfo

    from monitor.store import Store
    from monitor.store import rollups as new
    from monitor.store.rollup_ledger import SETTLE
    from monitor.store.rollups import day_bounds

    store = Store(url)
    _, high = day_bounds(DAY, ZoneInfo(TZ))
    now = high + SETTLE + 1
    module = _old_module() if impl == "old" else new
    with store.engine.connect() as conn:  # connect (and load the dialect) before measuring
        conn.exec_driver_sql("SELECT 1")
    rss0, cpu0, wall0 = _rss(), time.process_time(), time.perf_counter()
    if traced:
        tracemalloc.start()
    if impl == "old":
        written = module.compute_rollups(store.engine, DAY, DAY, TZ, now)
    else:
        written = module.compute_rollups(store.engine, DAY, DAY, TZ, now, store.rollup_ledger)
    out = {"wall": time.perf_counter() - wall0, "cpu": time.process_time() - cpu0,
           "written": written}
    if traced:
        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    else:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["rss_added_mb"] = max(0.0, maxrss - rss0)
    if impl == "new":
        started = time.perf_counter()
        again = new.compute_rollups(store.engine, DAY, DAY, TZ, now, store.rollup_ledger)
        out["final_pass_s"] = time.perf_counter() - started
        out["final_written"] = again
        # what a pass over today costs between two hourly latency refreshes
        low, _ = day_bounds(DAY, ZoneInfo(TZ))
        cpu, started = time.process_time(), time.perf_counter()
        new._rollup_day(store.engine, DAY, low, high, latency=False)
        out["counts_only_s"] = time.perf_counter() - started
        out["counts_only_cpu"] = time.process_time() - cpu
    store.dispose()
    return out


def run_child(impl: str, url: str, traced: bool) -> dict:
    """A fresh process measuring one pass."""
    args = [sys.executable, str(Path(__file__).resolve()), "--child", impl, url]
    if traced:
        args.append("--traced")
    done = subprocess.run(args, capture_output=True, text=True, env=child_env(),
                          timeout=CHILD_TIMEOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"rollup child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _postgres_schema():
    import sqlalchemy as sa

    schema = f"bench_rollups_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    return engine, schema, f"{POSTGRES}?options=-csearch_path%3D{schema}"


def main() -> int:
    """Seed, measure, print a table; clean up."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Seeding 10,000 checks takes about 20 s per engine; 100,000 about ten minutes "
               "on SQLite (2.3 GB of disk) and five on PostgreSQL.")
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--per-day", type=int, default=288, help="results per check and day")
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--impl", nargs="+", default=["old", "new"], choices=["old", "new"])
    parser.add_argument("--runs", type=int, default=3,
                        help="timed passes per engine and implementation (one traced more)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.traced)))
        return 0
    print(describe_machine())
    rows, loads = [], []
    with tempfile.TemporaryDirectory(prefix="vigie-bench-rollups-") as tmp:
        for engine_name in args.engines:
            pg = None
            try:
                if engine_name == "postgresql":
                    pg = _postgres_schema()
                    url = pg[2]
                else:
                    url = f"sqlite:///{Path(tmp) / 'vigie.sqlite'}"
                with timed(f"seeding {args.checks:,} checks × {args.per_day} on {engine_name}"):
                    seed(url, args.checks, args.per_day)
                for impl in args.impl:
                    results = []
                    for run in range(args.runs):
                        load = MachineLoad().start()
                        results.append(run_child(impl, url, traced=False))
                        loads.append(load.stop())
                        progress(f"{engine_name} {impl} run {run + 1}: {results[-1]}")
                    traced = run_child(impl, url, traced=True)
                    progress(f"{engine_name} {impl} traced: {traced}")
                    rows.append((engine_name, impl, results, traced))
            finally:
                if pg is not None:
                    import sqlalchemy as sa

                    with pg[0].begin() as conn:
                        conn.execute(sa.text(f'DROP SCHEMA "{pg[1]}" CASCADE'))
                    pg[0].dispose()
    print(f"one rollup pass over a closed day: {args.checks:,} checks × {args.per_day} "
          f"results ({args.checks * args.per_day:,} rows), {args.runs} runs (median [min–max])")
    print(f"{'engine':<11} {'impl':<4} {'wall s':>20} {'process CPU s':>20} "
          f"{'RSS added MB':>20} {'traced peak MB':>15} {'next pass s':>12} "
          f"{'counts-only pass s':>20}")
    for engine_name, impl, results, traced in rows:
        final = (spread(r["final_pass_s"] for r in results).fmt(3)
                 if impl == "new" else "—")
        counts = (spread(r["counts_only_s"] for r in results).fmt(2)
                  if impl == "new" else "—")
        print(f"{engine_name:<11} {impl:<4} {spread(r['wall'] for r in results).fmt(2):>20} "
              f"{spread(r['cpu'] for r in results).fmt(2):>20} "
              f"{spread(r['rss_added_mb'] for r in results).fmt(1):>20} "
              f"{traced['traced_peak_mb']:>15.1f} {final:>12} {counts:>20}")
    print(load_note(loads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
