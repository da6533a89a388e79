"""The feed of check transitions on the real PostgreSQL: ids become visible in the order
they were taken (a writer holding the head makes the next wait), so a leader reading
``id > cursor`` never misses one committed late; a new leader's picture is every check as
of the cursor (the transitions after it undone); the cursor only moves on."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from monitor.cluster.feed import FeedReader, append_feed
from monitor.probe import Status, reason
from monitor.store import Store
from monitor.store.records import CheckStateRecord, FeedTransition
from tests.monitor.test_store import load

T0 = 1_800_000_000.0


@pytest.fixture
def store(postgres_schema_url, tmp_path):
    store = Store(postgres_schema_url)
    store.upgrade()
    store.sync_catalog(load(tmp_path))
    yield store
    store.dispose()


def fed(key: str, previous, current, at: float, since: float | None = None,
        node: str = "a") -> FeedTransition:
    why = None if current == Status.UP else reason("test.fail", "En panne", "Down")
    return FeedTransition(key, previous, since, current, at, 0.1, why, node)


def ids(store: Store) -> list[int]:
    return [t.id for t in FeedReader(store).read_after(0)]


def test_transitions_are_read_back_in_order_with_their_reasons(store):
    store.write_batch([], feed=[fed("web/http", None, Status.UP, T0),
                                fed("web/http", Status.UP, Status.DOWN, T0 + 30, T0)])
    store.write_batch([], feed=[fed("mail/smtp", None, Status.DEGRADED, T0 + 40, node="b")])

    read = FeedReader(store).read_after(0)

    assert [(t.id, t.check_key, t.previous, t.current, t.node) for t in read] == [
        (1, "web/http", None, Status.UP, "a"), (2, "web/http", Status.UP, Status.DOWN, "a"),
        (3, "mail/smtp", None, Status.DEGRADED, "b")]
    assert read[1].previous_since == T0 and read[1].reason.code == "test.fail"
    assert read[1].reason.fr == "En panne" and read[1].reason.en == "Down"
    assert [t.id for t in FeedReader(store).read_after(2)] == [3]
    # a batch written again after an ambiguous failure adds nothing
    store.write_batch([], feed=[fed("mail/smtp", None, Status.DEGRADED, T0 + 40, node="b")])
    assert ids(store) == [1, 2, 3]


def test_a_writer_holding_the_head_makes_the_next_wait_so_ids_appear_in_order(store):
    """Writer 1 takes id 1 and has not committed; writer 2 waits for the head, so the
    leader can never see id 2 before id 1."""
    check_ids = {"web/http": 1, "web/db": 2}
    with store.engine.connect() as conn:
        check_ids = dict(conn.execute(text("SELECT key, id FROM checks")).all())
    first = store.engine.connect()
    first.begin()
    append_feed(first, [fed("web/http", None, Status.UP, T0)], check_ids)
    waiting = threading.Event()
    done = threading.Event()

    def second() -> None:
        waiting.set()
        store.write_batch([], feed=[fed("web/db", None, Status.UP, T0 + 1)])
        done.set()

    thread = threading.Thread(target=second)
    thread.start()
    waiting.wait()
    with store.engine.connect() as watcher:  # until the second writer waits on the head
        while not watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND query LIKE 'UPDATE cluster_feed%'")
                ).scalar_one():
            watcher.rollback()  # (the activity view is read once per transaction)
            assert not done.is_set(), "the second writer did not wait for the head"
    assert ids(store) == [] and not done.is_set()
    first.commit()
    first.close()
    thread.join()
    assert [(t.id, t.check_key) for t in FeedReader(store).read_after(0)] == [
        (1, "web/http"), (2, "web/db")]


def test_a_new_leader_s_picture_is_every_check_as_of_the_cursor(store):
    """The states stored now, with the transitions after the cursor undone: the checks'
    statuses as the previous leader had applied them."""
    store.write_batch([], states=[CheckStateRecord("web/http", Status.UP, T0, 0, T0)],
                      feed=[fed("web/http", None, Status.UP, T0)])
    with store.engine.begin() as conn:
        FeedReader.advance(conn, 1)
    # after the cursor: http goes down then degraded, smtp gets its first verdict
    store.write_batch([], states=[CheckStateRecord("web/http", Status.DOWN, T0 + 30, 0,
                                                   T0 + 30)],
                      feed=[fed("web/http", Status.UP, Status.DOWN, T0 + 30, since=T0)])
    store.write_batch([], states=[
        CheckStateRecord("web/http", Status.DEGRADED, T0 + 60, 0, T0 + 60),
        CheckStateRecord("mail/smtp", Status.UP, T0 + 61, 0, T0 + 61)],
        feed=[fed("web/http", Status.DOWN, Status.DEGRADED, T0 + 60, since=T0 + 30),
              fed("mail/smtp", None, Status.UP, T0 + 61)])

    snapshot = FeedReader(store).snapshot(["web/http", "web/db", "mail/smtp"])

    assert snapshot.cursor == 1
    assert snapshot.statuses == {"web/http": (Status.UP, T0), "web/db": (None, None),
                                 "mail/smtp": (None, None)}


def test_the_cursor_only_moves_on(store):
    reader = FeedReader(store)
    with store.engine.begin() as conn:
        reader.advance(conn, 5)
        reader.advance(conn, 3)  # a late leader's older position
    assert reader.snapshot([]).cursor == 5


def test_only_transitions_applied_and_older_than_the_limit_are_pruned(store):
    store.write_batch([], feed=[fed("web/http", None, Status.UP, T0),
                                fed("web/db", None, Status.UP, T0 + 100),
                                fed("mail/smtp", None, Status.UP, T0)])
    with store.engine.begin() as conn:
        FeedReader.advance(conn, 2)
        assert FeedReader.prune(conn, before=T0 + 50) == 1  # id 1; id 3 not applied yet
    assert ids(store) == [2, 3]


def test_the_listener_is_woken_by_an_owner_s_commit(store):
    """The leader hears of a transition at the owner's commit (NOTIFY), not at its next
    read of the feed; and once when it (re)connects, for what it may have missed."""
    from monitor.cluster.feed import Listener

    woken: list[int] = []
    changed = threading.Condition()

    def wake() -> None:
        with changed:
            woken.append(1)
            changed.notify_all()

    listener = Listener(store.url, wake)
    listener.start()
    try:
        with changed:
            assert changed.wait_for(lambda: listener.listening and woken, 30)
        store.write_batch([], feed=[fed("web/http", None, Status.UP, T0)])
        with changed:
            assert changed.wait_for(lambda: len(woken) >= 2, 30), "no wake at the commit"
    finally:
        listener.stop()
