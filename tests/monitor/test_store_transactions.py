"""Write transactions: on SQLite they begin with BEGIN IMMEDIATE, so a transaction that
reads then writes cannot fail when another connection commits in between; reads stay
deferred and never take the write lock."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from monitor.store import Store
from monitor.store.models import ServiceRow


@pytest.fixture
def sqlite_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    store.upgrade()
    yield store
    store.dispose()


def _add_service(conn_or_session, service_id: str) -> None:
    conn_or_session.execute(text(
        "INSERT INTO services (id, name_fr, position, active) VALUES (:id, :id, 0, true)"),
        {"id": service_id})


def _services(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.scalars(select(ServiceRow.id)))


def test_a_deferred_transaction_fails_when_another_commits_between_read_and_write(
        sqlite_store):
    """The failure the write sessions avoid (SQLITE_BUSY_SNAPSHOT): not waited out by the
    busy timeout. If SQLite ever stops doing this, the test below proves less."""
    with pytest.raises(OperationalError, match="database is locked"):
        with sqlite_store.session() as session, session.begin():
            session.scalar(select(func.count()).select_from(ServiceRow))  # snapshot taken
            with sqlite_store.engine.begin() as other:  # the result writer, say
                _add_service(other, "other")
            _add_service(session, "mine")
    assert _services(sqlite_store) == {"other"}


def test_a_write_session_holds_the_write_lock_from_its_start(sqlite_store):
    """A writer arriving after the read waits for the commit instead of slipping in."""
    reached, finished, failures = threading.Event(), threading.Event(), []

    def other_writer() -> None:
        reached.set()
        try:
            with sqlite_store.engine.begin() as other:  # waits up to the busy timeout
                _add_service(other, "other")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)
        finished.set()

    with sqlite_store.write_session() as session, session.begin():
        session.scalar(select(func.count()).select_from(ServiceRow))
        thread = threading.Thread(target=other_writer)
        thread.start()
        reached.wait()
        # give it time to commit, were it able to: it cannot, this transaction holds the
        # lock (it would wait up to the 5 s busy timeout); with a deferred BEGIN it commits
        # and the write below fails
        assert not finished.wait(0.5)
        _add_service(session, "mine")
    thread.join()
    assert failures == []
    assert _services(sqlite_store) == {"mine", "other"}


def test_write_sessions_take_the_lock_at_begin_and_reads_do_not(sqlite_store, tmp_path):
    probe = sqlite3.connect(tmp_path / "vigie.sqlite", timeout=0, isolation_level=None)

    def can_write() -> bool:
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        probe.execute("ROLLBACK")
        return True

    with sqlite_store.session() as session, session.begin():
        session.scalar(select(func.count()).select_from(ServiceRow))
        assert can_write()  # a read transaction leaves the writer alone
    with sqlite_store.write_session() as session, session.begin():
        session.scalar(select(func.count()).select_from(ServiceRow))
        assert not can_write()
    with sqlite_store.write_engine.begin() as conn:
        conn.execute(text("SELECT 1"))
        assert not can_write()
    assert can_write()
    probe.close()


def test_write_sessions_on_postgresql(postgres_schema_url):
    store = Store(postgres_schema_url)
    store.upgrade()
    try:
        with store.write_session() as session, session.begin():
            session.scalar(select(func.count()).select_from(ServiceRow))
            _add_service(session, "mine")
        assert _services(store) == {"mine"}
    finally:
        store.dispose()
