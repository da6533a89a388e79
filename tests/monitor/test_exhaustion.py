"""Vigie's own resource exhaustion is never the services' outage (issue 12, point 6).

Exhausting Vigie's file descriptors used to make every probe fail ("Too many open files"):
every service went to major outage and volunteers got false alerts. Now the listener keeps
a reserve of descriptors for the probes, a run that fails for want of a local resource is
not counted against its target (``vigie.resources``), and volunteers get a system alert.
The attacks run for real: a ``vigie run`` process with a low RLIMIT_NOFILE flooded with
connections, and ``run_check`` in a process that has no descriptor left.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import pytest

from monitor.config import Check, LocalizedText
from monitor.config_loader import load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import (
    LOCAL_RESOURCES,
    CheckRef,
    Probe,
    ProbeConfig,
    ProbeFailed,
    ProbeResult,
    Status,
    reason,
)
from monitor.runner import network_reason, run_check
from monitor.runtime import Runtime
from monitor.shortage import Shortage
from monitor.state import CheckState
from tests.conftest import free_port
from tests.peers import Changes, Process, wait_until

ROOT = Path(__file__).resolve().parents[2]
EMFILE = OSError(errno.EMFILE, os.strerror(errno.EMFILE))


# Classification -------------------------------------------------------------------------


def test_local_resource_errors_are_classified_as_such():
    assert network_reason(OSError(errno.EMFILE, "Too many open files")) is LOCAL_RESOURCES
    assert network_reason(OSError(errno.ENFILE, "File table overflow")) is LOCAL_RESOURCES
    assert network_reason(OSError(errno.ENOBUFS, "No buffer space")) is LOCAL_RESOURCES
    wrapped = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 80, False, True, None, None, None),
        OSError(errno.EMFILE, "Too many open files"))
    assert network_reason(wrapped) is LOCAL_RESOURCES
    # the name could not be resolved because the resolver had no socket: not the target's
    assert network_reason(socket.gaierror(socket.EAI_SYSTEM, "System error")) is LOCAL_RESOURCES
    # the target's own failures keep their reasons
    assert network_reason(ConnectionRefusedError()).code == "connection.refused"
    assert network_reason(socket.gaierror(socket.EAI_NONAME, "Name unknown")).code == "dns.error"


async def test_a_probe_that_lets_emfile_escape_gives_an_unknown_result():
    """The runner itself: a descriptor shortage escaping a probe is ``unknown`` with the
    local-resources reason (never ``down``, which would count against the target)."""

    class Starved(Probe):
        kind = "starved"

        async def check(self, config, ctx):
            raise OSError(errno.EMFILE, "Too many open files")

    result = await run_check(make_check(), Starved(), None)
    assert result.status is Status.UNKNOWN and result.reason.code == LOCAL_RESOURCES.code


def test_a_probe_failure_raised_while_handling_exhaustion_is_not_the_targets():
    """Probes turn connection errors into their own reasons (``connection.error: Could not
    connect to …``); raised while handling EMFILE, it is Vigie's shortage, not the target's."""
    try:
        try:
            raise EMFILE
        except OSError:
            raise ProbeFailed(reason("connection.error", "Connexion impossible",
                                     "Could not connect")) from None
    except ProbeFailed as exc:
        failed = exc
    assert failed.reason is LOCAL_RESOURCES and failed.status is Status.UNKNOWN
    try:
        try:
            raise ConnectionRefusedError()
        except OSError:
            raise ProbeFailed(reason("connection.refused", "Refusée", "Refused")) from None
    except ProbeFailed as exc:
        assert exc.reason.code == "connection.refused" and exc.status is Status.DOWN


def make_check(confirm: int = 2) -> Check:
    return Check(ref=CheckRef("svc", "c", "demo"), name=LocalizedText(fr="c"), interval=300.0,
                 timeout=10.0, confirm=confirm, retry_interval=30.0, options=ProbeConfig())


def run(status: Status, why=None, at: float = 1000.0) -> ProbeResult:
    return ProbeResult(status, why or (None if status is Status.UP else
                                       reason("x", "échec", "failure")), started_at=at)


def unjudged(at: float = 1000.0) -> ProbeResult:
    return ProbeResult(Status.UNKNOWN, LOCAL_RESOURCES, started_at=at)


def test_an_unjudged_run_neither_confirms_nor_clears_a_failure():
    up = CheckState(make_check(confirm=1))
    up.record(run(Status.UP))
    last = up.last
    for _ in range(5):
        assert up.record(unjudged()) is None
    assert up.status is Status.UP and up.last is last and not up.pending

    pending = CheckState(make_check(confirm=2))
    pending.record(run(Status.UP))
    pending.record(run(Status.DOWN))
    assert pending.record(unjudged()) is None
    assert pending.pending and pending.status is Status.UP  # neither confirmed…
    assert pending.record(run(Status.DOWN)) == (Status.UP, Status.DOWN)  # …nor forgotten

    down = CheckState(make_check(confirm=1))
    down.record(run(Status.DOWN))
    assert down.record(unjudged()) is None
    assert down.status is Status.DOWN  # a confirmed outage is not cleared either
    # a DOWN result carrying the reason (network errors become DOWN in run_check) too
    assert down.record(ProbeResult(Status.DOWN, LOCAL_RESOURCES, started_at=1.0)) is None


def test_shortage_raises_one_alert_per_episode():
    now = [1000.0]
    shortage = Shortage(clock=lambda: now[0], calm_after=600)
    assert shortage.due() == []
    shortage.note("checks")
    shortage.note("checks")
    [alert] = shortage.due()
    assert alert.code == "vigie.resources" and alert.severity == "critical"
    assert alert.details["source"] == "checks" and alert.details["count"] == "2"
    assert "jugé" in alert.message_fr and "judged" in alert.message_en
    shortage.note("checks")
    assert shortage.due() == []  # the same episode
    shortage.note("listener")
    [listener] = shortage.due()
    assert listener.severity == "warning" and listener.details["source"] == "listener"
    assert listener.idempotency_key != alert.idempotency_key
    now[0] += 601
    assert shortage.due() == []  # calm for 10 minutes: the episodes end
    shortage.note("checks")
    [again] = shortage.due()
    assert again.idempotency_key != alert.idempotency_key
    assert shortage.counts == {"checks": 4, "listener": 1}


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one():
    script = textwrap.dedent("""
        import resource
        from monitor.resources import raise_nofile_limit
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        raise_nofile_limit()
        print(resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


# run_check with no descriptor left, for real -------------------------------------------

EXHAUSTED_RUN = """
import asyncio, json, os, resource, sys
from monitor.config_loader import load_with_plugins
from monitor.runner import run_check
from monitor.http_session import LazyHttpSession

pm, registry, config = load_with_plugins(sys.argv[1])

def lowest_free_descriptor():
    fd = os.open(os.devnull, os.O_RDONLY)  # the OS hands out the lowest free number
    os.close(fd)
    return fd

async def main():
    out = {}
    async with LazyHttpSession() as http:
        checks = config.checks
        probes = {c.key: registry.get(c.ref.kind).instance for c in checks}
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free_descriptor(), hard))
        try:
            for check in checks:
                result = await run_check(check, probes[check.key], http)
                out[check.ref.check_id] = [result.status.label, result.reason and result.reason.code]
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(json.dumps(out))

asyncio.run(main())
"""


class Ok(BaseHTTPRequestHandler):
    """A healthy target."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class Target(ThreadingHTTPServer):
    """A healthy local target (``url`` for HTTP, ``port`` for TCP) counting the
    connections it accepts: each run of a check of it opens one."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Ok)
        self.port = self.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.changed = threading.Condition()

    def verify_request(self, request, client_address) -> bool:
        with self.changed:
            self.connections += 1
            self.changed.notify_all()
        return True

    def wait_connections(self, count: int, what: str) -> None:
        """Return once ``count`` connections have been accepted in all."""
        wait_until(self.changed, lambda: self.connections >= count, what)


@pytest.fixture
def target():
    """A healthy local :class:`Target`."""
    server = Target()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="Linux only")
