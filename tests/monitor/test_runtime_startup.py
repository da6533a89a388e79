"""`vigie run` when something is wrong at start: the database unreachable (probe anyway,
catch up when it comes back), the listen address taken (one line, exit code 3)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from monitor.config_loader import load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import Probe, ProbeConfig, ProbeResult
from monitor.runtime import Runtime
from monitor.store import Store
from tests.conftest import free_port
from tests.monitor.test_runtime import scrape, start, target, wait_for  # noqa: F401 (target: a fixture)
from tests.monitor.test_store_writer import TcpProxy
from tests.peers import Changes, Process, wait_until


def write_config(tmp_path: Path, store_url: str, port: int,
                 target: str = "http://127.0.0.1:9") -> Path:
    """Two HTTP checks of ``target`` (the test's, always up: each run it serves is
    something a test waits on)."""
    path = tmp_path / "vigie.yaml"
    path.write_text(f"""\
scheduler: {{spread_first_runs: false}}
store: {{url: '{store_url}', flush_interval: 0.1s}}
server: {{listen: '127.0.0.1:{port}'}}
services:
  - id: web
    name: Web
    checks:
      - {{id: a, kind: http, url: '{target}/a', interval: 0.3s}}
      - {{id: b, kind: http, url: '{target}/b', interval: 0.3s}}
""")
    return path


def metric(text: str, name: str) -> float | None:
    """The value of an unlabelled sample in a /metrics page."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    return output


class Dropping:
    """A database that drops every client: a TCP server on 127.0.0.1 closing each
    connection as soon as it accepts it, counting them (notifying ``changed``)."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self.changed = threading.Condition()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Dropping:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes accept() (Linux): the thread ends
        self._thread.join(10)
        self._socket.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._socket.accept()
            except OSError:
                return
            client.close()
            with self.changed:
                self.connections += 1
                self.changed.notify_all()


def test_database_closed_at_start_vigie_probes_and_serves_metrics(tmp_path, target):
    port = free_port()
    with Dropping() as database:
        vigie = Process(start(write_config(
            tmp_path, f"postgresql+psycopg://postgres@127.0.0.1:{database.port}/test", port,
            target)))
        try:
            text = wait_for(lambda: (t := _scrape_or_none(port)) and
                            'vigie_check_up{check="a",kind="http",service="web"} 1.0' in t
                            and t)
            assert metric(text, "vigie_store_up") == 0.0
            assert metric(wait_for(lambda: (t := scrape(port)) and
                                   metric(t, "vigie_results_buffered") >= 4 and t),
                          "vigie_results_written_total") in (0.0, None)
            # the status page says it cannot read the database, it does not crash
            assert status_of(f"http://127.0.0.1:{port}/") == 503
            assert status_of(f"http://127.0.0.1:{port}/healthz") == 200
            # the attempt at start is over once it is logged: a later connection is a
            # background retry, which does not stop Vigie either
            vigie.wait_line("unreachable at start", "the warning at start")
            tried = database.connections
            wait_until(database.changed, lambda: database.connections > tried,
                       "a background retry")
            assert vigie.proc.poll() is None
        finally:
            output = vigie.stop()
    assert vigie.proc.returncode == 0, output
    assert "Traceback" not in output, output
    assert output.count("unreachable at start") == 1, output
    assert f"127.0.0.1:{database.port}" in output
    assert "incident engine job failed" not in output and "incidents:" not in output


def _scrape_or_none(port: int) -> str | None:
    try:
        return scrape(port)
    except OSError:
        return None


def test_database_back_later_gets_the_results_kept_in_memory(tmp_path, postgres_schema_url,
                                                              target):
    Store(postgres_schema_url).upgrade()
    proxy = TcpProxy(("127.0.0.1", 5432))  # not listening yet: the database is "down"
    url = sa.engine.make_url(postgres_schema_url).set(port=proxy.port)
    port = free_port()
    proc = start(write_config(tmp_path, url.render_as_string(hide_password=False), port,
                              target))
    try:
        wait_for(lambda: (t := _scrape_or_none(port)) and
                 metric(t, "vigie_results_buffered") >= 6)
        proxy.restore()
        text = wait_for(lambda: (t := scrape(port)) and metric(t, "vigie_store_up") == 1.0
                        and metric(t, "vigie_results_buffered") == 0 and t)
        assert metric(text, "vigie_results_dropped_total") in (0.0, None)
        assert status_of(f"http://127.0.0.1:{port}/") == 200
    finally:
        output = stop(proc)
        if proxy._listening.is_set():
            proxy.cut()
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
    assert output.count("unreachable at start") == 1, output
    assert output.count("reachable after") == 1, output
    engine = sa.create_engine(postgres_schema_url)
    try:
        with engine.connect() as conn:
            results = conn.scalar(sa.text("SELECT count(*) FROM results"))
            services = conn.execute(sa.text(
                "SELECT service_id, current FROM service_status_changes")).all()
    finally:
        engine.dispose()
    assert results >= 6  # the ones kept in memory while the database was away, and more
    assert services == [("web", 0)]  # operational, recorded once


def test_listen_address_taken_is_one_line_and_exit_code_3(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = write_config(tmp_path, f"sqlite:///{tmp_path / 'vigie.sqlite'}", port)
        proc = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "run"],
                              capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.startswith("vigie:")]
    assert f"cannot listen on 127.0.0.1:{port}" in line and "already in use" in line
    assert "--listen" in line
    assert not (tmp_path / "vigie.sqlite").exists()  # refused before touching the database


def test_database_without_vigie_tables_is_one_line_and_exit_code_3(tmp_path,
                                                                   postgres_schema_url):
    port = free_port()
    config = write_config(tmp_path, postgres_schema_url, port)  # an empty schema
    proc = subprocess.run([sys.executable, "-m", "monitor", "-c", str(config), "run"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.startswith("vigie:")]
    assert "no Vigie tables yet" in line and "vigie db upgrade" in line


class UpProbe(Probe):
    """Always up."""

    kind = "up"
    Config = ProbeConfig
    description = "test: always up"
    samples = ()

    async def check(self, config, ctx):
        return ProbeResult.up()


class Catcher:
    """Registers the probe kind and keeps the system alerts it receives."""

    def __init__(self) -> None:
        self.alerts: list = []
        #: noted at each alert received
        self.changes = Changes()

    @hookimpl
    def vigie_register_probes(self):
        return [UpProbe]

    @hookimpl
    async def vigie_system_alert(self, alert):
        self.alerts.append(alert)
        self.changes.note()


async def test_incident_system_waits_for_the_database_and_alerts_directly(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("monitor.incidents.system.TICK_EVERY", 0.05)
    monkeypatch.setattr("monitor.incidents.system.DATABASE_ALERT_AFTER", 0.3)
    caplog.set_level(logging.INFO)
    path = tmp_path / "vigie.yaml"
    path.write_text(f"""\
