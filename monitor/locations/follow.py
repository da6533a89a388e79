"""In a cluster, the agents' results reach the consensus of the node that owns the
check, whichever node received them.

Any node takes an agent's batch (``/api/agent/v1``): it stores it in
``location_results``, and its transaction ends with ``NOTIFY vigie_location_results``
(:func:`monitor.agents.ingest.notify_results`). Every node follows that table
(:class:`ResultFollower`): woken by the notification, or every heartbeat should one be
lost, it reads each agent token's new rows **in seq order, from a cursor per token**,
and applies those of the checks it owns to their locations' states (then the check's
verdict, which only the owner takes); a row of a check it does not own only says the
location is alive (its reachability is the whole cluster's).

Why a cursor per token rather than one over the rows' ids: ids are drawn before the
commit, so two nodes' transactions can make a smaller id visible after a larger one;
an agent's batches, though, are committed one after the other (the agent sends the
next once the last is acknowledged, and the token's row is locked by each batch's
transaction), so the rows of one token become visible in seq order. A node applies no
result twice (the cursor only moves forward) and, on a cluster node, the receiving node
applies its own batches through the same path (the endpoint only wakes the follower).

A node starts from the rows already there (each token's highest seq at start): like
after a restart of a single Vigie, the per-location states start empty and each check
keeps its status until its locations report again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from monitor.agents.ingest import CHANNEL
from monitor.cluster.feed import Listener
from monitor.probe import ProbeResult, Reason, Status
from monitor.waits import wait_event
from monitor.words import Bilingual

if TYPE_CHECKING:
    from monitor.locations.system import LocationSystem
    from monitor.store import Store

log = logging.getLogger(__name__)

#: rows read for one token at a time
READ_BATCH = 1000

_HEADS = text("SELECT id, last_seq FROM agent_tokens WHERE last_seq IS NOT NULL")
_READ = text("""
SELECT seq, check_key, location, started_at, duration, status, reason, samples
FROM location_results WHERE token_id = :token AND seq > :after ORDER BY seq LIMIT :limit
""")


@dataclass(frozen=True, slots=True)
class FollowedResult:
    """One agent's result as a node reads it back."""

    token_id: int
    seq: int
    check_key: str
    location: str
    result: ProbeResult


def _result(row: Any) -> ProbeResult:
    reason = None
    why = row.reason
    if isinstance(why, dict) and why.get("code"):
        reason = Reason(str(why["code"]), Bilingual(str(why.get("fr") or ""),
                                                    why.get("en")),
                        why.get("public") is not False)
    samples = row.samples if isinstance(row.samples, dict) else {}
    return ProbeResult(Status(row.status), reason, samples, duration=row.duration,
                       started_at=row.started_at)


class ResultFeed:
    """The database side of the follower (blocking: run in a thread)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def heads(self) -> dict[int, int]:
        """token id → the highest seq stored for it."""
        with self.store.engine.connect() as conn:
            return {token: seq for token, seq in conn.execute(_HEADS)}

    def read(self, token_id: int, after: int, limit: int = READ_BATCH
             ) -> list[FollowedResult]:
        """The token's results after seq ``after``, in seq order (at most ``limit``)."""
        with self.store.engine.connect() as conn:
            return [FollowedResult(token_id, row.seq, row.check_key, row.location,
                                   _result(row))
                    for row in conn.execute(_READ, {"token": token_id, "after": after,
                                                    "limit": limit})]


class ResultFollower:
    """Follows ``location_results`` for a node of a cluster (see the module).

    :param locations: where the results go (:meth:`LocationSystem.take_followed`).
    :param owned: the checks this node owns now.
    :param every: seconds between two reads when no notification comes (the heartbeat).
    """

    def __init__(self, locations: LocationSystem, store: Store,
                 owned: Callable[[], Collection[str]], every: float) -> None:
        self.locations = locations
        self.feed = ResultFeed(store)
        self.store = store
        self.owned = owned
        self.every = every
        #: token id → the last seq read
        self.cursors: dict[int, int] | None = None
        #: the ``LISTEN`` connection's thread, while :meth:`run` runs
        self.listener: Listener | None = None
        #: set after each read of :meth:`run` (tests wait on it)
        self.read = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self, *_args: object) -> None:
        """Read now (any thread; the agents' endpoint calls it after a batch, with the
        sink's arguments, which it does not need: the rows are read back)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Follow until cancelled (waits for the database to be prepared)."""
        self._loop = asyncio.get_running_loop()
        listener = self.listener = Listener(self.store.url, self.wake, channel=CHANNEL)
        listener.start()
        failing = False
        try:
            while True:
                self._wake.clear()
                try:
                    await self.read_once()
                except Exception as exc:  # noqa: BLE001 - the database away: next beat
                    if not failing:
                        log.warning("locations: the agents' results cannot be read (%s); "
                                    "trying again", str(exc).splitlines()[0] if str(exc)
                                    else type(exc).__name__)
                    failing = True
                else:
                    failing = False
                self.read.set()
                await wait_event(self._wake, self.every)
        finally:
            listener.stop()

    async def read_once(self) -> int:
        """Read and apply what is new; how many results were read."""
        heads = await asyncio.to_thread(self.feed.heads)
        if self.cursors is None:
            self.cursors = dict(heads)  # start from what is there now
            return 0
        count = 0
        for token, head in heads.items():
            while head > self.cursors.get(token, 0):
                rows = await asyncio.to_thread(self.feed.read, token,
                                               self.cursors.get(token, 0))
                if not rows:
                    break
                owned = self.owned()
                for row in rows:
                    self.locations.take_followed(row.check_key, row.location, row.result,
                                                 row.check_key in owned)
                self.cursors[token] = rows[-1].seq
                count += len(rows)
        return count


__all__ = ["READ_BATCH", "FollowedResult", "ResultFeed", "ResultFollower"]