def test_runs_without_a_descriptor_left_are_unjudged_for_every_kind(tmp_path, target):
    url, port = target.url, target.port
    path = tmp_path / "vigie.yaml"
    path.write_text(textwrap.dedent(f"""\
        services:
          - id: web
            name: Web
            checks:
              - {{id: page, kind: http, url: '{url}/'}}
              - {{id: port, kind: tcp, host: 127.0.0.1, port: {port}}}
              - {{id: smtp, kind: smtp, host: 127.0.0.1, port: {port}}}
    """))
    out = subprocess.run([sys.executable, "-c", EXHAUSTED_RUN, str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert results == {name: ["unknown", "vigie.resources"] for name in ("page", "port", "smtp")}


# The runtime: no outage, an alert, a metric -------------------------------------------


class Flaky(Probe):
    """Up on the first run, then always short of descriptors: half the runs as the
    network code raises it, half as a probe wraps it in its own reason."""

    kind = "exhausted"
    Config = ProbeConfig
    description = "test: runs out of descriptors after the first run"
    runs = 0
    #: noted at each run (the test's own, set before the run starts)
    changes: Changes | None = None

    async def check(self, config, ctx):
        Flaky.runs += 1
        if Flaky.changes is not None:
            Flaky.changes.note()
        if Flaky.runs == 1:
            return ProbeResult.up()
        if Flaky.runs % 2:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        try:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        except OSError:
            raise ProbeFailed(reason("connection.error", "Connexion impossible",
                                     "Could not connect")) from None


class Catcher:
    """Registers the probe kind and keeps the system alerts it receives."""

    def __init__(self) -> None:
        self.alerts: list = []
        #: noted at each alert received
        self.changes = Changes()

    @hookimpl
    def vigie_register_probes(self):
        return [Flaky]

    @hookimpl
    async def vigie_system_alert(self, alert):
        self.alerts.append(alert)
        self.changes.note()


async def test_exhaustion_gives_no_outage_but_an_alert_and_a_metric(tmp_path):
    Flaky.runs = 0
    path = tmp_path / "vigie.yaml"
    path.write_text(textwrap.dedent(f"""\
        scheduler: {{spread_first_runs: false}}
        store: {{flush_interval: 0.05s}}
        server: {{listen: '127.0.0.1:{free_port()}'}}
        services:
          - id: files
            name: Fichiers
            checks:
              - {{id: c, kind: exhausted, interval: 0.05s, confirm: 1, retry_interval: 0.05s}}
    """))
    catcher = Catcher()
    Flaky.changes = catcher.changes
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("catcher", catcher)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(path, registry), pm, registry)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await catcher.changes.wait(lambda: catcher.alerts and Flaky.runs > 20, within=20)
        service = runtime.state.services["files"]
        assert service.status.label == "operational"
        assert runtime.state.checks["files/c"].status is Status.UP
        text = runtime.router(  # the metric, as Prometheus reads it
            {"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET"}, lambda *a: None)[0].decode()
        assert 'vigie_resource_shortages_total{source="checks"}' in text
        count = float(text.split('vigie_resource_shortages_total{source="checks"} ')[1]
                      .split()[0])
        assert count >= 19
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    [alert] = [a for a in catcher.alerts if a.code == "vigie.resources"]
    assert alert.details["source"] == "checks"
    db = tmp_path / "data" / "vigie.sqlite"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0
        kinds = dict(conn.execute("SELECT reason_code, count(*) FROM results "
                                  "WHERE status != 0 GROUP BY reason_code"))
        statuses = {s for (s,) in conn.execute("SELECT DISTINCT status FROM results")}
    assert set(kinds) == {"vigie.resources"} and statuses == {0, 3}  # up, or unknown


async def test_before_the_database_is_reached_the_alert_goes_directly(tmp_path, monkeypatch):
    """The outbox lives in the database: while it has not been reached since start, the
    shortage alert is delivered directly, once, as the "database unreachable" one."""
    Flaky.runs = 0
    monkeypatch.setattr("monitor.incidents.system.DATABASE_ALERT_AFTER", 3600)
    path = tmp_path / "vigie.yaml"
    path.write_text(textwrap.dedent(f"""\
        scheduler: {{spread_first_runs: false}}
        store: {{url: 'postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test'}}
        server: {{listen: '127.0.0.1:{free_port()}'}}
        services:
          - id: files
            name: Fichiers
            checks:
              - {{id: c, kind: exhausted, interval: 0.05s, confirm: 1, retry_interval: 0.05s}}
    """))
    catcher = Catcher()
    Flaky.changes = catcher.changes
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("catcher", catcher)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(path, registry), pm, registry)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await catcher.changes.wait(lambda: catcher.alerts, within=20)
        assert not runtime.store_ready
        assert runtime.state.services["files"].status.label == "operational"
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    assert [(a.code, a.details["source"]) for a in catcher.alerts] == [
        ("vigie.resources", "checks")]


