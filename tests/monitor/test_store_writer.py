"""The result writer thread: batches, flushes, buffering while PostgreSQL is cut off by a
real TCP proxy, overflow, refused rows, and a writer process killed with SIGKILL."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from monitor.config_loader import load_config
from monitor.plugins import ProbeKind, ProbeRegistry
from monitor.probe import Probe, ProbeResult, Status
from monitor.state import ServiceStatus, StateBook
from monitor.stats import WriterStats
from monitor.store import CheckChange, ResultRecord, ResultWriter, ServiceChange, Store
from monitor.store.models import CheckStatusChange, ResultRow, ServiceStatusChange

T0 = 1_700_000_000.0
ROOT = Path(__file__).resolve().parents[2]

CATALOG = """
services:
  - id: web
    name: Web
    checks:
      - {id: http, kind: noop, confirm: 1}
"""


class NoopProbe(Probe):
    """A probe kind for building configurations; never run here."""

    kind = "noop"

    async def check(self, config, ctx):
        return ProbeResult.up()


def load(tmp_path):
    registry = ProbeRegistry({"noop": ProbeKind("noop", NoopProbe, NoopProbe(), "test")})
    path = tmp_path / "vigie.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    return load_config(path, registry)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A SQLite file in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


def open_store(url: str, tmp_path) -> Store:
    store = Store(url)
    store.upgrade()
    store.sync_catalog(load(tmp_path))
    return store


def record(i: int, status: Status = Status.UP) -> ResultRecord:
    return ResultRecord("web/http", T0 + i, status, 0.001 * i)


def stored_times(store: Store) -> list[float]:
    with store.engine.connect() as conn:
        return list(conn.scalars(select(ResultRow.started_at).order_by(ResultRow.started_at)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WatchedStats(WriterStats):
    """The writer's counters, which wake a test waiting on them at each change (the writer
    thread sets them as it goes)."""

    def __init__(self) -> None:
        object.__setattr__(self, "_changed", threading.Condition())
        super().__init__()

    def __setattr__(self, name: str, value) -> None:
        with self._changed:
            super().__setattr__(name, value)
            self._changed.notify_all()

    def wait_for(self, condition, what: str, timeout: float = 30.0) -> None:
        """Return once ``condition()`` holds, checked at each change; fail after
        ``timeout`` seconds (only stops a hung test)."""
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise AssertionError(f"timed out waiting for {what}")


class NotedWaits:
    """The writer thread's waits (``ResultWriter(wait=…)``), as threading.Event.wait does
    them, each noted: (seconds, woken by its event rather than the time, rows written
    when it ended)."""

    def __init__(self, stats: WriterStats) -> None:
        self.stats = stats
        self.log: list[tuple[float, bool, int]] = []

    def __call__(self, event: threading.Event, seconds: float) -> bool:
        woken = event.wait(seconds)
        self.log.append((seconds, woken, self.stats.written))
        return woken


# Batches ------------------------------------------------------------------------------------


def test_full_batches_go_at_once(store_url, tmp_path):
    store = open_store(store_url, tmp_path)
    stats = WatchedStats()
    # an hour's flush interval: only a full batch can be written while the test waits
    writer = ResultWriter(store, stats, batch_size=50, flush_interval=3600.0)
    writer.start()
    try:
        for i in range(100):
            writer.submit(record(i))
        stats.wait_for(lambda: stats.written == 100, "two full batches")
        assert stats.buffered == 0
    finally:
        writer.stop()
        store.dispose()


def test_a_lone_row_waits_for_the_flush_interval(store_url, tmp_path):
    store = open_store(store_url, tmp_path)
    stats = WatchedStats()
    waits = NotedWaits(stats)
    writer = ResultWriter(store, stats, batch_size=50, flush_interval=0.05, wait=waits)
    writer.start()
    try:
        writer.submit(record(0))
        stats.wait_for(lambda: stats.written == 1, "the flush")
        assert stats.buffered == 0 and stats.database_up and stats.last_write_at > 0
    finally:
        writer.stop()
        store.dispose()
    assert stored_times(store) == [T0]
    # the row did not wake the thread: it went when a wait of the flush interval ran out
    before_the_write = [(seconds, woken) for seconds, woken, written in waits.log
                        if written == 0]
    assert before_the_write[-1] == (0.05, False)


def test_stop_flushes_results_and_transitions(store_url, tmp_path):
    config = load(tmp_path)
    store = open_store(store_url, tmp_path)
    stats = WriterStats()
    writer = ResultWriter(store, stats, batch_size=1000, flush_interval=60)
    writer.start()
    book = StateBook(config.services)
    for i, status in enumerate([Status.UP, Status.UP, Status.DOWN]):
        result = ProbeResult(status, started_at=T0 + i, duration=0.2)
        writer.submit(ResultRecord.from_result("web/http", result))
        for transition in book.apply("web/http", result):
            writer.submit_transition(transition)
    writer.stop(timeout=10)
    assert not writer.running and stats.written == 3 and stats.buffered == 0
    try:
        assert len(stored_times(store)) == 3
        assert store.latest_check_statuses() == {"web/http": (Status.DOWN, T0 + 2)}
        assert store.latest_service_statuses() == {
            "web": (ServiceStatus.MAJOR_OUTAGE, T0 + 2)}
        with store.session() as session:
            assert session.scalar(select(func.count()).select_from(CheckStatusChange)) == 2
            assert session.scalar(select(func.count()).select_from(ServiceStatusChange)) == 2
    finally:
        store.dispose()


def test_a_refused_row_is_dropped_and_the_rest_written(store_url, tmp_path):
    store = open_store(store_url, tmp_path)
    stats = WatchedStats()
    writer = ResultWriter(store, stats, batch_size=100, flush_interval=0.05)
    rows = [record(i) for i in range(10)]
    rows[6] = ResultRecord("web/http", T0 + 6, Status.UP, "slow")  # type: ignore[arg-type]  # wrong on purpose
    writer.start()
    for row in rows:
        writer.submit(row)
    writer.submit_change(CheckChange("web/http", T0, None, Status.UP))
    try:
        stats.wait_for(lambda: stats.written == 9, "the good rows")
        assert (stats.dropped, stats.write_errors) == (1, 1)
        assert stored_times(store) == [T0 + i for i in range(10) if i != 6]
        assert store.latest_check_statuses() == {"web/http": (Status.UP, T0)}
    finally:
        writer.stop()
        store.dispose()


# The database goes away ---------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``. ``cut()`` closes every connection and the
    listener (connections are refused, as when the server is down); ``restore()`` listens
    again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listening = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    def restore(self) -> None:
        """Accept connections again."""
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.05)
        self._listening.set()
        self._acceptor = threading.Thread(target=self._accept, args=(self._listener,),
                                          daemon=True)
        self._acceptor.start()

    start = restore

    def cut(self) -> None:
        """Drop every connection and refuse new ones."""
        self._listening.clear()
        assert self._acceptor is not None and self._listener is not None
        self._acceptor.join()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self._listening.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def proxied_postgres(postgres_schema_url):
    """A PostgreSQL URL that goes through a TcpProxy, and the proxy."""
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.start()
    url = sa.engine.make_url(postgres_schema_url).set(host="127.0.0.1", port=proxy.port)
    yield url.render_as_string(hide_password=False), proxy
    if proxy._listening.is_set():
        proxy.cut()


def test_writer_buffers_while_postgres_is_away_and_drops_the_oldest(
        proxied_postgres, tmp_path, caplog):
    url, proxy = proxied_postgres
    caplog.set_level(logging.INFO, logger="monitor.store.writer")
    store = open_store(url, tmp_path)
    stats = WatchedStats()
    writer = ResultWriter(store, stats, batch_size=10, flush_interval=0.05,
                          buffer_limit=100, retry_interval=0.05)
    writer.start()
    try:
        for i in range(5):
            writer.submit(record(i))
        stats.wait_for(lambda: stats.written == 5, "the first rows")

        proxy.cut()
        writer.submit(record(5))
        stats.wait_for(lambda: not stats.database_up, "the writer to notice")
        # the writer holds row 5 and retries; 150 more arrive, the queue keeps 100
        for i in range(6, 156):
            writer.submit(record(i))
        writer.submit_change(ServiceChange("web", T0 + 155, None, ServiceStatus.MAJOR_OUTAGE))
        assert stats.dropped == 50
        assert stats.buffered == 1 + 100 + 1
        errors = stats.write_errors
        stats.wait_for(lambda: stats.write_errors >= errors + 3, "a few retries")
        assert stats.written == 5

        proxy.restore()
        stats.wait_for(lambda: stats.buffered == 0, "the buffer to drain")
        assert stats.database_up
        assert stats.written == 5 + 1 + 100
    finally:
        writer.stop()
        store.dispose()
    store = Store(url)
    try:
        # rows 6-55 were the oldest queued when the buffer overflowed
        assert stored_times(store) == [T0 + i for i in (*range(6), *range(56, 156))]
        assert store.latest_service_statuses() == {
            "web": (ServiceStatus.MAJOR_OUTAGE, T0 + 155)}
    finally:
        store.dispose()
    messages = [r.getMessage() for r in caplog.records if r.name == "monitor.store.writer"]
    assert sum("database unreachable" in m for m in messages) == 1  # not once per retry
    assert sum("reachable again" in m for m in messages) == 1
    assert sum("buffer full" in m for m in messages) == 1


def test_stop_while_the_database_is_away_gives_up_and_counts(proxied_postgres, tmp_path):
    url, proxy = proxied_postgres
    store = open_store(url, tmp_path)
    stats = WatchedStats()
    writer = ResultWriter(store, stats, batch_size=10, flush_interval=0.05,
                          retry_interval=60)
    writer.start()
    proxy.cut()
    for i in range(25):
        writer.submit(record(i))
    stats.wait_for(lambda: not stats.database_up, "the writer to notice")
    writer.stop(timeout=10)
    try:
        assert not writer.running  # the 60 s retry wait was interrupted, not waited out
        assert (stats.written, stats.dropped, stats.buffered) == (0, 25, 0)
    finally:
        store.dispose()


# kill -9 ------------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys, time
    from monitor.probe import Status
    from monitor.stats import WriterStats
    from monitor.store import ResultRecord, ResultWriter, Store

    class Said(WriterStats):  # says how many rows are written, after each batch
        def __setattr__(self, name, value):
            super().__setattr__(name, value)
            if name == "written":
                print(value, flush=True)

    url, total = sys.argv[1], int(sys.argv[2])
    store = Store(url)
    writer = ResultWriter(store, Said(), batch_size=200, flush_interval=0.01)
    writer.start()
    for i in range(total):
        writer.submit(ResultRecord("web/http", 1_700_000_000.0 + i, Status.UP, 0.01))
        if i % 50 == 0:
            time.sleep(0.003)  # slow peer: a steady stream, so the kill lands mid-run
    writer.stop(timeout=120)
""")