scheduler: {{spread_first_runs: false}}
store: {{url: 'postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test'}}
server: {{listen: '127.0.0.1:{free_port()}'}}
services:
  - id: files
    name: Fichiers
    checks:
      - {{id: up, kind: up, interval: 0.2s}}
""")
    catcher = Catcher()
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("catcher", catcher)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(path, registry), pm, registry)
    stop_event, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop_event, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await catcher.changes.wait(lambda: catcher.alerts)
        assert runtime.state.services["files"].status.label == "operational"
        assert not runtime.store_ready and not runtime.incidents.ready
    finally:
        stop_event.set()
        await asyncio.wait_for(task, 20)
    [alert] = catcher.alerts
    assert alert.code == "store.unreachable"
    # the engine, the ticker and the outbox waited quietly: no failure logged every tick
    noisy = [r for r in caplog.records if r.name.startswith("monitor.incidents")
             and r.levelno >= logging.WARNING]
    assert noisy == [], [r.getMessage() for r in noisy]


async def test_the_store_is_tried_again_with_a_doubling_wait_and_a_problem_said_once(
        monkeypatch, caplog):
    """The reconnect loop (tenacity): waits 1, 2, 4… s up to the cap; a transient error is
    silent, a lasting problem is logged once; the buffered results are then written."""
    from types import SimpleNamespace

    from sqlalchemy.exc import OperationalError

    import monitor.runtime_store as store_module

    monkeypatch.setattr(store_module, "STORE_RETRY_MAX", 5.0)
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float, *args, **kwargs):
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    outcomes = [OperationalError("SELECT 1", {}, Exception("refused"))] * 3 + [
        RuntimeError("no table"), RuntimeError("no table"), {"web/home": "kept"}]
    opened = []

    def open_store():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def store_opened(stored, late):
        opened.append((stored, late))

    fake = SimpleNamespace(_open_store=open_store, _store_opened=store_opened,
                           store=SimpleNamespace(safe_url="sqlite:///x"),
                           writer_stats=SimpleNamespace(buffered=3))
    with caplog.at_level(logging.ERROR, logger="monitor.runtime_store"):
        await Runtime._retry_store(fake)
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert opened == [({"web/home": "kept"}, True)]
    assert [r.getMessage() for r in caplog.records] == [
        "database sqlite:///x: RuntimeError: no table; retrying"]
