"""What being a node of a cluster means for ``vigie run``: :class:`ClusterRole`.

The runtime holds one when ``cluster.enabled``. It keeps this process's
:class:`~monitor.cluster.node.ClusterNode` beating and turns what the node hears into
work:

- **the live nodes changed** → the checks this node owns are computed again
  (:func:`~monitor.cluster.ownership.owned`); for those it gains, the hidden state the
  previous owner left (``check_states``) and the start of their last run are read first,
  so each starts from its confirmed status and pending failures and runs when it is due
  (its last run plus its delay: at once when that is past); the scheduler then runs
  exactly those (:meth:`monitor.scheduler.Scheduler.set_owned`). Cut from the database
  (live ``()``), the node drops every check at once, without asking the database.
- **this node leads (under an epoch), or stops** → the leader's work starts or stops: the
  incident engine, the maintenance ticker and the outbox worker
  (:meth:`monitor.incidents.system.IncidentSystem.lead`), every transaction and delivery
  of theirs fenced by the tenure's :class:`~monitor.cluster.fencing.TenureFence`, and the
  feed of the owners' check transitions (:mod:`monitor.cluster.feed`) followed from
  where the leaders left it, into the whole picture (:attr:`Runtime.state`) from which
  the services, the incidents and the status hooks follow. A fence that fails stops that
  work at once, before the next heartbeat. Rollups, retention and purges ask
  :meth:`monitor.runtime.Runtime.is_leader` at each pass.

The owner's side is :meth:`monitor.runtime.Runtime._apply_shared`: its own book
(:attr:`Runtime.own`) damps the results of its checks; each confirmed change goes to the
database with the feed's record of it and the check's hidden state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from monitor.cluster.errors import NodeNameTaken, NodeReplaced
from monitor.cluster.feed import FeedReader, Listener, Snapshot
from monitor.cluster.fencing import TenureFence
from monitor.cluster.membership import Live
from monitor.cluster.node import ClusterNode
from monitor.probe import ProbeResult
from monitor.store.writer import is_transient
from monitor.waits import wait_event

if TYPE_CHECKING:
    from monitor.runtime import Runtime
    from monitor.store.records import StoredCheckState

log = logging.getLogger(__name__)

#: transitions the leader reads from the feed at a time
FEED_BATCH = 500
#: seconds the feed's transitions are kept once applied (they are not history: the
#: status changes are)
FEED_KEEP = 86_400.0


class ClusterRole:
    """This process as a node of the cluster, for the runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.cluster
        self.node = ClusterNode(runtime.store.engine, settings,
                                address=runtime.config.file.server.listen,
                                on_membership_change=self._membership_changed,
                                on_leadership=self._leadership_changed)
        #: every enabled check's key, in the configuration's order
        self.keys = [c.key for c in runtime.config.checks if c.enabled]
        #: the checks this node runs now
        self.owned: frozenset[str] = frozenset()
        self._wanted: Live = ()
        self._reassigning: asyncio.Task | None = None
        #: noted each time the checks owned were set (tests wait on it)
        self.reassigned = asyncio.Event()
        self._tenure: TenureFence | None = None
        self._leader_tasks: list[asyncio.Task] = []
        #: the last transition of the feed applied here (while leading)
        self.applied = 0

    @property
    def name(self) -> str:
        """This node's name."""
        return self.node.node

    # Joining and beating -----------------------------------------------------------------

    async def join(self) -> bool:
        """Join the cluster at start; False when the database cannot be reached (then
        :meth:`run` tries again at each heartbeat).

        :raises NodeNameTaken: another live process runs under this node name.
        """
        try:
            await self.node.start()
        except NodeNameTaken:
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("cluster: node %s cannot join yet (the database is away); runs no "
                        "check until it can", self.name)
            return False
        log.info("cluster: node %s joined (heartbeat %gs, dead after %d missed, lease %gs)",
                 self.name, self.node.settings.heartbeat, self.node.settings.dead_after,
                 self.node.settings.lease)
        return True

    async def run(self) -> None:
        """Join if not yet, then beat until cancelled. A process whose node name was
        taken by another stops acting as a node, and asks Vigie to stop."""
        heartbeat = self.node.settings.heartbeat
        while not self.node.joined:
            await asyncio.sleep(heartbeat)
            try:
                if await self.join():
                    break
            except NodeNameTaken as exc:
                log.error("%s", exc)
        try:
            await self.node.run()
        except NodeReplaced as exc:
            log.error("%s", exc)
            self.runtime.request_stop()

    async def stop(self) -> None:
        """Leave gracefully: leader work stops first, then the lease and the checks go to
        the others at their next heartbeat."""
        await self.node.stop()
        if self._reassigning is not None:
            self._reassigning.cancel()
            await asyncio.gather(self._reassigning, return_exceptions=True)

    # Ownership ---------------------------------------------------------------------------

    def _membership_changed(self, live: Live) -> None:
        self._wanted = live
        if not live or self.name not in live:
            self._assign(frozenset(), {})  # cut off: drop every check now
        if self._reassigning is None or self._reassigning.done():
            self._reassigning = asyncio.get_running_loop().create_task(
                self._reassign(), name="vigie-cluster-ownership")

    async def _reassign(self) -> None:
        """Follow the live nodes until the checks owned match the last set heard of."""
        done: Live | None = None
        while done != self._wanted:
            live = done = self._wanted
            if not live or self.name not in live:
                self._assign(frozenset(), {})
                continue
            mine = frozenset(await asyncio.to_thread(self.node.owned, self.keys))
            gained = mine - self.owned
            due_in = await self._take_over(gained) if gained else {}
            if self._wanted == live:
                self._assign(mine, due_in)

    async def _take_over(self, keys: frozenset[str]) -> dict[str, float]:
        """Start the gained checks from the state their previous owner left; seconds
        until each is due (absent: never run)."""
        try:
            stored = await asyncio.to_thread(self.runtime.store.check_states, keys)
        except Exception as exc:
            log.warning("cluster: the state of %d checks taken over could not be read "
                        "(%s); they start from what this node knew, due now", len(keys), exc)
            return dict.fromkeys(keys, 0.0)
        return self.load(stored, time.time())

    def load(self, stored: dict[str, StoredCheckState], now: float) -> dict[str, float]:
        """Take the stored states into this node's book; seconds until each check is due
        from ``now`` (its last run plus its delay), for those that ever ran."""
        book = self.runtime.own
        due_in: dict[str, float] = {}
        for key, state in stored.items():
            check = book.checks.get(key)
            if check is None:
                continue
            check.take_over(state.status, state.since, state.failures)
            if state.last_run is not None:
                due_in[key] = state.last_run + check.next_delay() - now
        return due_in

    def _assign(self, mine: frozenset[str], due_in: dict[str, float]) -> None:
        scheduler = self.runtime.scheduler
        if scheduler is not None:
            gained, lost = scheduler.set_owned(mine, due_in)
        else:
            gained, lost = list(mine - self.owned), list(self.owned - mine)
        if gained or lost or mine != self.owned:
            log.info("cluster: node %s runs %d checks (%d gained, %d lost)", self.name,
                     len(mine), len(gained), len(lost))
        self.owned = mine
        self.node.checks_owned = len(mine)
        self.reassigned.set()

    # Leadership --------------------------------------------------------------------------

    @property
    def leading(self) -> int | None:
        """The epoch whose leader work runs here now (None: none runs)."""
        return self._tenure.epoch if self._tenure is not None else None

    async def _leadership_changed(self, epoch: int | None) -> None:
        """This node starts leading under ``epoch``, or stops (None): the previous
        tenure's work is stopped first (awaited: at a graceful stop it is over before the
        lease is ended), then the new one's started."""
        await self._stop_leading()
        if epoch is not None:
            self._start_leading(epoch)

    def _start_leading(self, epoch: int) -> None:
        loop = asyncio.get_running_loop()

        def fenced() -> None:  # from any thread: stop this tenure's work at once
            loop.call_soon_threadsafe(self._fenced, epoch)

        fence = TenureFence(self.node, epoch, on_fenced=fenced)
        self._tenure = fence
        self.runtime.incidents.lead(fence)
        self._leader_tasks = [loop.create_task(self._lead(fence), name="vigie-leader")]
        log.info("cluster: node %s leads (epoch %d): incidents, outbox, maintenance, "
                 "rollups and purges run here", self.name, epoch)

    async def _lead(self, fence: TenureFence) -> None:
        """The leader's work: once the database is prepared, every check's status as of
        the feed's cursor, the incident engine brought in line with the services', then
        the feed followed from the cursor, the ticker and the outbox worker."""
        runtime = self.runtime
        await runtime.store_opened.wait()
        reader = FeedReader(runtime.store)
        snapshot = await asyncio.to_thread(reader.snapshot, self.keys)
        self._picture_at(snapshot)
        incidents = runtime.incidents
        await incidents.start(runtime._accept_transitions)
        async with asyncio.TaskGroup() as group:
            for work in incidents.leader_tasks():
                group.create_task(work)
            group.create_task(self._follow(reader, snapshot.cursor), name="vigie-feed")

    def _picture_at(self, snapshot: Snapshot) -> None:
        """Set every check of the whole picture (:attr:`Runtime.state`) to its status as
        of the cursor, and the services' from them, telling nothing: the transitions
        after the cursor are applied next, as the previous leader would have."""
        book = self.runtime.state
        for key, (status, since) in snapshot.statuses.items():
            check = book.checks.get(key)
            if check is not None:
                check.take_over(status, since, 0)
        book.restore_services(time.time())
        log.info("cluster: node %s takes the feed from transition %d", self.name,
                 snapshot.cursor)

    async def _follow(self, reader: FeedReader, cursor: int) -> None:
        """Apply the feed's transitions after ``cursor`` in order, as they come: woken by
        the owners' NOTIFY, and reading every heartbeat should one be lost; the cursor
        moves on once the engine has taken them."""
        runtime = self.runtime
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        def heard() -> None:  # in the listener's thread
            loop.call_soon_threadsafe(wake.set)

        listener = Listener(runtime.store.url, heard)
        listener.start()
        position, failing = cursor, False
        try:
            while True:
                wake.clear()
                try:
                    fed = await asyncio.to_thread(reader.read_after, position, FEED_BATCH)
                except Exception as exc:
                    if not failing:
                        log.warning("cluster: the feed cannot be read (%s); trying again",
                                    str(exc).splitlines()[0] if str(exc) else exc)
                    failing, fed = True, []
                else:
                    failing = False
                for transition in fed:
                    result = ProbeResult(transition.current, transition.reason,
                                         duration=transition.duration,
                                         started_at=transition.at)
                    runtime._accept_transitions(
                        runtime.state.apply_change(transition.check_key, result))
                if fed:
                    position = fed[-1].id
                    self.applied = position
                    await runtime.incidents.advance_feed(position)
                    if len(fed) == FEED_BATCH:
                        continue
                await wait_event(wake, self.node.settings.heartbeat)
        finally:
            listener.stop()

    def prune_feed(self) -> int:
        """Delete the feed's transitions the leaders applied more than a day ago
        (blocking: the leader's housekeeping runs it in a thread)."""
        with self.runtime.store.write_engine.begin() as conn:
            return FeedReader.prune(conn, time.time() - FEED_KEEP)

    def _fenced(self, epoch: int) -> None:
        if self.leading == epoch:
            log.warning("cluster: node %s was fenced (epoch %d is over): its leader work "
                        "stops now", self.name, epoch)
            asyncio.get_running_loop().create_task(self._stop_leading(epoch))

    async def _stop_leading(self, epoch: int | None = None) -> None:
        """Stop the leader work (of ``epoch`` only, when given)."""
        tenure = self._tenure
        if tenure is None or (epoch is not None and tenure.epoch != epoch):
            return
        self._tenure = None
        tasks, self._leader_tasks = self._leader_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.runtime.incidents.stand_down()
        log.info("cluster: node %s stopped leading (epoch %d)", self.name, tenure.epoch)


class _Picture:
    """What the metrics read of the states on a node: the checks it runs, and the
    services only while it leads (the leader alone sees every check)."""

    __slots__ = ("checks", "services")

    def __init__(self, checks: dict, services: dict) -> None:
        self.checks = checks
        self.services = services


class ClusterMetricsView:
    """The runtime as :class:`monitor.metrics.VigieCollector` reads it on a node: each
    node exports the checks it owns (summed over the nodes' targets, every check once)
    and, on the leader only, the services."""

    def __init__(self, runtime: Runtime, role: ClusterRole) -> None:
        self.runtime = runtime
        self.role = role
        self.scheduler_stats = runtime.scheduler_stats
        self.writer_stats = runtime.writer_stats
        self.probe_kinds = runtime.probe_kinds
        self.hook_failures = runtime.hook_failures

    @property
    def state(self) -> _Picture:
        """The owned checks (of :attr:`Runtime.own`), the services when leading."""
        checks = self.runtime.own.checks
        owned = self.role.owned
        services = self.runtime.state.services if self.role.node.leader else {}
        return _Picture({k: c for k, c in list(checks.items()) if k in owned}, services)