# `vigie run` under a connection flood, for real -----------------------------------------


class Hook(BaseHTTPRequestHandler):
    """An Apprise ``json://`` receiver keeping the titles it got (notifying ``changed``)."""

    received: list[dict] = []
    changed = threading.Condition()

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Hook.changed:
            Hook.received.append(json.loads(body))
            Hook.changed.notify_all()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def write_flood_config(tmp_path: Path, port: int, hook_port: int, target: Target,
                       limits: str | None = None) -> Path:
    """Two checks of a healthy target, confirmed at the first failure, and an Apprise
    receiver; ``limits``: the ``server.limits`` mapping, when given."""
    url, tport = target.url, target.port
    path = tmp_path / "vigie.yaml"
    limits_line = f"limits: {limits}" if limits else ""
    path.write_text(textwrap.dedent(f"""\
        scheduler: {{spread_first_runs: false, concurrency: 8}}
        store: {{flush_interval: 0.1s}}
        server:
          listen: '127.0.0.1:{port}'
          {limits_line}
        incidents: {{outbox: {{initial_backoff: 0.2s, max_backoff: 1s}}}}
        notifications:
          urls:
            - {{name: hook, url: 'json://127.0.0.1:{hook_port}/alerts'}}
        services:
          - id: web
            name: Web
            checks:
              - {{id: page, kind: http, url: '{url}/', interval: 0.2s, confirm: 1}}
              - {{id: port, kind: tcp, host: 127.0.0.1, port: {tport}, interval: 0.2s,
                  confirm: 1}}
    """))
    return path


