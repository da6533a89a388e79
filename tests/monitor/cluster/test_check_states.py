"""The checks' hidden state shared through the database (cluster mode): the owner writes
it with its results when it changes, the node taking a check over reads it, so the
confirmation count survives a hand-over and nothing flaps."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from monitor.cluster.models import CheckStateRow
from monitor.config_loader import load_config
from monitor.plugins import ProbeKind, ProbeRegistry, build_plugin_manager
from monitor.probe import ProbeResult, Status, reason
from monitor.runtime import Runtime
from monitor.state import CheckTransition, StateBook
from monitor.stats import WriterStats
from monitor.store import CheckChange, ResultRecord, ResultWriter, Store
from monitor.store.records import CheckStateRecord, StoredCheckState
from tests.monitor.test_store import CATALOG, NoopProbe, load

T0 = 1_800_000_000.0


@pytest.fixture
def store(postgres_schema_url, tmp_path):
    """A migrated PostgreSQL store holding the catalog of test_store (web/http, web/db,
    mail/smtp)."""
    store = Store(postgres_schema_url)
    store.upgrade()
    store.sync_catalog(load(tmp_path))
    yield store
    store.dispose()


def states_rows(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(CheckStateRow))


def test_a_state_written_with_results_is_read_back_with_the_last_run(store):
    store.write_batch(
        [ResultRecord("web/http", T0, Status.UP, 0.1),
         ResultRecord("web/http", T0 + 60, Status.DOWN, 0.1)],
        states=[CheckStateRecord("web/http", Status.UP, T0 - 500, 1, T0 + 60)])

    found = store.check_states(["web/http", "web/db", "no/such"])

    assert found["web/http"] == StoredCheckState(Status.UP, T0 - 500, 1, T0 + 60)
    # never run, never judged: nothing pending, no last run
    assert found["web/db"] == StoredCheckState(None, None, 0, None)
    assert "no/such" not in found


def test_an_older_state_never_replaces_a_newer_one(store):
    store.write_batch([], states=[CheckStateRecord("web/http", Status.DOWN, T0, 0, T0 + 30)])
    # a late batch of the previous owner (written after the new owner's)
    store.write_batch([], states=[CheckStateRecord("web/http", Status.UP, T0 - 100, 1, T0)])
    # one batch holding two states of one check: the newer is kept
    store.write_batch([], states=[
        CheckStateRecord("mail/smtp", Status.UP, T0, 1, T0 + 10),
        CheckStateRecord("mail/smtp", Status.DOWN, T0 + 20, 0, T0 + 20)])

    found = store.check_states(["web/http", "mail/smtp"])

    assert (found["web/http"].status, found["web/http"].failures) == (Status.DOWN, 0)
    assert (found["mail/smtp"].status, found["mail/smtp"].since) == (Status.DOWN, T0 + 20)
    assert states_rows(store) == 2


def test_without_a_state_the_last_confirmed_status_is_taken(store):
    """A check whose owner never wrote a state (a database of a single Vigie that becomes
    a cluster): its last status change, with no failure pending."""
    store.write_batch([], [CheckChange("web/db", T0, None, Status.UP),
                           CheckChange("web/db", T0 + 50, Status.UP, Status.DEGRADED)])

    assert store.check_states(["web/db"])["web/db"] == StoredCheckState(
        Status.DEGRADED, T0 + 50, 0, None)


def test_the_writer_writes_states_in_the_results_transaction(store):
    stats = WriterStats()
    writer = ResultWriter(store, stats, flush_interval=60)
    writer.start()
    try:
        writer.submit(ResultRecord("web/http", T0, Status.DOWN, 0.2))
        writer.submit_state(CheckStateRecord("web/http", Status.UP, T0 - 10, 1, T0))
    finally:
        writer.stop()

    assert stats.written == 1 and stats.buffered == 0
    assert store.check_states(["web/http"])["web/http"] == StoredCheckState(
        Status.UP, T0 - 10, 1, T0)


def failed(at: float) -> ProbeResult:
    result = ProbeResult.down(reason("test.refused", "refused"))
    result.started_at = at
    return result


def test_the_confirmation_count_survives_a_hand_over(tmp_path):
    """confirm: 2 — one failure seen by the first owner, one by the next: down."""
    config = load(tmp_path, CATALOG.replace("{id: db, kind: noop}",
                                            "{id: db, kind: noop, confirm: 2}"))
    first, second = StateBook(config.services), StateBook(config.services)
    first.restore("web/db", Status.UP, T0 - 100)
    assert first.apply("web/db", failed(T0)) == []
    left = first.checks["web/db"]

    second.checks["web/db"].take_over(left.status, left.since, left.failures)
    transitions = second.apply("web/db", failed(T0 + 30))

    assert [(t.previous, t.current) for t in transitions if isinstance(t, CheckTransition)] \
        == [(Status.UP, Status.DOWN)]
    # and taken over without the failure, the same failure confirms nothing
    fresh = StateBook(config.services)
    fresh.checks["web/db"].take_over(Status.UP, T0 - 100, 0)
    assert fresh.apply("web/db", failed(T0 + 30)) == []
    assert fresh.checks["web/db"].pending


def _runtime(tmp_path, url: str, cluster: bool) -> Runtime:
    pm = build_plugin_manager(load_entry_points=False)
    registry = ProbeRegistry({"noop": ProbeKind("noop", NoopProbe, NoopProbe(), "test")})
    path = tmp_path / "vigie.yaml"
    path.write_text(CATALOG.replace("{id: db, kind: noop}", "{id: db, kind: noop, confirm: 3}")
                    + f"store: {{url: '{url}'}}\n"
                    + ("cluster: {enabled: true, node: n1}\n" if cluster else ""),
                    encoding="utf-8")
    return Runtime(load_config(path, registry), pm, registry)


@pytest.mark.parametrize("cluster", [True, False])
def test_the_owner_writes_the_state_when_it_changes_and_only_in_cluster_mode(
        tmp_path, postgres_schema_url, cluster):
    runtime = _runtime(tmp_path, postgres_schema_url, cluster)
    runtime.store.upgrade()
    runtime.store.sync_catalog(runtime.config)
    check = runtime._checks["web/db"]
    queued: list[CheckStateRecord] = []
    written = threading.Event()
    runtime.writer.submit_state = lambda record: (queued.append(record), written.set())
    try:
        up = ProbeResult.up()
        up.started_at = T0
        for result in (up, up, failed(T0 + 1), failed(T0 + 2), failed(T0 + 3), failed(T0 + 4)):
            runtime.on_result(check, result)
    finally:
        runtime.store.dispose()

    if not cluster:
        assert queued == [] and not runtime.shares_state
        return
    # first verdict, failure 1, failure 2, down (failures back to 0); a repeat writes nothing
    assert [(r.status, r.failures, r.at) for r in queued] == [
        (Status.UP, 0, T0), (Status.UP, 1, T0 + 1), (Status.UP, 2, T0 + 2),
        (Status.DOWN, 0, T0 + 3)]
