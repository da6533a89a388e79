"""Membership: each node's row in ``cluster_nodes``, kept fresh by its heartbeat.

A node is **live** while its last heartbeat is at most ``dead_after × heartbeat`` old by
the database's clock and it has not left. :meth:`Membership.beat` is one statement: it
writes this node's heartbeat and returns the live nodes, so every node learns of a death
or a join within one heartbeat. A node that stops gracefully :meth:`~Membership.leave`\\ s:
the others see it gone at their next heartbeat instead of after the detection time.

Two processes must never run under one node name: :meth:`Membership.join` refuses while
another process (another *incarnation*) holds the name and beats; a process that was
presumed dead and whose name was taken meanwhile learns it at its next beat
(:class:`~monitor.cluster.errors.NodeReplaced`) and must stop.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, text

from monitor import __version__
from monitor.cluster.clock import DATABASE, NOW, Clock
from monitor.cluster.errors import NodeNameTaken, NodeReplaced
from monitor.cluster.settings import ClusterSettings

Live = tuple[str, ...]
"""The live nodes' names, sorted."""

_JOIN = text(f"""
WITH clock AS (SELECT {NOW} AS now)
INSERT INTO cluster_nodes AS n
    (name, incarnation, started_at, heartbeat_at, address, version, left_at)
SELECT :name, :incarnation, clock.now, clock.now, :address, :version, NULL FROM clock
ON CONFLICT (name) DO UPDATE SET
    incarnation = excluded.incarnation, started_at = excluded.started_at,
    heartbeat_at = excluded.heartbeat_at, address = excluded.address,
    version = excluded.version, left_at = NULL
WHERE n.incarnation = excluded.incarnation OR n.left_at IS NOT NULL
    OR n.heartbeat_at < excluded.heartbeat_at - :window
RETURNING n.name
""")

_HOLDER = text(f"""
SELECT incarnation, started_at, heartbeat_at, address, {NOW} AS now
FROM cluster_nodes WHERE name = :name
""")

# the outer SELECT reads the table as it was before the UPDATE (one snapshot): this
# node's own row comes from the UPDATE's RETURNING, the others' from the table
_BEAT = text(f"""
WITH clock AS (SELECT {NOW} AS now),
beat AS (
    UPDATE cluster_nodes SET heartbeat_at = (SELECT now FROM clock)
    WHERE name = :name AND incarnation = :incarnation AND left_at IS NULL
    RETURNING name
)
SELECT name FROM beat
UNION ALL
SELECT n.name FROM cluster_nodes n, clock
WHERE n.name <> :name AND n.left_at IS NULL AND n.heartbeat_at >= clock.now - :window
""")

_LIVE = text(f"""
SELECT n.name FROM cluster_nodes n, (SELECT {NOW} AS now) clock
WHERE n.left_at IS NULL AND n.heartbeat_at >= clock.now - :window
ORDER BY n.name
""")

_LEAVE = text(f"""
UPDATE cluster_nodes SET left_at = {NOW}
WHERE name = :name AND incarnation = :incarnation AND left_at IS NULL
""")


def new_incarnation() -> str:
    """A random id for one start of one process (16 hex digits)."""
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Membership:
    """This process's membership of the cluster, on the database behind ``engine``."""

    engine: Engine
    #: this node's name (``cluster.node``)
    node: str
    #: this process's id (:func:`new_incarnation`)
    incarnation: str
    settings: ClusterSettings
    #: where volunteers reach this node (its listen address), shown by the status
    address: str = ""
    version: str = __version__
    clock: Clock = DATABASE

    def _params(self) -> dict[str, object]:
        return {"name": self.node, "incarnation": self.incarnation,
                "window": self.settings.detection, "now": self.clock.param}

    def join(self) -> None:
        """Register this process as the node (again after a restart).

        :raises NodeNameTaken: another process runs under this name and beats.
        """
        params = {**self._params(), "address": self.address[:255],
                  "version": self.version[:40]}
        with self.engine.begin() as conn:
            if conn.execute(_JOIN, params).first() is not None:
                return
            holder = conn.execute(_HOLDER, params).one()
        since = holder.now - holder.heartbeat_at
        left = max(self.settings.detection - since, 0.0)
        raise NodeNameTaken(
            f"cluster.node {self.node!r}: another Vigie process already runs as this node "
            f"(address {holder.address or 'not given'}, its last heartbeat {since:.1f}s "
            f"ago); give each node its own cluster.node. If that process is gone (a "
            f"crash), its place is free in {left:.0f}s: start again then")

    def beat(self) -> Live:
        """Write this node's heartbeat; the live nodes, this one included.

        :raises NodeReplaced: another process took this node's name (this one was
            presumed dead), or this node left.
        """
        with self.engine.begin() as conn:
            names = conn.execute(_BEAT, self._params()).scalars().all()
        if self.node not in names:
            raise NodeReplaced(
                f"cluster.node {self.node!r}: this process is no longer the node (another "
                "process took the name while this one was silent, or it left); it stops")
        return tuple(sorted(names))

    def live_nodes(self) -> Live:
        """The live nodes (as the database's clock sees them now)."""
        with self.engine.connect() as conn:
            return tuple(conn.execute(_LIVE, self._params()).scalars().all())

    def leave(self) -> bool:
        """Leave the cluster gracefully (the others take this node's checks at their next
        heartbeat); False when this process was not the node any more."""
        with self.engine.begin() as conn:
            return bool(conn.execute(_LEAVE, self._params()).rowcount)

