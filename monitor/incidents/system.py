"""Running the incident engine, the maintenance ticker and the outbox worker inside
``vigie run``.

:class:`IncidentSystem` is what :class:`monitor.runtime.Runtime` holds. The database work
runs in one dedicated thread, so status changes are applied one at a time and in the order
they happened, and the event loop never waits for the database. Its parts:

- :meth:`on_transitions` — called from ``Runtime.on_result`` (on the loop): queues the
  service changes for the engine;
- :meth:`on_result` — certificate-expiry warnings from a result's samples;
- :meth:`start` — copies the configured windows to the database, applies the current
  maintenance state, then brings incidents in line with the restored statuses. The
  runtime calls it once the database is prepared, which may be long after start when the
  database was unreachable then: until it runs, transitions are kept by the engine (they
  are recorded, in order, first thing in ``start``), certificate warnings are not queued,
  the outbox worker waits, and the ticker only watches the database (its direct alert
  needs none);
- :meth:`tasks` — the background coroutines: the ticker (every :data:`TICK_EVERY` s:
  maintenance, quiet-period resolution, reminders, system alerts) and the outbox worker.

A change the engine cannot record (the database is away) is told to volunteers at once,
best effort, when a service starts failing or works again after that
(:class:`~monitor.incidents.watch.UnrecordedAlerts`); like the "database unreachable"
alert, it calls ``vigie_system_alert`` directly (:func:`~monitor.incidents.watch.send_directly`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from monitor.cluster.errors import Fenced
from monitor.cluster.feed import FeedReader
from monitor.cluster.fencing import Fence, fenced_sessions
from monitor.events import fire
from monitor.incidents import outbox
from monitor.incidents.emit import emit_system_alert
from monitor.incidents.context import IncidentContext
from monitor.incidents.engine import IncidentEngine, StatusChange
from monitor.incidents.lifecycle import OUTAGE_IMPACTS
from monitor.incidents.maintenance import (
    MaintenanceTicker,
    apply_maintenance,
    sync_config_windows,
)
from monitor.incidents.outbox import DeliveryStats, OutboxWorker
from monitor.incidents.watch import (
    SystemWatch,
    UnrecordedAlerts,
    database_alert,
    send_directly,
)
from monitor.notifications import SystemAlert
from monitor.state import ServiceTransition
from monitor.store.records import Change
from monitor.store.writer import is_transient

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from monitor.config import Check
    from monitor.probe import ProbeResult
    from monitor.runtime import Runtime

log = logging.getLogger(__name__)

#: seconds between two passes of the ticker
TICK_EVERY = 15.0
#: seconds between two prunings of delivered outbox entries
PRUNE_EVERY = 3600.0
#: the database must be unreachable this long before the direct alert is sent
DATABASE_ALERT_AFTER = 120.0


class IncidentSystem:
    """Incidents, maintenance and the outbox for one running Vigie."""

    def __init__(self, runtime: Runtime, *, tick_every: float | None = None) -> None:
        self.runtime = runtime
        self.tick_every = tick_every or TICK_EVERY
        config = runtime.config
        self.ctx = IncidentContext.build(config, runtime.plugin_manager,
                                         status_of=self._status_of)
        self.stats = DeliveryStats()
        #: the fence of the tenure this system works for (cluster mode), else None
        self.fence: Fence | None = None
        self._build()
        delivery = config.file.incidents.outbox
        unknown = sorted(set(delivery.plugin_concurrency) - set(self.worker.subscribers()))
        if unknown:
            log.warning("incidents.outbox.plugin_concurrency: %s delivers nothing (plugins "
                        "that do: %s)", ", ".join(unknown),
                        ", ".join(self.worker.subscribers()) or "none")
        self.unrecorded = UnrecordedAlerts(self.ctx.timezone)
        #: services in maintenance now (read by the metrics collector)
        self.in_maintenance: set[str] = set()
        #: windows whose stored rule is refused (skipped), as the last tick saw them
        self.refused_windows = 0
        self.open_incidents = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accept: Callable[[list], None] | None = None
        self._db_down_since: float | None = None
        self._db_alerted = False
        self._pruned_at = 0.0
        #: direct alerts being sent (kept referenced until done)
        self._direct: set[asyncio.Task] = set()
        #: the certificate warnings of the checks a node of a cluster runs (the owner
        #: writes them, whoever leads: their keys hold the day, so never twice)
        self.owner_engine: IncidentEngine | None = None
        if runtime.role is not None:
            self.owner_engine = IncidentEngine(runtime.store.write_session, self.ctx)
            self.owner_executor = ThreadPoolExecutor(1, thread_name_prefix="vigie-certs")

    def _build(self) -> None:
        """The engine, the ticker, the outbox worker and the watch, writing through the
        fence of :attr:`fence` (when set) and sharing one database thread."""
        runtime = self.runtime
        settings = runtime.config.file.incidents
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="vigie-incidents")
        # the engine, the ticker and the watch read then write in each transaction: write
        # sessions (BEGIN IMMEDIATE on SQLite) so a result batch committed in between
        # cannot fail them with "database is locked"
        writes: Callable[[], Session] = runtime.store.write_session
        if self.fence is not None:
            writes = fenced_sessions(runtime.store, self.fence)
        self.engine = IncidentEngine(writes, self.ctx, on_written=self._wake_threadsafe,
                                     on_held=self._on_held)
        self.ticker = MaintenanceTicker(writes, self.ctx)
        self._writes = writes
        delivery = settings.outbox
        self.worker = OutboxWorker(
            runtime.store.session, runtime.plugin_manager, write_sessions=writes,
            max_attempts=delivery.max_attempts, initial_backoff=delivery.initial_backoff,
            max_backoff=delivery.max_backoff, call_timeout=delivery.call_timeout,
            concurrency=delivery.concurrency, plugin_concurrency=delivery.plugin_concurrency,
            stats=self.stats, fence=self.fence)
        self.watch = SystemWatch(writes, self.ctx, delivery, self.stats)
        #: set by :meth:`start`: the database is prepared and the engine may use it
        self._ready = asyncio.Event()
        #: service changes the leader could not store yet (cluster mode)
        self._unwritten: list[Change] = []

    def lead(self, fence: Fence) -> None:
        """(Cluster mode) Work for a new tenure: a fresh engine, ticker, outbox worker and
        watch whose every transaction and delivery is fenced by ``fence``; then
        :meth:`start` and :meth:`leader_tasks`. What the previous tenure left in its
        database thread is abandoned (its writes are fenced)."""
        old = self.executor
        self.fence = fence
        self._build()
        old.shutdown(wait=False, cancel_futures=True)

    def record_changes(self, changes: list[Change]) -> None:
        """(Cluster mode) Store the leader's service status changes on the engine's
        thread, in order with its work, in fenced transactions; kept and written again
        with the next ones when the database is away."""
        self._submit(self._write_changes, changes)

    def _write_changes(self, changes: list[Change]) -> bool:
        self._unwritten += changes
        try:
            with self._writes() as session, session.begin():
                self.runtime.store.write_in(session.connection(), self._unwritten)
        except Fenced:
            return False
        except Exception as exc:
            if not is_transient(exc):
                raise
            return False
        self._unwritten = []
        return True

    async def advance_feed(self, position: int) -> bool:
        """(Cluster mode) Once the engine has taken every change given so far (on its
        thread, after them), move the feed's cursor to ``position``, fenced; False when
        it could not (changes still wait for the database: the cursor stays, and they
        are taken again from the feed by the next leader should this one stop)."""
        return await self._run(self._advance_feed, position)

    def _advance_feed(self, position: int) -> bool:
        if self.engine.pending or (self._unwritten and not self._write_changes([])):
            return False
        try:
            with self._writes() as session, session.begin():
                FeedReader.advance(session.connection(), position)
        except Fenced:
            return False
        except Exception as exc:
            if not is_transient(exc):
                raise
            return False
        return True

    def stand_down(self) -> None:
        """(Cluster mode) Stop working for the tenure: nothing more is taken (the tasks
        of :meth:`leader_tasks` are cancelled by the caller)."""
        self._ready = asyncio.Event()
        self._accept = None

    @property
    def ready(self) -> bool:
        """:meth:`start` ran: incidents follow the statuses."""
        return self._ready.is_set()

    def _status_of(self, service_id: str) -> str | None:
        service = self.runtime.state.services.get(service_id)
        return service.status.label if service is not None and service.status else None

    def _wake_threadsafe(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.worker.wake)

    def _on_held(self, change: StatusChange) -> None:
        """The engine could not record ``change`` (its thread): tell volunteers directly
        when a service starts failing, or works again after they were told."""
        alert = self.unrecorded.alert_for(change, self.engine.outages)
        if alert is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._send_directly, alert)

    def _send_directly(self, alert: SystemAlert) -> None:
        task = asyncio.get_running_loop().create_task(
            send_directly(self.runtime.plugin_manager, alert,
                          failures=self.runtime.hook_failures), name="vigie-direct-alert")
        self._direct.add(task)
        task.add_done_callback(self._direct.discard)

    async def tell(self, alert: SystemAlert) -> bool:
        """Deliver a system alert raised outside the engine (Vigie short of resources, a
        location gone silent…): through the outbox once the database is prepared (kept
        and retried like every alert), directly and best effort before (as the "database
        unreachable" alert). False when it could not be written: the caller tells it
        again later."""
        log.warning("%s", alert.message_en)
        if not self.ready:
            await fire(self.runtime.plugin_manager, "vigie_system_alert",
                       failures=self.runtime.hook_failures, alert=alert)
            return True
        try:
            await self._run(self._write_alert, alert)
        except Exception as exc:  # noqa: BLE001 - a shortage may strike here too
            log.warning("cannot record the alert %s (%s: %s)", alert.code, type(exc).__name__,
                        str(exc).splitlines()[0] if str(exc) else "")
            return False
        self.worker.wake()
        return True

    def _write_alert(self, alert: SystemAlert) -> None:
        """The outbox rows of ``alert`` (in the database thread)."""
        with self.runtime.store.write_session() as session, session.begin():
            emit_system_alert(session, self.ctx, alert, at=alert.at)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        future = self.executor.submit(fn, *args)
        future.add_done_callback(_log_failure)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # Called on the event loop -----------------------------------------------------------

    def on_transitions(self, transitions: list) -> None:
        """Queue the service transitions for the engine (in order); before :meth:`start`
        the engine only keeps them (the database is not prepared yet)."""
        record = self.engine.on_change if self.ready else self.engine.hold
        for t in transitions:
            if isinstance(t, ServiceTransition):
                self._submit(record, StatusChange.from_transition(t))

    def on_result(self, check: Check, result: ProbeResult) -> None:
        """Warn about certificates expiring soon (samples ``…cert_expiry_timestamp_seconds``)."""
        if not result.samples:
            return
        if self.owner_engine is not None:  # a node of a cluster: the owner warns
            if self.runtime.store_ready:
                self._warn(self.owner_engine, self.owner_executor, check, result)
        elif self.ready:
            self._warn(self.engine, self.executor, check, result)

    def _warn(self, engine: IncidentEngine, executor: ThreadPoolExecutor, check: Check,
              result: ProbeResult) -> None:
        at = result.started_at or time.time()
        found = engine.cert_warnings(check.key, check.ref.service_id, result.samples, at)
        if found:
            future = executor.submit(engine.warn_certificates, check.key,
                                     check.ref.service_id, found, at)
            future.add_done_callback(_log_failure)

    async def start(self, accept: Callable[[list], None]) -> None:
        """Prepare at start; ``accept`` takes transitions caused by maintenance (the
        runtime sends them down the same path as check-driven ones)."""
        self._loop = asyncio.get_running_loop()
        self._accept = accept
        try:
            await self._run(self._sync_windows)
            await self._maintenance_tick()
            # from now on transitions reach the engine, queued after the restore below,
            # which covers every change until this line (no await in between)
            self._ready.set()
            now = time.time()
            changes = [StatusChange.of(s, None, s.status, now)
                       for s in self.runtime.state.services.values() if s.status is not None]
            await self._run(self.engine.restore, changes)
        except Exception:
            log.warning("incidents: start-up work failed (database?); the ticker will retry",
                        exc_info=True)
        finally:
            self._ready.set()

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The background coroutines to run as tasks."""
        # the engine's thread reaches the loop to wake the outbox and send direct alerts,
        # also before start() when the database was unreachable then
        self._loop = asyncio.get_running_loop()
        return [self._deliver_when_ready(), self._tick_loop()]

    def leader_tasks(self) -> list[Coroutine[Any, Any, None]]:
        """(Cluster mode) The leader's background coroutines: the outbox worker and the
        ticker, without the database watch (:meth:`watch_tasks` runs on every node)."""
        self._loop = asyncio.get_running_loop()
        return [self._deliver_when_ready(), self._tick_loop(database_watch=False)]

    def watch_tasks(self) -> list[Coroutine[Any, Any, None]]:
        """(Cluster mode) What every node runs: the direct alert when the database stays
        unreachable (a node cut from it cannot lead: each node tells it)."""
        self._loop = asyncio.get_running_loop()
        return [self._watch_database_loop()]

    async def _watch_database_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_every)
            await self._database_watch()

    async def _deliver_when_ready(self) -> None:
        await self._ready.wait()
        await self.worker.run()

    async def stop(self) -> None:
        """Let queued database work and direct alerts finish, then release the thread."""
        await asyncio.to_thread(self.executor.shutdown, wait=True)
        if self._direct:
            await asyncio.gather(*self._direct, return_exceptions=True)
        if self.engine.pending:
            # an outage among them is lost history: say it loudly; else it is only news
            lost = sum(w.change.current in OUTAGE_IMPACTS for w in self.engine.backlog)
            log.log(logging.ERROR if lost else logging.INFO,
                    "incident engine: stopping with %d status changes not recorded (%d of "
                    "them failures); the database was unreachable", self.engine.pending, lost)

    # Background -------------------------------------------------------------------------

    def _sync_windows(self) -> None:
        with self._writes() as session, session.begin():
            sync_config_windows(session, self.runtime.config, time.time())

    async def _maintenance_tick(self) -> None:
        result = await self._run(self.ticker.tick)
        self.in_maintenance = result.active
        self.refused_windows = result.refused
        if result.events:
            self.worker.wake()
        transitions = apply_maintenance(self.runtime.state, result.active, time.time())
        if transitions and self._accept is not None:
            self._accept(transitions)

    async def _tick_loop(self, database_watch: bool = True) -> None:
        while True:
            await asyncio.sleep(self.tick_every)
            await self.tick_once(database_watch)

    async def tick_once(self, database_watch: bool = True) -> None:
        """One pass of the ticker (each step logged and skipped when it fails); before
        :meth:`start`, only the database watch."""
        if self.ready:
            for step in (self._maintenance_tick, self._engine_tick, self._watch_tick):
                try:
                    await step()
                except Fenced:
                    return  # another node leads: this tenure's work is being stopped
                except Exception:
                    log.warning("incidents: %s failed; will retry", step.__name__,
                                exc_info=True)
        if database_watch:
            await self._database_watch()

    async def _engine_tick(self) -> None:
        await self._run(self.engine.tick)
        self.open_incidents = await self._run(self._count_open)

    def _count_open(self) -> int:
        from sqlalchemy import func, select

        from monitor.incidents.models import Incident

        with self.runtime.store.session() as session:
            return session.scalar(select(func.count()).select_from(Incident)
                                  .where(Incident.resolved_at.is_(None))) or 0

    async def _watch_tick(self) -> None:
        now = time.time()
        if now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            keep = self.runtime.config.file.incidents.outbox.keep_delivered
            await self._run(self._prune, now - keep)
        backlog = await self._run(self._backlog)
        self.stats.backlog = backlog
        alerts = await self._run(self.watch.check, backlog)
        if alerts:
            self.worker.wake()

    def _prune(self, older_than: float) -> None:
        with self._writes() as session, session.begin():
            removed = outbox.prune(session, older_than)
        if removed:
            log.info("outbox: pruned %d delivered entries", removed)

    def _backlog(self) -> outbox.Backlog:
        with self.runtime.store.session() as session:
            return outbox.backlog(session)

    async def _database_watch(self) -> None:
        """The direct, best-effort alert when the database stays unreachable."""
        up = self.runtime.writer_stats.database_up
        now = time.time()
        if up:
            self._db_down_since, self._db_alerted = None, False
            return
        if self._db_down_since is None:
            self._db_down_since = now
        if not self._db_alerted and now - self._db_down_since >= DATABASE_ALERT_AFTER:
            self._db_alerted = True
            alert = database_alert(now, self.runtime.store.safe_url, self._db_down_since)
            await send_directly(self.runtime.plugin_manager, alert,
                                failures=self.runtime.hook_failures)


def _log_failure(future) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("incident engine job failed", exc_info=exc)
