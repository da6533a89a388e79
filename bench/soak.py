"""Soak benchmark: ten minutes of mixed hostile load against ``vigie run`` with 1,000 checks.

Vigie runs in a child process as ``vigie run`` does (every installed plugin but the demo,
the embedded SQLite store, the status page and the admin area mounted), with 1,000 HTTP
checks against a local nginx and one heartbeat check. After a warm-up, the parent drives,
all at once, for ``--duration`` seconds:

- slow connections: ``--slow`` sockets sending a request head one header every few seconds
  (slowloris), reopened whenever the server closes them;
- stalled bodies: ``--stalled`` ``POST`` requests announcing a 1 MB body, sending 64 KiB of
  it, then nothing, reopened when closed;
- a login flood: ``--logins`` workers posting the admin login form (with its CSRF token)
  as fast as they are answered, the user name changed every five tries;
- heartbeats: ``--beats`` workers calling ``POST /push/<token>``, ``--beat-rate`` a
  second together (a job gone mad in a loop);
- the scrapes being measured: the status page ``/`` every 0.2 s and ``/metrics`` every
  second, each timed from the first byte sent to the last byte read.

Then the load stops and the child is watched for ``--cooldown`` seconds more. Each kind of
client comes from its own loopback addresses (the slow connections from ten, the stalled
bodies from four, the login flood and the heartbeats from one each), the measured scrapes
from 127.0.0.1 as Prometheus would: the per-address connection cap then shows what it is
for, instead of shutting the measuring clients out with the attackers.

Reported, with targets (issue 12):

- ``/metrics`` p99 under 1 s and the status page p99 under 100 ms, during the load;
- every check on schedule: the scheduling lag p99 under 5 s during the load;
- RSS back within 20 % of its baseline (the median of the warm-up's last 20 s) once the
  load stopped (the median of the cool-down's last 10 s).

Also: what the hostile clients got (answers by status, connections closed by Vigie), and
how busy the machine was. The load generator runs in this process and shares the two
cores with Vigie: its CPU is reported too.

    .venv/bin/python bench/soak.py             # 1,000 checks, 10 min of load (about 13 min)
    .venv/bin/python bench/soak.py --quick     # 200 checks, 60 s of load (about 2.5 min)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
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
    write_checks_config,
)

TARGET_METRICS_P99 = 1.0
TARGET_PAGE_P99 = 0.100
TARGET_LAG_P99 = 5.0
TARGET_RSS_RETURN = 0.20
USER = "soak"
#: where each kind of client comes from (all loopback): the measured scrapes from one
#: address, as Prometheus and a member would, the hostile load from others, so the
#: per-address connection cap does not simply shut the measuring clients out
SCRAPER = "127.0.0.1"
SLOW_FROM = [f"127.0.1.{i}" for i in range(1, 11)]
STALLED_FROM = [f"127.0.2.{i}" for i in range(1, 5)]
LOGINS_FROM = "127.0.3.1"
BEATS_FROM = "127.0.4.1"


# The measured child ---------------------------------------------------------------------


async def _child(config_path: Path) -> None:
    """Run Vigie until stdin closes; then print every scheduling lag with its time."""
    from array import array

    from monitor.config_loader import load_with_plugins
    from monitor.runtime import Runtime
    from monitor.stats import SchedulerStats

    class TimedLags(SchedulerStats):
        __slots__ = ("lags", "times")

        def __init__(self) -> None:
            super().__init__()
            self.lags, self.times = array("d"), array("d")

        def record_lag(self, lag: float) -> None:
            super().record_lag(lag)
            self.lags.append(lag)
            self.times.append(time.monotonic())

    pm, registry, config = load_with_plugins(config_path)
    runtime = Runtime(config, pm, registry)
    runtime.scheduler_stats = stats = TimedLags()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    await ready.wait()
    trace = os.environ.get("VIGIE_SOAK_TRACEMALLOC")  # a file: what the load left behind
    if trace:
        import tracemalloc
        tracemalloc.start(12)
        before = tracemalloc.take_snapshot()
    print(json.dumps({"event": "ready", "port": runtime.web.port}), flush=True)
    # the parent closes our stdin to stop us
    await asyncio.to_thread(sys.stdin.read)
    if trace:
        _write_retained(trace, before, tracemalloc.take_snapshot())
    stop.set()
    await task
    print(json.dumps({"event": "result", "lags": list(stats.lags),
                      "times": list(stats.times)}), flush=True)


def _write_retained(path: str, before, after) -> None:
    """The 25 places holding the most memory allocated since ``before`` and still live."""
    import gc

    gc.collect()
    stats = after.compare_to(before, "traceback")
    with open(path, "w") as out:
        out.write(f"live since the load began: {sum(s.size_diff for s in stats) / 2**20:.1f} MiB\n")
        for stat in stats[:25]:
            out.write(f"\n{stat.size_diff / 1024:.0f} KiB in {stat.count_diff} blocks\n")
            out.write("\n".join(stat.traceback.format()[-16:]) + "\n")


# The load -------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the load saw."""

    page: list[tuple[float, float]] = field(default_factory=list)
    metrics: list[tuple[float, float]] = field(default_factory=list)
    page_errors: int = 0
    metrics_errors: int = 0
    logins: Counter = field(default_factory=Counter)
    beats: Counter = field(default_factory=Counter)
    slow_closed: int = 0
    stalled_closed: int = 0
    slow_refused: int = 0


