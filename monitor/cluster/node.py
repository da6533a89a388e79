"""One Vigie process as a node of the cluster: its membership and its bid for the lease,
kept up by one loop, told to the runtime through two callbacks.

:meth:`ClusterNode.run` beats every ``heartbeat``: one statement writes the heartbeat and
reads the live nodes (:meth:`Membership.beat`), a second takes or renews the lease
(:meth:`Leadership.try_acquire_or_renew`). The runtime hears of changes only:

- ``on_membership_change(live)`` — the live nodes changed (the checks to run are
  :meth:`ClusterNode.owned` of them); ``()`` when this node is out of the cluster;
- ``on_leadership(epoch)`` — this node became leader under ``epoch`` (or a new tenure
  began), or stopped leading (``None``): start or stop what must happen once, and fence
  every side effect with the epoch.

**Cut off, a node stands down on its own.** Each successful beat at local time ``t``
(read *before* the statement is sent, so the database's heartbeat is later) means the
others cannot see this node dead before ``t + dead_after × heartbeat``; each successful
lease renewal means nobody else can take it before ``t + lease``. When the database stops
answering, the node drops its checks (live becomes ``()``) at the first deadline and its
leadership at the second, without waiting for the database: by then another node may
run them. A call to the database is abandoned after one heartbeat (it still runs to its
end in its thread; no second one is started meanwhile).

The clock (``monotonic``), the wait (``sleep``) and where blocking calls run
(``blocking``) are injectable, so a test drives the loop without waiting.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from monitor import __version__
from monitor.cluster.clock import DATABASE, Clock
from monitor.cluster.errors import Fenced, LeaseBusy, NodeReplaced
from monitor.cluster.leadership import Lease, Leadership
from monitor.cluster.membership import Live, Membership, new_incarnation
from monitor.cluster.ownership import owned, owner
from monitor.cluster.settings import ClusterSettings
from monitor.schema import redact

log = logging.getLogger(__name__)

T = TypeVar("T")

MembershipCallback = Callable[[Live], Any]
LeadershipCallback = Callable[[int | None], Any]
Blocking = Callable[[Callable[[], Any]], Awaitable[Any]]


class _Unanswered(Exception):
    """The database did not answer (an error, or no answer within a heartbeat)."""


class ClusterNode:
    """This process as a node: :attr:`live`, :attr:`epoch`, kept up by :meth:`run`."""

    def __init__(self, engine: Engine, settings: ClusterSettings, *, address: str = "",
                 version: str = __version__, incarnation: str | None = None,
                 clock: Clock = DATABASE,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 blocking: Blocking = asyncio.to_thread,
                 on_membership_change: MembershipCallback | None = None,
                 on_leadership: LeadershipCallback | None = None) -> None:
        self.settings = settings
        self.node = settings.node
        self.incarnation = incarnation or new_incarnation()
        self.membership = Membership(engine, self.node, self.incarnation, settings,
                                     address=address, version=version, clock=clock)
        self.leadership = Leadership(engine, self.node, self.incarnation, settings.lease,
                                     clock=clock, lock_wait=settings.heartbeat / 2)
        self.on_membership_change = on_membership_change
        self.on_leadership = on_leadership
        #: the live nodes as this node last knew them (``()``: out of the cluster)
        self.live: Live = ()
        #: the epoch this node leads under, None when it does not lead
        self.epoch: int | None = None
        #: checks this node runs now (the runtime sets it; exported in the metrics)
        self.checks_owned = 0
        self.joined = False
        self._monotonic = monotonic
        self._sleep = sleep
        self._blocking = blocking
        self._alive_until = -math.inf
        self._leader_until = -math.inf
        self._busy: asyncio.Future[Any] | None = None
        self._failing = False

    # What the runtime reads --------------------------------------------------------------

    @property
    def leader(self) -> bool:
        """Whether this node leads."""
        return self.epoch is not None

    @property
    def fencing_epoch(self) -> int:
        """The lease's epoch as last seen, whoever holds it (0: never taken)."""
        seen = self.leadership.last_seen
        return seen.epoch if seen is not None else 0

    def leads(self, epoch: int) -> bool:
        """Whether this node leads under ``epoch`` and its lease has not run out by its
        own clock (without the database: a process woken from a pause knows at once)."""
        return self.epoch == epoch and self._monotonic() < self._leader_until

    def owns(self, key: str) -> bool:
        """Whether this node runs the check of ``key`` (:func:`~.ownership.check_key`)."""
        return self.node in self.live and owner(key, self.live) == self.node

    def owned(self, keys: Iterable[str]) -> list[str]:
        """The keys, of ``keys``, whose checks this node runs."""
        return owned(keys, self.node, self.live)

    def fence(self, conn: Connection | Session, epoch: int | None = None) -> None:
        """:meth:`Leadership.fence` with ``epoch`` (default: the epoch this node leads
        under).

        :raises Fenced: this node does not lead under that epoch any more.
        """
        epoch = self.epoch if epoch is None else epoch
        if epoch is None:
            raise Fenced("this node does not lead")
        self.leadership.fence(conn, epoch)

    # The loop ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the cluster.

        :raises NodeNameTaken: another live process runs under this node name.
        """
        began = self._monotonic()
        await self._blocking(self.membership.join)
        self.joined = True
        self._alive_until = began + self.settings.detection

    async def run(self) -> None:
        """Join (if not yet), then beat every ``heartbeat`` until cancelled; between
        beats, wake at a deadline to stand down in time (see the module).

        :raises NodeNameTaken: at start, another process runs under this name.
        :raises NodeReplaced: another process took this node's name.
        """
        if not self.joined:
            await self.start()
        while True:
            began = self._monotonic()
            await self.step()
            next_beat = began + self.settings.heartbeat
            while (now := self._monotonic()) < next_beat:
                wake = min([next_beat, *(d for d in (self._alive_until, self._leader_until)
                                         if d > now)])
                await self._sleep(wake - now)
                await self.expire()

    async def step(self) -> None:
        """One heartbeat: beat, then take or renew the lease (or not), and tell the
        runtime what changed.

        :raises NodeReplaced: another process took this node's name.
        """
        began = self._monotonic()
        try:
            live: Live | None = await self._call(self.membership.beat)
        except _Unanswered:
            live = None
        except NodeReplaced:
            # another process is this node now: stop everything at once
            await self._set_epoch(None)
            await self._set_live(())
            self.joined = False
            raise
        if live is not None:
            self._alive_until = began + self.settings.detection
            await self._set_live(live)
        if self.node in self.live:
            await self._bid(began)
        await self.expire()

    async def expire(self) -> None:
        """Stand down where a deadline passed without the database's word: drop the
        checks (``live = ()``) and the leadership."""
        now = self._monotonic()
        if self.live and now >= self._alive_until:
            log.warning("cluster: no heartbeat written for %gs: this node runs no check "
                        "until the database answers", self.settings.detection)
            await self._set_live(())
        if self.epoch is not None and now >= self._leader_until:
            log.warning("cluster: the lease could not be renewed for %gs: this node stops "
                        "leading", self.settings.lease)
            await self._set_epoch(None)

    async def stop(self) -> None:
        """Leave gracefully: stop leading (the runtime is told first, then the lease is
        ended so another node takes it at its next heartbeat), then leave, so the others
        take this node's checks at once."""
        epoch = self.epoch
        if epoch is not None:
            await self._set_epoch(None)
            try:
                await self._call(lambda: self.leadership.step_down(epoch))
            except _Unanswered:
                pass  # the lease expires on its own
        if self.joined:
            try:
                await self._call(self.membership.leave)
            except _Unanswered:
                pass  # the others see this node dead after the detection time
            self.joined = False
        self.live = ()

    # Inside ------------------------------------------------------------------------------

    async def _bid(self, began: float) -> None:
        try:
            lease: Lease | None = await self._call(self.leadership.try_acquire_or_renew)
        except _Unanswered:
            return  # unknown: the deadline decides (expire)
        if lease is None:
            await self._set_epoch(None)
            return
        self._leader_until = began + self.settings.lease
        await self._set_epoch(lease.epoch)

    async def _call(self, function: Callable[[], T]) -> T:
        """``function()`` in a thread, abandoned after a heartbeat.

        :raises _Unanswered: the database failed or did not answer in time (logged once
            until it answers again), or the previous call still runs.
        :raises NodeReplaced, NodeNameTaken: as raised by ``function``.
        """
        if self._busy is not None and not self._busy.done():
            raise _Unanswered()
        future = asyncio.ensure_future(self._blocking(function))
        # an abandoned call's failure is retrieved here, not reported as never retrieved
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._busy = future
        try:
            async with asyncio.timeout(self.settings.heartbeat):
                result = await asyncio.shield(future)
        except (SQLAlchemyError, LeaseBusy, TimeoutError, OSError) as exc:
            if not self._failing:
                log.warning("cluster: the database did not answer (%s); this node keeps "
                            "its part until its deadlines", _short(exc))
            self._failing = True
            raise _Unanswered() from None
        if self._failing:
            log.info("cluster: the database answers again")
            self._failing = False
        return result

    async def _set_live(self, live: Live) -> None:
        if live == self.live:
            return
        joined = sorted(set(live) - set(self.live))
        gone = sorted(set(self.live) - set(live))
        log.info("cluster: live nodes %s (joined: %s; gone: %s)", ", ".join(live) or "none",
                 ", ".join(joined) or "none", ", ".join(gone) or "none")
        self.live = live
        await _tell(self.on_membership_change, live)

    async def _set_epoch(self, epoch: int | None) -> None:
        if epoch == self.epoch:
            return
        if epoch is None:
            log.info("cluster: this node stops leading (epoch %s)", self.epoch)
        else:
            log.info("cluster: this node leads, epoch %d", epoch)
        self.epoch = epoch
        await _tell(self.on_leadership, epoch)


async def _tell(callback: Callable[[Any], Any] | None, value: Any) -> None:
    """Call a runtime's callback (awaited when it returns an awaitable); its failure is
    logged, never stops the heartbeats."""
    if callback is None:
        return
    try:
        result = callback(value)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("cluster: the callback %r failed", callback)


def _short(exc: BaseException) -> str:
    """One line on a failed call, for the log (never a password)."""
    if isinstance(exc, TimeoutError):
        return "no answer within a heartbeat"
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).splitlines()
    return redact(lines[0][:200]) if lines else type(cause).__name__
