"""The feed of check transitions, from the checks' owners to the leader.

**Writing** (:func:`append_feed`, in the owner's result batch, the same transaction as the
check's status change and hidden state): the ``head`` row of ``cluster_feed`` is moved on
by the number of rows and their ids taken from it. The row stays locked until the
transaction commits, so writers take ids one after the other *in commit order*: once id
``n`` is visible, every smaller id that will ever exist is visible too. The leader reads
``id > cursor`` and never misses a row committed late. Then ``NOTIFY vigie_transitions``
(delivered at the commit) wakes the leader at once; the writer's thread writes a batch
holding a transition without waiting for it to fill. A paused writer cannot hold the
head for ever: its transaction's session is ended by the database when idle in it for
:data:`HOLD_LIMIT` seconds.

**Reading** (:class:`FeedReader`, the leader): the ``leader`` row of ``cluster_feed`` is the
cursor, the last transition the leaders applied, moved on in a fenced transaction after
the incident engine has taken them. A new leader rebuilds every check's status *as of the
cursor* (:meth:`FeedReader.snapshot`: the stored states, with the transitions after the
cursor undone), then applies the transitions after it in order, as its predecessor would
have: nothing lost, and a transition applied twice (its predecessor died between applying
and moving the cursor) changes nothing the second time (idempotent by status, and the
engine's records by their keys).

:class:`Listener` is the leader's ``LISTEN``, in a thread of its own, on a connection of
its own; the leader also reads the feed every heartbeat, should a notification be lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from monitor.probe import Reason, Status
from monitor.words import Bilingual

if TYPE_CHECKING:
    from sqlalchemy import URL

    from monitor.store import Store
    from monitor.store.records import FeedTransition

log = logging.getLogger(__name__)

#: the channel of ``NOTIFY`` (the payload is the schema written to)
CHANNEL = "vigie_transitions"
#: seconds a writer's transaction may stay idle holding the head before the database ends it
HOLD_LIMIT = 30.0

_TAKE_IDS = text("UPDATE cluster_feed SET position = position + :n WHERE name = 'head' "
                 "RETURNING position")
_HOLD = text("SELECT set_config('idle_in_transaction_session_timeout', :ms, true)")
_NOTIFY = text("SELECT pg_notify(:channel, current_schema())")
_INSERT = text("""
INSERT INTO cluster_transitions (id, check_id, previous, previous_since, current, at,
    duration, reason_code, reason_fr, reason_en, reason_public, node)
VALUES (:id, :check_id, :previous, :previous_since, :current, :at, :duration,
    :reason_code, :reason_fr, :reason_en, :reason_public, :node)
ON CONFLICT (check_id, at, current) DO NOTHING
""")


def append_feed(conn: Connection, feed: Sequence[FeedTransition], ids: dict[str, int]) -> None:
    """Append ``feed`` (in order) in the caller's transaction, and notify the leader at
    its commit. Call it last in the transaction: the head stays locked until the commit.
    """
    if not feed:
        return
    conn.execute(_HOLD, {"ms": str(int(HOLD_LIMIT * 1000))})
    last = conn.execute(_TAKE_IDS, {"n": len(feed)}).scalar_one()
    first = last - len(feed) + 1
    conn.execute(_INSERT, [_row(first + i, ids[f.check_key], f) for i, f in enumerate(feed)])
    conn.execute(_NOTIFY, {"channel": CHANNEL})


def _row(row_id: int, check_id: int, f: FeedTransition) -> dict[str, Any]:
    from monitor.store.store import _reason

    return {"id": row_id, "check_id": check_id,
            "previous": None if f.previous is None else int(f.previous),
            "previous_since": f.previous_since, "current": int(f.current), "at": f.at,
            "duration": f.duration, **_reason(f.reason), "node": f.node[:63]}


@dataclass(frozen=True, slots=True)
class FedTransition:
    """A transition as the leader reads it."""

    id: int
    check_key: str
    previous: Status | None
    previous_since: float | None
    current: Status
    at: float
    duration: float
    reason: Reason | None
    node: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every check's confirmed status as of the cursor (what the leaders applied)."""

    cursor: int
    #: check key → (status, since) as of the cursor
    statuses: dict[str, tuple[Status | None, float | None]]