async def _timed_get(port: int, path: str) -> float:
    """Seconds for a whole ``GET path`` on a fresh connection (raises on a non-200)."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(SCRAPER, 0))
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Accept-Encoding: gzip\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(data[:40])
    return time.perf_counter() - start


async def _scrape(port: int, path: str, every: float, sink: list, tally: Tally,
                  errors: str, until: float) -> None:
    while time.monotonic() < until:
        at = time.monotonic()
        try:
            sink.append((at, await asyncio.wait_for(_timed_get(port, path), 60)))
        except Exception:
            setattr(tally, errors, getattr(tally, errors) + 1)
        await asyncio.sleep(max(0.0, every - (time.monotonic() - at)))


async def _slow_connection(port: int, tally: Tally, until: float, source: str) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                          local_addr=(source, 0))
        except OSError:
            tally.slow_refused += 1
            await asyncio.sleep(1.0)
            continue
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while time.monotonic() < until:
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1), 5.0) == b"":
                        tally.slow_closed += 1
                        break
                except TimeoutError:
                    writer.write(f"X-Slow-{secrets.token_hex(2)}: 1\r\n".encode())
                    continue
                tally.slow_closed += 1  # an answer (408…) then the close
                break
        except OSError:
            tally.slow_closed += 1
        finally:
            writer.close()
        await asyncio.sleep(0.5)  # then come back, as a slowloris does


async def _stalled_body(port: int, tally: Tally, until: float, source: str) -> None:
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                          local_addr=(source, 0))
        except OSError:
            await asyncio.sleep(1.0)
            continue
        try:
            writer.write(b"POST /admin/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: 1048576\r\n\r\n" + b"a" * 65536)
            await writer.drain()
            remaining = until - time.monotonic()
            if remaining > 0:
                with_timeout = asyncio.wait_for(reader.read(), remaining)
                try:
                    await with_timeout
                    tally.stalled_closed += 1
                except TimeoutError:
                    pass
        except OSError:
            tally.stalled_closed += 1
        finally:
            writer.close()
        await asyncio.sleep(0.5)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _login_flood(port: int, tally: Tally, until: float, worker: int) -> None:
    import aiohttp

    base = f"http://127.0.0.1:{port}"
    tries = 0
    connector = aiohttp.TCPConnector(local_addr=(LOGINS_FROM, 0))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     connector=connector) as http:
        token = ""
        while time.monotonic() < until:
            try:
                if not token:
                    async with http.get(f"{base}/admin/login") as response:
                        found = _CSRF.search(await response.text())
                        token = found.group(1) if found else ""
                name = f"guess{worker}-{tries // 5}"
                tries += 1
                form = {"csrf_token": token, "username": name, "password": secrets.token_hex(8)}
                async with http.post(f"{base}/admin/login", data=form,
                                     allow_redirects=False) as response:
                    await response.read()
                    tally.logins[response.status] += 1
                    if response.status == 400:
                        token = ""  # the session cookie was renewed: a new token
                    if response.status in (429, 503):
                        wait = float(response.headers.get("Retry-After", "1") or 1)
                        await asyncio.sleep(min(wait, 1.0))
            except (aiohttp.ClientError, OSError, TimeoutError):
                tally.logins["error"] += 1
                await asyncio.sleep(0.1)


async def _beats(port: int, token: str, tally: Tally, until: float, every: float) -> None:
    import aiohttp

    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(BEATS_FROM, 0))) as http:
        while time.monotonic() < until:
            try:
                async with http.post(f"http://127.0.0.1:{port}/push/{token}",
                                     data=b"ok") as response:
                    await response.read()
                    tally.beats[response.status] += 1
            except (aiohttp.ClientError, OSError):
                tally.beats["error"] += 1
            await asyncio.sleep(every)


async def _drive(port: int, args: argparse.Namespace, token: str, tally: Tally,
                 until: float) -> None:
    tasks = [asyncio.create_task(_scrape(port, "/", 0.2, tally.page, tally, "page_errors", until)),
             asyncio.create_task(_scrape(port, "/metrics", 1.0, tally.metrics, tally,
                                         "metrics_errors", until))]
    tasks += [asyncio.create_task(_slow_connection(port, tally, until,
                                                   SLOW_FROM[i % len(SLOW_FROM)]))
              for i in range(args.slow)]
    tasks += [asyncio.create_task(_stalled_body(port, tally, until,
                                                STALLED_FROM[i % len(STALLED_FROM)]))
              for i in range(args.stalled)]
    tasks += [asyncio.create_task(_login_flood(port, tally, until, i)) for i in range(args.logins)]
    tasks += [asyncio.create_task(_beats(port, token, tally, until, args.beats / args.beat_rate))
              for _ in range(args.beats)]
    await asyncio.gather(*tasks, return_exceptions=True)


async def _quiet_scrapes(port: int, tally: Tally, until: float) -> None:
    await asyncio.gather(_scrape(port, "/", 0.2, tally.page, tally, "page_errors", until),
                         _scrape(port, "/metrics", 1.0, tally.metrics, tally,
                                 "metrics_errors", until))


# The parent -----------------------------------------------------------------------------


def _q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def _rss_sampler(pid: int, samples: list[tuple[float, float]], stopping) -> None:
    import psutil

    process = psutil.Process(pid)
    while not stopping.wait(1.0):
        try:
            samples.append((time.monotonic(), process.memory_info().rss / 2**20))
        except psutil.NoSuchProcess:
            return


def _write_config(folder: Path, nginx_url: str, args: argparse.Namespace, token: str) -> Path:
    config = folder / "vigie.yaml"
    beat = (f"  - id: jobs\n    name: Jobs\n    checks:\n"
            f"      - {{id: nightly, kind: heartbeat, token: '{token}', expected_every: 1h}}\n")
    write_checks_config(config, [Target(f"{nginx_url}/ok.html")], args.checks,
                        interval=f"{args.interval:g}s", timeout="10s", concurrency=64,
                        spread_first_runs=True, store_url=f"sqlite:///{folder / 'vigie.sqlite'}",
                        batch_size=500, flush_interval="2s", listen="127.0.0.1:0")
    with config.open("a") as out:
        out.write(beat)
    return config


def run(args: argparse.Namespace) -> bool:
    """One soak run; print the report; True when every target is met."""
    import threading

    from bench.targets import nginx_process

    token = secrets.token_urlsafe(24)
    with nginx_process(workers=1) as (url, nginx_pid), \
            tempfile.TemporaryDirectory(prefix="vigie-bench-soak-") as tmp:
        folder = Path(tmp)
        config = _write_config(folder, url, args, token)
        migrate_in_subprocess(f"sqlite:///{folder / 'vigie.sqlite'}")
        subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "user", "add", USER,
                        "--password-stdin"], input=secrets.token_urlsafe(16) + "\n", text=True,
                       check=True, env=child_env(), cwd=folder, capture_output=True)
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child",
                                 str(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=(folder / "vigie.log").open("w"), text=True,
                                env=child_env(), cwd=folder)
        rss: list[tuple[float, float]] = []
        stopping = threading.Event()
        tally, quiet = Tally(), Tally()
        try:
            ready = json.loads(proc.stdout.readline())  # type: ignore[union-attr]  # stdout=PIPE
            port = ready["port"]
            sampler = threading.Thread(target=_rss_sampler, args=(proc.pid, rss, stopping),
                                       daemon=True)
            sampler.start()
            progress(f"warm-up {args.warmup:g} s…")
            t0 = time.monotonic()
            asyncio.run(_quiet_scrapes(port, quiet, t0 + args.warmup))
            load_start = time.monotonic()
            progress(f"hostile load {args.duration:g} s…")
            load = MachineLoad().start()
            load.track(proc.pid)
            load.track(nginx_pid)
            asyncio.run(_drive(port, args, token, tally, load_start + args.duration))
            load_end = time.monotonic()
            machine = load.stop()
            progress(f"cool-down {args.cooldown:g} s…")
            asyncio.run(_quiet_scrapes(port, Tally(), load_end + args.cooldown))
            end = time.monotonic()
        finally:
            stopping.set()
            proc.stdin.close()  # type: ignore[union-attr]  # stdin=PIPE
            result = None
            for line in proc.stdout:  # type: ignore[union-attr]  # stdout=PIPE
                if line.startswith("{"):
                    result = json.loads(line)
            proc.wait(timeout=60)
            log_lines = (folder / "vigie.log").read_text(errors="replace").splitlines()
    lags = [lag for lag, at in zip(result["lags"], result["times"])
            if load_start <= at <= load_end] if result else []
    baseline = statistics.median(v for t, v in rss if t0 + args.warmup - 20 <= t <= load_start)
    after = statistics.median(v for t, v in rss if end - 10 <= t <= end)
    peak = max(v for _, v in rss)
    page = [s for _, s in tally.page]
    metrics = [s for _, s in tally.metrics]
    quiet_page = [s for _, s in quiet.page]
    ok = {
        "metrics": _q(metrics, 0.99) < TARGET_METRICS_P99 and not tally.metrics_errors,
        "page": _q(page, 0.99) < TARGET_PAGE_P99 and not tally.page_errors,
        "lag": bool(lags) and _q(lags, 0.99) < TARGET_LAG_P99,
        "rss": after <= baseline * (1 + TARGET_RSS_RETURN),
    }

    def verdict(name: str) -> str:
        return "met" if ok[name] else "MISSED"

    print(f"soak: {args.checks:,} checks every {args.interval:g} s, {args.duration:g} s of "
          f"hostile load ({args.slow} slow connections, {args.stalled} stalled bodies, "
          f"{args.logins} login workers, {args.beat_rate:g} heartbeats/s)")
    print(f"  /metrics: p50 {_q(metrics, .5) * 1000:.0f} ms, p99 {_q(metrics, .99) * 1000:.0f} ms "
          f"over {len(metrics)} scrapes, {tally.metrics_errors} failed "
          f"(target p99 < {TARGET_METRICS_P99:g} s: {verdict('metrics')})")
    print(f"  status page: p50 {_q(page, .5) * 1000:.1f} ms, p99 {_q(page, .99) * 1000:.1f} ms "
          f"over {len(page)} requests, {tally.page_errors} failed; before the load p99 "
          f"{_q(quiet_page, .99) * 1000:.1f} ms (target p99 < {TARGET_PAGE_P99 * 1000:.0f} ms: "
          f"{verdict('page')})")
    print(f"  scheduling lag during the load: p50 {_q(lags, .5):.3f} s, p99 {_q(lags, .99):.3f} s, "
          f"max {max(lags, default=float('nan')):.3f} s over {len(lags)} runs "
          f"(target p99 < {TARGET_LAG_P99:g} s: {verdict('lag')})")
    print(f"  RSS: baseline {baseline:.0f} MB, peak {peak:.0f} MB, after the load {after:.0f} MB "
          f"({(after / baseline - 1) * 100:+.0f} %; target within {TARGET_RSS_RETURN:.0%}: "
          f"{verdict('rss')})")
    print(f"  login attempts by answer: {dict(tally.logins)}; heartbeats by answer: "
          f"{dict(tally.beats)}")
    print(f"  slow connections closed by Vigie: {tally.slow_closed} (refused at connect: "
          f"{tally.slow_refused}); stalled bodies closed: {tally.stalled_closed}")
    locked = sum("database is locked" in line for line in log_lines)
    print(f"  Vigie's log: {len(log_lines)} lines, {locked} saying the database was locked")
    print(f"  {load_note([machine])} (the load generator itself is in 'other work')")
    return all(ok.values())


def main() -> int:
    """Parse the arguments and run the soak."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=60.0,
                        help="seconds between two runs of a check (default 60)")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=60.0)
    parser.add_argument("--cooldown", type=float, default=60.0)
    parser.add_argument("--slow", type=int, default=500, help="slow-header connections")
    parser.add_argument("--stalled", type=int, default=100, help="stalled 1 MB bodies")
    parser.add_argument("--logins", type=int, default=16, help="login flood workers")
    parser.add_argument("--beats", type=int, default=4, help="heartbeat flood workers")
    parser.add_argument("--beat-rate", type=float, default=100.0,
                        help="heartbeats sent per second, all workers together (a cron job "
                             "gone mad; default 100)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 200 checks, 30 s warm-up, 60 s load, 30 s cool-down")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from monitor.loop import run as run_loop

        run_loop(_child(Path(args.child)))
        return 0
    if args.quick:
        args.checks, args.warmup, args.duration, args.cooldown = 200, 30.0, 60.0, 30.0
        args.slow, args.stalled = min(args.slow, 100), min(args.stalled, 20)
    print(describe_machine())
    return 0 if run(args) else 1


if __name__ == "__main__":
    sys.exit(main())
