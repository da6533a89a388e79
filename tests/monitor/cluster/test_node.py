"""ClusterNode on the real PostgreSQL, driven by a clock the test moves: nodes share the
checks and one leads; a node that dies loses its checks within the detection time and its
lease within the lease; a node cut from the database stands down by its own deadlines and
comes back when it answers; a graceful stop hands over at once."""

from __future__ import annotations

import asyncio
import logging

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from monitor.cluster.clock import Clock
from monitor.cluster.errors import Fenced, NodeNameTaken, NodeReplaced
from monitor.cluster.metrics import ClusterCollector
from monitor.cluster.node import ClusterNode
from monitor.cluster.ownership import check_key
from monitor.cluster.settings import ClusterSettings
from monitor.store import Store
from tests.monitor.test_store_writer import TcpProxy

KEYS = [check_key(f"service-{i}", "check") for i in range(200)]


class FakeTime:
    """The node's monotonic clock and its sleep, moving the database's clock with them."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.now = 0.0
        self.sleeps: list[float] = []
        #: run() is cancelled at this sleep
        self.stop_after: int | None = None

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.clock.advance(seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        if self.stop_after is not None and len(self.sleeps) >= self.stop_after:
            raise asyncio.CancelledError
        self.advance(seconds)


@pytest.fixture
def time(clock) -> FakeTime:
    return FakeTime(clock)


@pytest.fixture
def events() -> list:
    return []


def node(engine, settings: ClusterSettings, time: FakeTime, name: str, events: list,
         **kw) -> ClusterNode:
    def on_live(live):
        events.append((name, "live", live, time.now))

    def on_leader(epoch):
        events.append((name, "leader", epoch, time.now))

    return ClusterNode(engine, settings.model_copy(update={"node": name}), clock=time.clock,
                       monotonic=time.monotonic, sleep=time.sleep,
                       on_membership_change=on_live, on_leadership=on_leader, **kw)


async def two_nodes(engine, settings, time, events) -> tuple[ClusterNode, ClusterNode]:
    a, b = node(engine, settings, time, "a", events), node(engine, settings, time, "b", events)
    await a.start()
    await a.step()
    await b.start()
    await b.step()
    await a.step()
    return a, b


async def beat_b(b: ClusterNode, time: FakeTime, seconds: float) -> None:
    """b alone beats, every heartbeat, for ``seconds``."""
    for _ in range(round(seconds / b.settings.heartbeat)):
        time.advance(b.settings.heartbeat)
        await b.step()


def test_a_running_node_waits_half_a_heartbeat_for_the_lease_row(settings, time):
    a = node(sa.create_engine("postgresql+psycopg://"), settings, time, "a", [])
    assert (a.leadership.lock_wait, a.leadership.hold_limit) == (2.5, 15.0)


async def test_two_nodes_share_the_checks_and_one_leads(engine, settings, time, events):
    a, b = await two_nodes(engine, settings, time, events)
    assert events == [("a", "live", ("a",), 0.0), ("a", "leader", 1, 0.0),
                      ("b", "live", ("a", "b"), 0.0), ("a", "live", ("a", "b"), 0.0)]
    assert (a.leader, a.epoch, b.leader, b.epoch) == (True, 1, False, None)
    assert a.fencing_epoch == b.fencing_epoch == 1
    mine, theirs = a.owned(KEYS), b.owned(KEYS)
    assert mine and theirs and sorted(mine + theirs) == sorted(KEYS)
    assert all(a.owns(k) != b.owns(k) for k in KEYS)
    with engine.begin() as conn:
        a.fence(conn)
        with pytest.raises(Fenced, match="does not lead"):
            b.fence(conn)


async def test_a_dead_leader_s_checks_and_lease_move_in_time(engine, settings, time, events):
    a, b = await two_nodes(engine, settings, time, events)
    events.clear()
    # a dies (or is paused) right after its beat at 0: its lease ends at 15, its last
    # heartbeat is too old at 15 + a bit; b beats every 5 s
    await beat_b(b, time, 15)
    assert events == [("b", "leader", 2, 15.0)]
    await beat_b(b, time, 5)
    assert events[1:] == [("b", "live", ("b",), 20.0)]
    assert b.owned(KEYS) == KEYS and b.fencing_epoch == 2
    # a wakes up: it still believes it leads under epoch 1; its fence says otherwise
    assert a.epoch == 1
    with engine.begin() as conn:
        with pytest.raises(Fenced):
            a.fence(conn)
    # at its next beat it is live again, and learns it does not lead
    await a.step()
    assert events[2:] == [("a", "leader", None, 20.0)]
    assert a.live == ("a", "b")
    await b.step()
    assert events[3:] == [("b", "live", ("a", "b"), 20.0)]


async def test_a_node_cut_from_the_database_stands_down_by_its_deadlines(
        postgres_schema_url, store, settings, time, events):
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.start()
    url = sa.engine.make_url(postgres_schema_url).set(host="127.0.0.1", port=proxy.port)
    cut_store = Store(url.render_as_string(hide_password=False))
    try:
        a = node(cut_store.engine, settings, time, "a", events)
        b = node(store.engine, settings, time, "b", events)
        await a.start()
        await a.step()
        await b.start()
        await b.step()
        await a.step()
        events.clear()
        proxy.cut()
        for _ in range(2):  # 5 s, 10 s: a keeps its part, b still sees a
            time.advance(5)
            await a.step()
            await b.step()
        assert events == [] and a.leader and a.live == ("a", "b")
        time.advance(5)  # 15 s: a's deadlines (its last beat and renewal were at 0)
        await a.step()
        assert events == [("a", "live", (), 15.0), ("a", "leader", None, 15.0)]
        assert a.owned(KEYS) == [] and not a.owns(KEYS[0])
        registry = CollectorRegistry()
        registry.register(ClusterCollector(a))
        assert (registry.get_sample_value("vigie_cluster_nodes"),
                registry.get_sample_value("vigie_cluster_leader")) == (0, 0)
        await b.step()  # the lease expired at 15: b takes it
        time.advance(5)
        await b.step()  # a's heartbeat is 20 s old: a is dead for b
        assert events[2:] == [("b", "leader", 2, 15.0), ("b", "live", ("b",), 20.0)]
        proxy.restore()
        time.advance(5)
        await a.step()
        await b.step()
        assert events[4:] == [("a", "live", ("a", "b"), 25.0), ("b", "live", ("a", "b"), 25.0)]
        assert not a.leader and b.epoch == 2
    finally:
        cut_store.dispose()
        if proxy._listening.is_set():
            proxy.cut()


async def test_a_graceful_stop_hands_over_at_once(engine, settings, time, events):
    a, b = await two_nodes(engine, settings, time, events)
    held_when_told = []
    a.on_leadership = lambda epoch: held_when_told.append(a.leadership.current().held)
    await a.stop()
    # the runtime heard it first, while the lease was still held: side effects stop
    # before another node may start them
    assert held_when_told == [True] and not a.leader and a.live == ()
    events.clear()
    await b.step()  # no time passed
    assert events == [("b", "live", ("b",), 0.0), ("b", "leader", 2, 0.0)]


async def test_a_replaced_node_stops_everything(engine, settings, time, events):
    a, b = await two_nodes(engine, settings, time, events)
    with pytest.raises(NodeNameTaken):
        await node(engine, settings, time, "a", []).start()
    await beat_b(b, time, 20)  # a silent: dead for the others
    again = node(engine, settings, time, "a", [])
    await again.start()
    events.clear()
    with pytest.raises(NodeReplaced):
        await a.step()
    assert events == [("a", "leader", None, 20.0), ("a", "live", (), 20.0)]
    assert not a.joined


async def test_the_loop_beats_every_heartbeat_and_wakes_at_a_deadline(
        postgres_schema_url, store, time, events):
    settings = ClusterSettings(enabled=True, node="a", heartbeat=5, dead_after=3, lease=12)
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.start()
    url = sa.engine.make_url(postgres_schema_url).set(host="127.0.0.1", port=proxy.port)
    cut_store = Store(url.render_as_string(hide_password=False))
    try:
        a = node(cut_store.engine, settings, time, "a", events)
        time.stop_after = 3
        with pytest.raises(asyncio.CancelledError):
            await a.run()
        assert time.sleeps == [5.0, 5.0, 5.0] and a.epoch == 1
        events.clear()
        proxy.cut()
        time.sleeps.clear()
        time.stop_after = 5
        with pytest.raises(asyncio.CancelledError):
            await a.run()
        # beats at 10 and 15 fail; the lease renewed at 10 ends at 22, between beats
        # at 20 and 25; the last heartbeat written, at 10, is too old at 25
        assert time.sleeps == [5.0, 5.0, 2.0, 3.0, 5.0]
        assert events == [("a", "leader", None, 22.0), ("a", "live", (), 25.0)]
    finally:
        cut_store.dispose()
        if proxy._listening.is_set():
            proxy.cut()


async def test_a_call_that_hangs_is_abandoned_and_not_repeated(engine, time, events):
    # (heartbeat 0.1 s: a hung call is abandoned after 0.1 s of the event loop's time)
    settings = ClusterSettings(enabled=True, node="a", heartbeat=0.1, dead_after=3,
                               lease=0.4)
    release = asyncio.Event()
    hang = [False]
    calls: list[str] = []

    async def blocking(function):
        calls.append(getattr(function, "__name__", "call"))
        if hang[0]:
            await release.wait()
        return await asyncio.to_thread(function)

    a = node(engine, settings, time, "a", events, blocking=blocking)
    await a.start()
    await a.step()
    assert a.leader and calls == ["join", "beat", "try_acquire_or_renew"]
    hang[0] = True
    for _ in range(2):
        time.advance(0.1)
        await a.step()  # the beat hangs: abandoned after a heartbeat; nothing new starts
    assert calls[3:] == ["beat"] and a.leader and a.live == ("a",)
    time.advance(0.1)
    await a.expire()  # 0.3: the detection time since the last beat written
    time.advance(0.1)
    await a.expire()  # 0.4: the lease since the last renewal
    assert [(e[:3], round(e[3], 6)) for e in events[-2:]] == [
        (("a", "live", ()), 0.3), (("a", "leader", None), 0.4)]
    hang[0] = False
    release.set()
    await asyncio.wait([a._busy])
    time.advance(0.1)
    await a.step()
    assert a.live == ("a",) and a.epoch == 2  # a new tenure: its lease had expired


async def test_a_failing_callback_does_not_stop_the_heartbeats(engine, settings, time,
                                                              caplog):
    told = []

    def broken(live):
        raise RuntimeError("bug in the runtime")

    async def leadership(epoch):
        await asyncio.sleep(0)
        told.append(epoch)

    a = ClusterNode(engine, settings, clock=time.clock, monotonic=time.monotonic,
                    sleep=time.sleep, on_membership_change=broken, on_leadership=leadership)
    caplog.set_level(logging.ERROR, logger="monitor.cluster.node")
    await a.start()
    await a.step()
    assert a.live == ("a",) and told == [1]
    assert "callback" in caplog.text and "bug in the runtime" in caplog.text


async def test_on_the_database_s_clock(engine, settings):
    a = ClusterNode(engine, settings, address="127.0.0.1:8080")
    await a.start()
    await a.step()
    assert a.live == ("a",) and a.epoch == 1
    await a.stop()
    assert a.membership.live_nodes() == ()