def test_kill_9_mid_writing_then_restart_keeps_history_without_duplicates(
        store_url, tmp_path):
    total = 6000
    store = open_store(store_url, tmp_path)
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(script), store_url, str(total)]
    try:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 text=True)
        watchdog = threading.Timer(60, child.kill)  # only stops a hung child
        watchdog.start()
        try:
            # the child says how many rows it has written (committed), batch after batch
            assert any(int(line) >= 600 for line in child.stdout), "the child to write"
        finally:
            watchdog.cancel()
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        assert child.returncode == -signal.SIGKILL
        committed = stored_times(store)
        assert 600 <= len(committed) < total, "the kill must land mid-run"

        # restart (a fresh engine and writer, as a new process would have) and submit
        # everything again, as a replaying source would
        restarted = Store(store_url)
        stats = WriterStats()
        writer = ResultWriter(restarted, stats, batch_size=500, flush_interval=0.01)
        writer.start()
        for i in range(total):
            writer.submit(record(i))
        writer.stop(timeout=60)
        restarted.dispose()
        assert stats.written == total - len(committed)
        final = stored_times(store)
        assert final == [T0 + i for i in range(total)]  # no gap, no duplicate
        assert set(committed) <= set(final)
        if store.dialect == "sqlite":
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        store.dispose()
