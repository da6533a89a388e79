"""Fencing the leader's side effects: every transaction of a tenure checks it still leads.

A :class:`TenureFence` is made when this node starts leading under an epoch, and handed to
what writes or sends the side effects (the incident engine, the maintenance ticker, the
outbox worker, the transitions' cursor). It is two checks:

- :meth:`TenureFence.valid` — this node's own view, without the database: it still leads
  under that epoch and its lease has not run out by its own monotonic clock (a process
  woken from SIGSTOP knows at once that its lease is gone);
- calling it on a connection, inside the side effect's transaction —
  :meth:`monitor.cluster.leadership.Leadership.fence`: the lease row, locked ``FOR SHARE``
  until the transaction ends, still has this epoch and this holder and has not expired on
  the database's clock.

:func:`fenced_sessions` gives ORM sessions that run the fence first thing in each of their
transactions, so code written for one Vigie (``with sessions() as s, s.begin(): ...``)
writes nothing once another node leads. A fence that fails tells ``on_fenced`` (from any
thread), so the node stops its leader work at once instead of at its next heartbeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection, event
from sqlalchemy.orm import Session, sessionmaker

from monitor.cluster.errors import Fenced

if TYPE_CHECKING:
    from monitor.cluster.node import ClusterNode
    from monitor.store import Store

log = logging.getLogger(__name__)


class Fence(Protocol):
    """What a leader's side effect checks (see the module)."""

    def valid(self) -> bool: ...

    def __call__(self, conn: Connection | Session) -> None: ...


class TenureFence:
    """The fence of one tenure: ``node`` leading under ``epoch``."""

    def __init__(self, node: ClusterNode, epoch: int,
                 on_fenced: Callable[[], None] | None = None) -> None:
        self.node = node
        self.epoch = epoch
        self.on_fenced = on_fenced or (lambda: None)

    def valid(self) -> bool:
        """Whether this node still leads under this epoch by its own clock (no database)."""
        return self.node.leads(self.epoch)

    def __call__(self, conn: Connection | Session) -> None:
        """Check inside a transaction that this node still holds the lease under this
        epoch (the lease row stays locked until the transaction ends).

        :raises Fenced: it does not; ``on_fenced`` was told.
        """
        try:
            if not self.valid():
                raise Fenced(f"this node's lease of epoch {self.epoch} ran out by its own "
                             "clock")
            self.node.leadership.fence(conn, self.epoch)
        except Fenced:
            self.on_fenced()
            raise

    def __repr__(self) -> str:
        return f"TenureFence({self.node.node!r}, epoch {self.epoch})"


def fenced_sessions(store: Store, fence: Fence) -> sessionmaker[Session]:
    """Write sessions (as :meth:`Store.write_session`) whose every transaction runs
    ``fence`` on its connection before anything else."""
    factory = sessionmaker(store.write_engine, expire_on_commit=False)

    @event.listens_for(factory, "after_begin")
    def _fence(session: Session, transaction: object, connection: Connection) -> None:
        fence(connection)

    return factory