_READ = text("""
SELECT t.id, c.key, t.previous, t.previous_since, t.current, t.at, t.duration,
       t.reason_code, t.reason_fr, t.reason_en, t.reason_public, t.node
FROM cluster_transitions t JOIN checks c ON c.id = t.check_id
WHERE t.id > :after ORDER BY t.id LIMIT :limit
""")
_CURSOR = text("SELECT position FROM cluster_feed WHERE name = 'leader'")
_ADVANCE = text("UPDATE cluster_feed SET position = :position "
                "WHERE name = 'leader' AND position < :position")
_PRUNE = text("DELETE FROM cluster_transitions WHERE id <= :upto AND at < :before")


def _fed(row: Any) -> FedTransition:
    reason = None
    if row.reason_code is not None:
        reason = Reason(row.reason_code, Bilingual(row.reason_fr or "", row.reason_en),
                        row.reason_public is not False)
    return FedTransition(row.id, row.key, None if row.previous is None else Status(row.previous),
                         row.previous_since, Status(row.current), row.at, row.duration, reason,
                         row.node)


class FeedReader:
    """The leader's side of the feed, on ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def snapshot(self, keys: Iterable[str]) -> Snapshot:
        """Every check of ``keys``'s status as of the cursor, read in one consistent
        snapshot: the states stored now, with the transitions after the cursor undone
        (each check's status then is the ``previous`` of its first transition after it).
        """
        engine = self.store.engine.execution_options(isolation_level="REPEATABLE READ")
        with engine.connect() as conn, conn.begin():
            cursor = conn.execute(_CURSOR).scalar_one()
            stored = self.store.read_check_states(conn, keys)
            later: list[FedTransition] = []
            while True:
                batch = [_fed(r) for r in conn.execute(
                    _READ, {"after": later[-1].id if later else cursor, "limit": 10_000})]
                later += batch
                if len(batch) < 10_000:
                    break
        statuses = {key: (s.status, s.since) for key, s in stored.items()}
        for t in reversed(later):  # undone newest first: the oldest's ``previous`` wins
            if t.check_key in statuses:
                statuses[t.check_key] = (t.previous, t.previous_since)
        return Snapshot(cursor, statuses)

    def read_after(self, after: int, limit: int = 500) -> list[FedTransition]:
        """The transitions after ``after``, in order (at most ``limit``)."""
        with self.store.engine.connect() as conn:
            return [_fed(r) for r in conn.execute(_READ, {"after": after, "limit": limit})]

    @staticmethod
    def advance(conn: Connection, position: int) -> None:
        """Move the cursor on to ``position`` (never back), in the caller's (fenced)
        transaction."""
        conn.execute(_ADVANCE, {"position": position})

    @staticmethod
    def prune(conn: Connection, before: float) -> int:
        """Delete the transitions the leaders applied that are older than ``before``."""
        upto = conn.execute(_CURSOR).scalar_one()
        return conn.execute(_PRUNE, {"upto": upto, "before": before}).rowcount or 0


class Listener:
    """``LISTEN vigie_transitions`` (or ``channel``) in a thread, on a connection of its
    own: ``wake()`` (called in that thread) at each notification and each time it
    (re)connects, since notifications sent while it was away are lost. Reconnects after a
    failure, waiting ``retry`` seconds between attempts."""

    def __init__(self, url: URL, wake: Callable[[], None], *, retry: float = 1.0,
                 channel: str = CHANNEL) -> None:
        self.conninfo = url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        self.wake = wake
        self.channel = channel
        self.retry = retry
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: connected and listening now
        self.listening = False

    def start(self) -> None:
        """Start listening (in a daemon thread)."""
        self._thread = threading.Thread(target=self._run, name="vigie-cluster-listen",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (the thread ends within two seconds)."""
        self._stop.set()

    def _run(self) -> None:
        import select

        import psycopg

        said = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True,
                                     connect_timeout=5) as conn:
                    # a handler is called for each notification read, by any statement;
                    # the socket is watched with select (psycopg's own wait for
                    # notifications polls ten times a second)
                    conn.add_notify_handler(lambda notify: self.wake())
                    conn.execute(f"LISTEN {self.channel}")
                    self.listening, said = True, False
                    self.wake()
                    while not self._stop.is_set():
                        readable, _, _ = select.select([conn.fileno()], [], [], 2.0)
                        if readable:
                            conn.execute("SELECT 1")  # reads what came (or fails: gone)
            except Exception as exc:  # the database away: the poll still reads the feed
                if not said:
                    log.info("cluster: listening for transitions failed (%s); reading "
                             "the feed every heartbeat until it works again",
                             str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                    said = True
            finally:
                self.listening = False
            self._stop.wait(self.retry)
