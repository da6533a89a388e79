"""The cluster as volunteers see it: the nodes, their heartbeats and the leader, read from
the database (``vigie cluster status``; ``/admin/`` later)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from monitor.cluster.clock import DATABASE, NOW, Clock
from monitor.cluster.leadership import LEADER
from monitor.cluster.settings import ClusterSettings
from monitor.words import Number, Words, _

#: a node's state: beating, silent longer than the detection time, or gone gracefully
STATES = ("live", "dead", "left")

_NODES = text(f"""
SELECT n.name, n.address, n.version, n.started_at, n.heartbeat_at, n.left_at, clock.now
FROM (SELECT {NOW} AS now) clock LEFT JOIN cluster_nodes n ON true
ORDER BY n.name
""")

_LEASE = text("""
SELECT holder, epoch, acquired_at, expires_at FROM cluster_lease WHERE name = :name
""")


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node's row, judged at the database's time."""

    name: str
    #: one of :data:`STATES`
    state: str
    address: str
    version: str
    started_at: float
    #: seconds since its last heartbeat
    heartbeat_age: float


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """The nodes and the leader at the database's time ``now``."""

    now: float
    nodes: tuple[NodeStatus, ...]
    #: the node that holds the lease, None when it is free
    leader: str | None
    #: the lease's epoch (0: never taken)
    epoch: int
    #: seconds left on the leader's lease (None when nobody holds it)
    lease_left: float | None

    @property
    def live(self) -> tuple[str, ...]:
        """The live nodes' names."""
        return tuple(n.name for n in self.nodes if n.state == "live")


def read_status(conn: Connection, settings: ClusterSettings,
                clock: Clock = DATABASE) -> ClusterStatus:
    """The cluster's status, in two reads on ``conn``."""
    rows = conn.execute(_NODES, {"now": clock.param}).all()
    now = rows[0].now
    nodes = []
    for row in rows:
        if row.name is None:
            continue  # no node yet: the clock's row alone
        age = now - row.heartbeat_at
        state = ("left" if row.left_at is not None
                 else "live" if age <= settings.detection else "dead")
        nodes.append(NodeStatus(row.name, state, row.address, row.version, row.started_at,
                                age))
    lease = conn.execute(_LEASE, {"name": LEADER}).first()
    if lease is None or lease.expires_at <= now:
        return ClusterStatus(now, tuple(nodes), None, lease.epoch if lease else 0, None)
    return ClusterStatus(now, tuple(nodes), lease.holder, lease.epoch, lease.expires_at - now)


def summary(status: ClusterStatus) -> Words:
    """The status in one sentence: who leads, or that nobody does."""
    if status.leader is not None:
        return _("Leader: {node}, epoch {epoch}; its lease runs for {seconds} s more.",
                 node=status.leader, epoch=status.epoch,
                 seconds=Number(status.lease_left or 0.0, ".1f"))
    if not status.nodes:
        return _("No leader: no node has joined the cluster.")
    return _("No leader: nobody holds the lease (last epoch {epoch}).", epoch=status.epoch)


def table(status: ClusterStatus, when: Callable[[float], str]) -> list[tuple[str, ...]]:
    """The nodes as rows (``when`` writes a time), under their column names."""
    rows: list[tuple[str, ...]] = [("NODE", "STATE", "LAST BEAT", "STARTED", "ADDRESS",
                                    "VERSION")]
    for node in status.nodes:
        mark = " *" if node.name == status.leader else ""
        rows.append((node.name + mark, node.state, f"{node.heartbeat_age:.1f}s ago",
                     when(node.started_at), node.address or "-", node.version))
    return rows
