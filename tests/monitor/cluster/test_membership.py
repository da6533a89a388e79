"""Membership on the real PostgreSQL: nodes join and beat, a silent node is dead after
``dead_after`` heartbeats by the database's clock, a node that leaves is gone at once, and
two processes never run under one node name."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from monitor.cluster.clock import Clock
from monitor.cluster.errors import NodeNameTaken, NodeReplaced
from monitor.cluster.membership import Membership, new_incarnation
from monitor.cluster.models import ClusterNodeRow
from tests.monitor.cluster.conftest import T0, race


def member(engine, settings, clock, node: str, **kw) -> Membership:
    return Membership(engine, node, new_incarnation(), settings, clock=clock, **kw)


def test_nodes_join_and_see_each_other(engine, settings, clock):
    a = member(engine, settings, clock, "a", address="10.0.0.1:8080", version="1.2.3")
    b = member(engine, settings, clock, "b")
    a.join()
    assert a.beat() == ("a",)
    b.join()
    assert b.beat() == ("a", "b")
    assert a.beat() == ("a", "b") == a.live_nodes()
    with engine.connect() as conn:
        row = conn.execute(sa.select(ClusterNodeRow).where(ClusterNodeRow.name == "a")).one()
    assert (row.incarnation, row.address, row.version, row.started_at, row.heartbeat_at,
            row.left_at) == (a.incarnation, "10.0.0.1:8080", "1.2.3", T0, T0, None)


def test_a_silent_node_is_dead_after_dead_after_heartbeats(engine, settings, clock):
    a, b = member(engine, settings, clock, "a"), member(engine, settings, clock, "b")
    a.join(), b.join()
    clock.advance(settings.detection)  # 3 heartbeats of 5 s missed, just
    assert b.beat() == ("a", "b")
    clock.advance(0.001)
    assert b.beat() == ("b",)
    assert b.live_nodes() == ("b",)
    assert a.beat() == ("a", "b")  # back (a paused process, its name not taken)


def test_a_node_that_leaves_is_gone_at_once_and_may_come_back(engine, settings, clock):
    a, b = member(engine, settings, clock, "a"), member(engine, settings, clock, "b")
    a.join(), b.join()
    assert a.leave() is True
    assert b.beat() == ("b",)
    assert a.leave() is False  # left already
    with pytest.raises(NodeReplaced):
        a.beat()
    again = member(engine, settings, clock, "a")
    again.join()  # a restart after a graceful stop: at once
    assert b.beat() == ("a", "b")


def test_two_processes_never_run_under_one_name(engine, settings, clock):
    first = member(engine, settings, clock, "a", address="10.0.0.1:8080")
    first.join()
    clock.advance(4)
    first.beat()
    clock.advance(2)
    second = member(engine, settings, clock, "a")
    with pytest.raises(NodeNameTaken) as refused:
        second.join()
    assert str(refused.value) == (
        "cluster.node 'a': another Vigie process already runs as this node (address "
        "10.0.0.1:8080, its last heartbeat 2.0s ago); give each node its own cluster.node. "
        "If that process is gone (a crash), its place is free in 13s: start again then")
    assert first.beat() == ("a",)  # the refused one changed nothing


def test_a_crashed_node_s_name_is_free_after_the_detection_time(engine, settings, clock):
    crashed = member(engine, settings, clock, "a")
    crashed.join()
    clock.advance(settings.detection + 0.5)
    restarted = member(engine, settings, clock, "a")
    restarted.join()
    assert restarted.beat() == ("a",)
    # the old process was only paused: it learns at its next beat that it is not the node
    with pytest.raises(NodeReplaced, match="no longer the node"):
        crashed.beat()
    assert crashed.leave() is False
    assert restarted.live_nodes() == ("a",)


def test_the_same_process_joining_again_is_no_conflict(engine, settings, clock):
    a = member(engine, settings, clock, "a")
    a.join()
    clock.advance(1)
    a.join()
    assert a.beat() == ("a",)


def test_one_of_processes_joining_at_once_under_one_name_wins(engine, settings, clock):
    for round_ in range(20):
        clock.advance(settings.detection + 1)  # every earlier one is dead
        contenders = [member(engine, settings, clock, "a") for _ in range(4)]
        results = race(*(m.join for m in contenders))
        assert all(r is None or isinstance(r, NodeNameTaken) for r in results), results
        winners = [m.incarnation for m, r in zip(contenders, results) if r is None]
        assert len(winners) == 1, (round_, results)
        with engine.connect() as conn:
            assert conn.execute(sa.select(ClusterNodeRow.incarnation)).scalar_one() == winners[0]


def test_on_the_database_s_clock(engine, settings):
    clock = Clock.database()
    a = member(engine, settings, clock, "a")
    a.join()
    assert a.beat() == ("a",)
    with engine.connect() as conn:
        beat, now = conn.execute(sa.text(
            "SELECT heartbeat_at, extract(epoch FROM clock_timestamp())::float8 "
            "FROM cluster_nodes")).one()
    assert 0 <= now - beat < settings.detection


def test_the_address_and_version_are_cut_to_their_columns(engine, settings, clock):
    a = member(engine, settings, clock, "a", address="x" * 300, version="v" * 50)
    a.join()
    with engine.connect() as conn:
        row = conn.execute(sa.select(ClusterNodeRow)).one()
    assert (len(row.address), len(row.version)) == (255, 40)
