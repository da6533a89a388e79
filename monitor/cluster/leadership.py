"""Leadership: one lease row in ``cluster_lease``, with a fencing epoch.

The leader is the process that holds the lease: the row names it (node and incarnation)
and says until when (``expires_at``, on the database's clock). It renews it at each
heartbeat; once it expires, any node may take it. :meth:`Leadership.try_acquire_or_renew`
is one statement that takes the row when it is expired (or when this process already
holds it) and adds one to ``epoch`` at every new tenure (never on a renewal), so epochs
only grow and name one tenure each.

A leader that was paused (SIGSTOP, a long GC, a lost network) still believes it leads when
it wakes: what stops it is the **fence**. Every side-effect transaction calls
:meth:`Leadership.fence` with the epoch it was started under; the fence locks the lease
row ``FOR SHARE`` and checks that it still has this epoch and this holder and has not
expired. The lock is held until the transaction ends, and taking or renewing the lease
updates the row, so no takeover can commit between the check and the commit: the side
effect is written under a lease that was valid, or not at all. The fence also bounds how
long a paused holder of that lock can stall a takeover: its session is ended by the
database once idle in the transaction for longer than the lease
(``idle_in_transaction_session_timeout``), which rolls back what it wrote.

An advisory lock would not do: a paused process keeps its session, and its lock, for
ever. A lease expires.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor.cluster.clock import DATABASE, NOW, Clock
from monitor.cluster.errors import Fenced, LeaseBusy

#: the name of the leader's lease row
LEADER = "leader"
#: SQLSTATE of a lock not obtained within ``lock_timeout``
_LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True, slots=True)
class Lease:
    """The lease as this process holds it."""

    #: the fencing epoch of this tenure (side effects are fenced with it)
    epoch: int
    #: when it expires unless renewed (database clock)
    expires_at: float
    #: when this tenure began (database clock)
    acquired_at: float


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The lease row as last read, whoever holds it."""

    holder: str
    incarnation: str
    epoch: int
    acquired_at: float
    expires_at: float
    #: the database's time when it was read
    now: float

    @property
    def held(self) -> bool:
        """Whether someone holds it (it had not expired when read)."""
        return self.expires_at > self.now


_RENEWING = ("l.holder = excluded.holder AND l.incarnation = excluded.incarnation "
             "AND l.expires_at > excluded.acquired_at")

# one statement: take the row when it expired (any node) or renew it (its holder); the
# second SELECT reads the row as it was when no update happened (another node holds it)
_ACQUIRE = text(f"""
WITH clock AS (SELECT {NOW} AS now),
taken AS (
    INSERT INTO cluster_lease AS l
        (name, holder, incarnation, epoch, acquired_at, expires_at)
    SELECT :name, :node, :incarnation, 1, clock.now, clock.now + :lease FROM clock
    ON CONFLICT (name) DO UPDATE SET
        holder = excluded.holder,
        incarnation = excluded.incarnation,
        epoch = CASE WHEN {_RENEWING} THEN l.epoch ELSE l.epoch + 1 END,
        acquired_at = CASE WHEN {_RENEWING} THEN l.acquired_at ELSE excluded.acquired_at END,
        expires_at = excluded.expires_at
    WHERE (l.holder = excluded.holder AND l.incarnation = excluded.incarnation)
        OR l.expires_at <= excluded.acquired_at
    RETURNING l.holder, l.incarnation, l.epoch, l.acquired_at, l.expires_at
)
SELECT holder, incarnation, epoch, acquired_at, expires_at, true AS ours,
       (SELECT now FROM clock) AS now
FROM taken
UNION ALL
SELECT holder, incarnation, epoch, acquired_at, expires_at, false AS ours,
       (SELECT now FROM clock) AS now
FROM cluster_lease WHERE name = :name AND NOT EXISTS (SELECT 1 FROM taken)
""")

# the row another node inserted while this one's statement ran: not in the statement's
# snapshot (when the first bidders race), read again in a statement of its own
_HOLDER = text(f"""
SELECT holder, incarnation, epoch, acquired_at, expires_at, false AS ours, {NOW} AS now
FROM cluster_lease WHERE name = :name
""")

_STEP_DOWN = text(f"""
UPDATE cluster_lease SET expires_at = LEAST(expires_at, {NOW})
WHERE name = :name AND holder = :node AND incarnation = :incarnation AND epoch = :epoch
""")

_READ = text(f"""
SELECT holder, incarnation, epoch, acquired_at, expires_at, {NOW} AS now
FROM cluster_lease WHERE name = :name
""")