def start_limited(config: Path, nofile: int) -> Process:
    """``vigie run`` with RLIMIT_NOFILE at ``nofile`` (soft and hard)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return Process(subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  preexec_fn=limit, cwd=ROOT))


def query(db: Path, sql: str) -> list[tuple]:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []


def flood(port: int, count: int, addresses: int = 12) -> list[socket.socket]:
    """``count`` idle connections to ``port``, spread over several loopback addresses so no
    per-address cap stops them (the flood of many clients)."""
    socks = []
    for i in range(count):
        sock = socket.socket()
        sock.bind((f"127.0.{1 + i % addresses}.{1 + i // addresses % 250}", 0))
        sock.setblocking(False)
        try:
            sock.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass  # completes in the kernel's backlog whether accepted or not
        socks.append(sock)
    return socks


def resource_alerts() -> list[dict]:
    return [a for a in Hook.received
            if "descripteurs" in a.get("title", "") or "ressources" in a.get("title", "")]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="Linux only")
def test_a_connection_flood_under_a_low_descriptor_limit_records_no_outage(tmp_path, target,
                                                                           hook):
    """300 connections against a Vigie allowed 256 descriptors: before, the listener took
    them all and every probe failed with EMFILE (every service in major outage, false
    alerts). Now the listener stops at the reserve, the healthy target stays up, and the
    volunteers hear that Vigie is refusing connections."""
    port = free_port()
    config = write_flood_config(tmp_path, port, hook, target)
    db = tmp_path / "data" / "vigie.sqlite"
    vigie = start_limited(config, 256)
    socks: list[socket.socket] = []
    try:
        target.wait_connections(4, "the first runs")
        socks = flood(port, 300)
        wait_until(Hook.changed, resource_alerts, "the alert that Vigie is short of descriptors")
        # the checks keep running under the flood
        target.wait_connections(target.connections + 20, "runs during the flood")
        [(during,)] = query(db, "SELECT count(*) FROM results")
    finally:
        for sock in socks:
            sock.close()
        output = vigie.stop()
    # …and found the target up, every run recorded (the last ones at the stop)
    assert query(db, "SELECT count(*) FROM results")[0][0] >= max(during, 24), output[-3000:]
    assert query(db, "SELECT count(*) FROM incidents") == [(0,)], output[-3000:]
    assert query(db, "SELECT count(*) FROM results WHERE status != 0") == [(0,)], output[-3000:]
    [alert] = resource_alerts()
    assert "connexions" in alert["title"], alert


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="Linux only")
def test_without_a_reserve_exhausted_probes_are_unjudged_not_down(tmp_path, target, hook):
    """With the reserve turned off the flood does starve the probes: their runs are
    recorded as not judged (``vigie.resources``), never as the target's outage, and the
    volunteers are told once descriptors are back."""
    port = free_port()
    config = write_flood_config(
        tmp_path, port, hook, target,
        limits="{descriptor_reserve: 0, max_connections_per_address: 1000}")
    db = tmp_path / "data" / "vigie.sqlite"
    vigie = start_limited(config, 256)
    socks: list[socket.socket] = []
    try:
        target.wait_connections(4, "the first runs")
        socks = flood(port, 300)
        # Vigie logs the episode when the first run fails for want of descriptors
        vigie.wait_line("failed for want of local resources", "runs not judged")
    finally:
        for sock in socks:
            sock.close()
    try:
        wait_until(Hook.changed, lambda: any("jugé" in a["message"] for a in resource_alerts()),
                   "the alert about the checks, once descriptors are back")
    finally:
        output = vigie.stop()
    assert query(db, "SELECT count(*) FROM results "
                     "WHERE reason_code = 'vigie.resources'")[0][0] >= 1, output[-3000:]
    assert query(db, "SELECT count(*) FROM incidents") == [(0,)], output[-3000:]
    assert query(db, "SELECT count(*) FROM results WHERE status = 2") == [(0,)], output[-3000:]
