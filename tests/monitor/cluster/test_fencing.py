"""The leader's side effects fenced by its tenure, on the real PostgreSQL: the incident
engine writes nothing and tells nothing once another node leads; the outbox worker
delivers nothing (the entry stays pending for the next leader); a fence that fails tells
the node at once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from monitor.cluster.errors import Fenced
from monitor.cluster.fencing import TenureFence, fenced_sessions
from monitor.incidents.engine import IncidentEngine, StatusChange
from monitor.incidents.models import Incident, OutboxEntry
from monitor.incidents.outbox import OutboxWorker
from monitor.probe import Status
from tests.monitor.cluster.test_node import FakeTime, beat_b, two_nodes
from tests.monitor.test_incidents import build_harness
from tests.monitor.test_outbox import Poster, receiver_factory  # noqa: F401 (a fixture)


@pytest.fixture
def time(clock) -> FakeTime:
    return FakeTime(clock)


@pytest.fixture
def harness(postgres_schema_url, tmp_path):
    h = build_harness(postgres_schema_url, tmp_path)
    yield h
    h.store.dispose()


async def leaders(h, settings, time):
    """Nodes a (leading, epoch 1) and b on the harness's database."""
    return await two_nodes(h.store.engine, settings, time, [])


def count(h, model) -> int:
    with h.store.session() as s:
        return s.scalar(select(func.count()).select_from(model))


async def test_a_fenced_session_writes_while_leading_and_nothing_once_another_leads(
        harness, settings, time):
    h = harness
    a, b = await leaders(h, settings, time)
    told = []
    sessions = fenced_sessions(h.store, TenureFence(a, 1, on_fenced=lambda: told.append(1)))
    insert = text("INSERT INTO services (id, name_fr, position, active) "
                  "VALUES (:id, 'x', 0, true)")
    with sessions() as session, session.begin():
        session.execute(insert, {"id": "while-leading"})
    # the lease expires by the database's clock (a's own clock has not moved: it still
    # believes it leads), and b takes it (epoch 2): the row says what a does not know
    time.clock.advance(settings.lease)
    await b.step()
    assert b.epoch == 2 and a.epoch == 1 and TenureFence(a, 1).valid()
    with pytest.raises(Fenced), sessions() as session, session.begin():
        session.execute(insert, {"id": "after-takeover"})
    with h.store.session() as s:
        ids = set(s.scalars(text("SELECT id FROM services")))
    assert "while-leading" in ids and "after-takeover" not in ids
    assert told == [1]


async def test_the_fence_is_valid_by_the_node_s_own_clock_only_within_its_lease(
        harness, settings, time):
    a, _ = await leaders(harness, settings, time)
    fence = TenureFence(a, 1)
    assert fence.valid()
    time.advance(settings.lease)  # no renewal for a lease: a paused process knows at once
    assert not fence.valid()
    assert not TenureFence(a, 2).valid()  # not its epoch


async def test_a_fenced_engine_writes_no_incident_and_sends_no_direct_alert(
        harness, settings, time):
    h = harness
    a, b = await leaders(h, settings, time)
    held = []
    engine = IncidentEngine(fenced_sessions(h.store, TenureFence(a, 1)), h.ctx,
                            on_held=held.append)
    await beat_b(b, time, 15)
    h.confirm("web/http", Status.DOWN)  # the harness's own engine is not fenced…
    h.engine = engine  # …this one is: the same change through it
    service = h.state.services["web"]
    engine.on_change(StatusChange.of(service, None, service.status, h.clock.now))
    assert engine.fenced and held == []
    assert count(h, Incident) == 1  # the harness's, not the fenced engine's


async def test_a_fenced_leader_delivers_nothing_and_the_next_leader_does(
        harness, settings, time, receiver_factory):
    h = harness
    receiver = await receiver_factory()
    from monitor.plugins import build_plugin_manager

    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("poster", Poster(receiver.url))])
    from monitor.incidents.context import IncidentContext

    h.ctx = IncidentContext.build(h.config, pm, clock=h.clock)
    h.engine.ctx = h.ctx
    a, b = await leaders(h, settings, time)
    h.confirm("web/http", Status.DOWN)
    [entry] = [e for e in h.outbox() if e.plugin == "poster"]
    told = []
    old = OutboxWorker(h.store.session, pm, fence=TenureFence(a, 1, lambda: told.append(1)),
                       write_sessions=fenced_sessions(h.store, TenureFence(a, 1)))
    await beat_b(b, time, 15)  # a paused for a lease: b leads under epoch 2

    await old.run_once()
    assert receiver.requests == [] and told == [1]
    with h.store.session() as s:
        assert s.get(OutboxEntry, entry.id).status == "pending"

    new = OutboxWorker(h.store.session, pm, fence=TenureFence(b, 2),
                       write_sessions=fenced_sessions(h.store, TenureFence(b, 2)))
    await new.run_once()
    assert len(receiver.accepted) == 1
    with h.store.session() as s:
        assert s.get(OutboxEntry, entry.id).status == "delivered"