_LOCK = text("""
SELECT holder, incarnation, epoch, expires_at FROM cluster_lease WHERE name = :name
FOR SHARE
""")

# read after the lock is granted: the expiry is judged at the time the row can no longer
# change, not when the fence started waiting
_FENCE_TIME = text(f"""
SELECT {NOW} AS now, set_config('idle_in_transaction_session_timeout', :idle, true)
""")


def _milliseconds(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


class Leadership:
    """This process's bid for the lease named ``name`` (``leader``), on the database behind
    ``engine``."""

    def __init__(self, engine: Engine, node: str, incarnation: str, lease: float, *,
                 clock: Clock = DATABASE, name: str = LEADER,
                 lock_wait: float | None = None, hold_limit: float | None = None) -> None:
        """
        :param lease: seconds a lease lasts from its last renewal (``cluster.lease``).
        :param lock_wait: longest wait for the lease row while a fenced transaction holds
            it (default: a third of the lease); then :class:`LeaseBusy`.
        :param hold_limit: a fenced transaction idle this long has its session ended by
            the database, and so frees the row (default: the lease).
        """
        self.engine = engine
        self.node = node
        self.incarnation = incarnation
        self.lease = lease
        self.clock = clock
        self.name = name
        self.lock_wait = lock_wait if lock_wait is not None else lease / 3
        self.hold_limit = hold_limit if hold_limit is not None else lease
        #: the row as the last statement saw it (None before the first, or no row yet)
        self.last_seen: LeaseState | None = None

    def _params(self) -> dict[str, object]:
        return {"name": self.name, "node": self.node, "incarnation": self.incarnation,
                "now": self.clock.param}

    def try_acquire_or_renew(self) -> Lease | None:
        """Take the lease if it is free, renew it if this process holds it; the lease
        held, or None when another holds it.

        :raises LeaseBusy: the row stayed locked (by a fenced transaction) longer than
            ``lock_wait``: unknown this time.
        """
        params = {**self._params(), "lease": self.lease}
        try:
            with self.engine.begin() as conn:
                conn.execute(text("SELECT set_config('lock_timeout', :wait, true)"),
                             {"wait": _milliseconds(self.lock_wait)})
                row = (conn.execute(_ACQUIRE, params).first()
                       or conn.execute(_HOLDER, params).one())
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                raise LeaseBusy(f"the {self.name} lease stayed locked more than "
                                f"{self.lock_wait:g}s") from None
            raise
        self.last_seen = LeaseState(row.holder, row.incarnation, row.epoch, row.acquired_at,
                                    row.expires_at, row.now)
        return Lease(row.epoch, row.expires_at, row.acquired_at) if row.ours else None

    def step_down(self, epoch: int) -> bool:
        """End this process's tenure ``epoch`` now, so another node takes the lease at its
        next heartbeat; False when it was not held any more."""
        with self.engine.begin() as conn:
            done = conn.execute(_STEP_DOWN, {**self._params(), "epoch": epoch}).rowcount
        return bool(done)

    def current(self) -> LeaseState | None:
        """The lease row now (None before any node took it)."""
        with self.engine.connect() as conn:
            row = conn.execute(_READ, self._params()).first()
        if row is None:
            return None
        self.last_seen = LeaseState(row.holder, row.incarnation, row.epoch, row.acquired_at,
                                    row.expires_at, row.now)
        return self.last_seen

    def fence(self, conn: Connection | Session, epoch: int) -> None:
        """Check, inside the side-effect transaction of ``conn``, that this process still
        holds the lease under ``epoch``; the row stays locked (``FOR SHARE``) until that
        transaction ends, so no other node can take the lease before it commits.

        Call it before the side effect's writes (an outbox row marked delivered, an
        incident opened…), in the same transaction.

        :raises Fenced: another node leads, a new tenure began, or the lease expired.
        """
        row = conn.execute(_LOCK, {"name": self.name}).first()
        now = conn.execute(_FENCE_TIME, {"now": self.clock.param,
                                         "idle": _milliseconds(self.hold_limit)}).scalar_one()
        if row is None:
            raise Fenced(f"no {self.name} lease: nobody leads (epoch {epoch} is stale)")
        if (row.holder, row.incarnation) != (self.node, self.incarnation):
            raise Fenced(f"the {self.name} lease is held by {row.holder!r} now (epoch "
                         f"{row.epoch}); this node's epoch {epoch} is over")
        if row.epoch != epoch:
            raise Fenced(f"the {self.name} lease is in epoch {row.epoch}, not {epoch}")
        if row.expires_at <= now:
            raise Fenced(f"the {self.name} lease of epoch {epoch} expired "
                         f"{now - row.expires_at:.1f}s ago")
