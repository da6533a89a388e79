"""Issue 17: Vigie as a cluster of nodes on one PostgreSQL, on this machine.

Three measurements, each with real ``vigie run`` processes on 127.0.0.1:

1. **CPU per check** — 30,000 http checks (nginx, a new connection each) run by one Vigie
   with cluster mode off, then by 1, 2 and 3 nodes in cluster mode: the nodes' CPU
   seconds over the checks they ran in a window, and the ratio to the single Vigie's
   (target ≤ 1.15×).
2. **Fail-over time** — 3 nodes; the leader is killed (SIGKILL) and, at the same moment,
   a check run by another node starts failing: the time until the volunteers' alert
   (Apprise ``json://`` on 127.0.0.1) arrives, sent by the new leader. Median and max.
   Before each kill, the same for a check failing on a node that does not lead, from its
   failing run's end to the leader's alert: how fast transitions reach the leader.
3. **Database load of membership and ownership** — 1, 2, 3 nodes with a single check,
   in a database of their own: transactions per second (``pg_stat_database``) against
   one Vigie with cluster mode off (what the heartbeats, the lease and the feed add).

Defaults are the shipped ones (heartbeat 5 s, dead after 3, lease 15 s). Run:
``.venv/bin/python bench/cluster.py`` (about 25 minutes), ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import psutil
import sqlalchemy as sa

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
from bench.targets import free_port, nginx

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NODES = ("vigie-1", "vigie-2", "vigie-3")


# Databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def schema() -> Iterator[str]:
    """A fresh schema of the local ``test`` database, migrated; dropped afterwards."""
    name = f"bench_cluster_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(POSTGRES)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    url = f"{POSTGRES}?options=-csearch_path%3D{name}"
    try:
        migrate_in_subprocess(url)
        yield url
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


@contextlib.contextmanager
def database() -> Iterator[tuple[str, str]]:
    """A database of its own (its transactions counted apart from other work); yields its
    URL and name; dropped afterwards."""
    name = f"bench_cluster_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate_in_subprocess(url)
        yield url, name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def transactions(name: str) -> float:
    engine = sa.create_engine(POSTGRES)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
            return float(conn.execute(sa.text(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :n"),
                {"n": name}).scalar_one())
    finally:
        engine.dispose()


# Nodes ----------------------------------------------------------------------------------


class Node:
    """One ``vigie run``."""

    def __init__(self, folder: Path, name: str | None, url: str, checks: int,
                 target: str, interval: str, extra: str = "", services: str = "") -> None:
        self.name = name or "single"
        self.port = free_port()
        cluster = (f"cluster: {{enabled: true, node: {name}}}\n" if name else "")
        self.config = folder / self.name / "vigie.yaml"
        write_checks_config(self.config, [Target(target)], checks, interval=interval,
                            timeout="10s", spread_first_runs=True, store_url=url,
                            listen=f"127.0.0.1:{self.port}", extra=cluster + extra)
        if services:  # more services after the generated ones
            self.config.write_text(self.config.read_text() + services)
        self.log = (folder / f"{self.name}.log").open("a")
        self.start()

    def start(self) -> None:
        """Start (or start again) the process."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", str(self.config), "run"],
            stdout=self.log, stderr=subprocess.STDOUT, env=child_env(), cwd=self.config.parent)
        self.ps = psutil.Process(self.proc.pid)

    def metrics(self) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                        timeout=30) as response:
                return response.read().decode()
        except OSError:
            return ""

    def value(self, name: str, text: str | None = None) -> float:
        text = self.metrics() if text is None else text
        total = 0.0
        for line in text.splitlines():
            if re.match(rf"^{name}(\{{| )", line):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait(condition, what: str, timeout: float = 600.0, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


def settled(nodes: list[Node], checks: int) -> bool:
    """Every node sees them all, and the checks are shared out (each once)."""
    if len(nodes) == 1 and nodes[0].name == "single":
        return nodes[0].value("vigie_scheduler_workers") > 0
    texts = [n.metrics() for n in nodes]
    return (all(n.value("vigie_cluster_nodes", t) == len(nodes) for n, t in zip(nodes, texts))
            and sum(n.value("vigie_cluster_checks_owned", t) for n, t in zip(nodes, texts))
            == checks)


# 1. CPU per check -----------------------------------------------------------------------


def cpu_per_check(args, target: str) -> dict[str, list[float]]:
    """µs of CPU per check run, per setting, one value per run."""
    out: dict[str, list[float]] = {}
    loads = []
    for label, names in (("single", [None]), *((f"{n} node{'s' * (n > 1)}", NODES[:n])
                                              for n in args.nodes)):
        for run in range(args.runs):
            progress(f"CPU per check: {label}, run {run + 1}/{args.runs}")
            with schema() as url, tempfile.TemporaryDirectory() as tmp:
                nodes = [Node(Path(tmp), name, url, args.checks, target, args.interval)
                         for name in names]
                try:
                    wait(lambda nodes=nodes: settled(nodes, args.checks), "the nodes")
                    time.sleep(args.warmup)  # every check past its first verdict
                    load = MachineLoad().start()
                    for node in nodes:
                        load.track(node.proc.pid)
                    cpu0 = [n.cpu() for n in nodes]
                    runs0 = [n.value("vigie_check_runs_total") for n in nodes]
                    time.sleep(args.window)
                    cpu = sum(n.cpu() - c for n, c in zip(nodes, cpu0))
                    runs = sum(n.value("vigie_check_runs_total") - r
                               for n, r in zip(nodes, runs0))
                    loads.append(load.stop())
                finally:
                    for node in nodes:
                        node.stop()
            out.setdefault(label, []).append(cpu / max(runs, 1) * 1e6)
            progress(f"  {runs:.0f} runs, {cpu:.1f} s CPU: {out[label][-1]:.0f} µs per check")
    out["_load"] = loads  # type: ignore[assignment]  # the loads ride along in the same dict
    return out


# 2. Fail-over time ------------------------------------------------------------------------


class Receiver:
    """An Apprise ``json://`` receiver on 127.0.0.1 noting when each alert arrives."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the library's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.arrivals.append((time.time(), json.loads(body or b"{}")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Switch:
    """A target answering 200, or 500 for the paths in :attr:`failing`."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the library's name
                code = 500 if self.path.split("?")[0] in outer.failing else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def failing_run_end(engine: sa.Engine, key: str, after: float) -> float | None:
    """When the first failing run of ``key`` that started after ``after`` ended (the
    owner's clock, the same machine's as the receiver's), or None while there is none."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT min(r.started_at + r.duration) FROM results r JOIN checks c "
            "ON c.id = r.check_id WHERE c.key = :key AND r.started_at > :after "
            "AND r.status <> :up"), {"key": key, "after": after, "up": 0}).scalar()


def failover(args, target: str) -> tuple[list[float], list[float]]:
    """Seconds from the leader killed to the first alert sent by the new one; and, before
    each kill, seconds from a failing run's end on a node that does not lead to the
    leader's alert (the feed, the engine and the delivery)."""
    from monitor.cluster.ownership import owner

    receiver, switch = Receiver(), Switch()
    switches = 12
    extra = (f"notifications: {{urls: [{{name: hook, url: 'json://127.0.0.1:{receiver.port}"
             "/alerts'}]}\nincidents: {quiet_period: 5s}")
    services = ("  - id: switch\n    name: Switch\n    checks:\n"
                + "".join(f"      - {{id: s{i}, kind: http, url: '{switch.url}/s{i}', "
                          "interval: 1s, confirm: 1}\n" for i in range(switches)))
    total = args.failover_checks + switches
    times: list[float] = []
    feed: list[float] = []
    with schema() as url, tempfile.TemporaryDirectory() as tmp:
        nodes = {name: Node(Path(tmp), name, url, args.failover_checks, target,
                            args.interval, extra, services) for name in NODES}
        engine = sa.create_engine(url)

        def leader() -> str | None:
            with engine.connect() as conn:
                return conn.execute(sa.text(
                    "SELECT holder FROM cluster_lease WHERE expires_at > "
                    "extract(epoch from clock_timestamp())")).scalar()

        try:
            for run in range(args.failover_runs):
                wait(lambda: settled(list(nodes.values()), total), "the nodes")
                held = wait(leader, "a leader")
                survivors = [n for n in NODES if n != held]
                # a check its node keeps (rendezvous: its owner among the survivors too)
                path = next(f"/s{i}" for i in range(switches)
                            if owner(f"switch/s{i}", NODES) in survivors)
                # a check owned by a node that does not lead fails: its alert comes
                # through the feed to the leader
                key = next(f"switch/s{i}" for i in range(switches)
                           if owner(f"switch/s{i}", NODES) in survivors)
                seen, flipped = len(receiver.arrivals), time.time()
                switch.failing.add("/" + key.split("/", 1)[1])
                wait(lambda seen=seen: len(receiver.arrivals) > seen, "the alert", every=0.05)
                ended = wait(lambda key=key, flipped=flipped: failing_run_end(
                    engine, key, flipped), "the run")
                feed.append(receiver.arrivals[seen][0] - ended)
                progress(f"  a non-leader's failing run → the leader's alert: {feed[-1]:.3f} s")
                switch.failing.clear()
                wait(lambda seen=seen: len(receiver.arrivals) > seen + 1, "its resolution",
                     every=0.2)
                seen = len(receiver.arrivals)
                progress(f"fail-over run {run + 1}: killing the leader, {held}")
                nodes[held].stop(signal.SIGKILL)
                killed = time.time()
                switch.failing.add(path)
                wait(lambda seen=seen: len(receiver.arrivals) > seen, "the alert", every=0.05)
                times.append(receiver.arrivals[seen][0] - killed)
                progress(f"  first alert {times[-1]:.1f} s after the kill")
                switch.failing.clear()
                wait(lambda seen=seen: len(receiver.arrivals) > seen + 1, "the resolution",
                     every=0.2)
                # its name is free once it is dead for the others: start it again
                time.sleep(args.detection + 1)
                nodes[held].start()
        finally:
            engine.dispose()
            for node in nodes.values():
                node.stop()
    return times, feed


# 3. Database load ---------------------------------------------------------------------------


def database_load(args, target: str) -> dict[str, float]:
    """Transactions per second with one check, per setting."""
    out = {}
    for label, names in (("single", [None]), *((f"{n} node{'s' * (n > 1)}", NODES[:n])
                                              for n in args.nodes)):
        progress(f"database load: {label}")
        with database() as (url, name), tempfile.TemporaryDirectory() as tmp:
            nodes = [Node(Path(tmp), node, url, 1, target, "300s") for node in names]
            try:
                wait(lambda nodes=nodes: settled(nodes, 1), "the nodes")
                time.sleep(args.warmup)
                t0, x0 = time.monotonic(), transactions(name)
                time.sleep(args.idle_window)
                out[label] = (transactions(name) - x0 - 2) / (time.monotonic() - t0)
            finally:
                for node in nodes:
                    node.stop()
        progress(f"  {out[label]:.2f} transactions/s")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=30_000)
    parser.add_argument("--interval", type=float, default=60.0,
                        help="seconds between two runs of a generated check")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--runs", type=int, default=3, help="CPU runs per setting")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before measuring (default: an interval and 10 s, so "
                             "that every check has its first verdict: steady state)")
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--failover-runs", type=int, default=5)
    parser.add_argument("--failover-checks", type=int, default=30_000)
    parser.add_argument("--detection", type=float, default=15.0,
                        help="dead_after × heartbeat of the configuration (defaults: 15)")
    parser.add_argument("--idle-window", type=float, default=60.0)
    parser.add_argument("--skip", nargs="*", default=[], choices=["cpu", "failover", "db"])
    parser.add_argument("--quick", action="store_true",
                        help="3,000 checks, 1 run, short windows")
    args = parser.parse_args()
    if args.quick:
        args.checks = args.failover_checks = 3_000
        args.runs, args.failover_runs = 1, 2
        args.interval, args.window, args.idle_window = 30.0, 30.0, 30.0
    if args.warmup is None:
        args.warmup = args.interval + 10.0
    args.interval = f"{args.interval:g}s"
    print(f"# bench/cluster.py — {describe_machine()}")
    with nginx() as target:
        target = f"{target}/ok.html"
        if "cpu" not in args.skip:
            cpu = cpu_per_check(args, target)
            loads = cpu.pop("_load")
            base = spread(cpu["single"])
            print(f"\n## CPU per check ({args.checks:,} checks every {args.interval}, "
                  f"window {args.window:.0f} s)\n")
            print("| setting | µs CPU per check | × single |\n| --- | --- | --- |")
            for label, values in cpu.items():
                s = spread(values)
                print(f"| {label} | {s.fmt(0)} | {s.median / base.median:.2f} |")
            print(f"\n{load_note(loads)}")  # type: ignore[arg-type]  # the dict item holds the loads list
        if "failover" not in args.skip:
            times, feed = failover(args, target)
            print(f"\n## Fail-over ({args.failover_checks:,} checks, 3 nodes, defaults)\n")
            print(f"leader killed → first alert by the new leader: median "
                  f"{statistics.median(times):.1f} s, max {max(times):.1f} s, min "
                  f"{min(times):.1f} s ({len(times)} runs)")
            print(f"\na non-leader's failing run ended → the leader's alert received: median "
                  f"{statistics.median(feed) * 1000:.0f} ms, max {max(feed) * 1000:.0f} ms "
                  f"({len(feed)} runs: the feed, the engine, the outbox, the delivery)")
        if "db" not in args.skip:
            load = database_load(args, target)
            print("\n## Database load of membership and ownership (1 check)\n")
            print("| setting | transactions/s | added |\n| --- | --- | --- |")
            for label, value in load.items():
                print(f"| {label} | {value:.2f} | {value - load['single']:+.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
