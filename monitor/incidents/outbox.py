"""The durable outbox: side effects written with the change that causes them, delivered by
a worker with retries.

Writing (:func:`enqueue`) happens inside the caller's transaction. Delivering
(:class:`OutboxWorker`) gives **each plugin its own lane**: an asyncio task that picks the
plugin's due rows in a thread, calls its hookimpl for each row's hook with the deserialised
event (a coroutine is awaited on the loop, a synchronous function runs in the lane's own
threads), up to the plugin's ``concurrency`` calls at once, and records each outcome in a
short transaction. A forum that does not answer, or a desk being retried, only ever holds
its own lane: the volunteers' alert leaves at once. Within a lane the entries of one
*stream* (an incident, a maintenance window) go one after the other, in order; a row
belongs to one plugin, so to one lane, and a lane never claims a row it has in flight, so
no row is delivered twice at once. The outcome of a call:

- success → ``delivered``; returned :class:`~monitor.notifications.Link` objects are stored
  on the incident in the same transaction (for a member's request, the ticket is stored
  on the request, and its screenshots are deleted after the commit:
  :mod:`monitor.assistance.delivery`; a member's confirmation mail has its token blanked
  in the row: :func:`monitor.subscriptions.jobs.spent`);
- :class:`~monitor.notifications.RetryLater` → tried again after the given seconds, not
  counted as a failure;
- :class:`~monitor.notifications.PermanentFailure` → ``dead`` at once, with its message;
- any other exception → ``attempts + 1`` and a backoff computed by tenacity's
  ``wait_random_exponential`` (capped); ``dead`` after ``max_attempts``.

Delivery is at least once toward the plugin: a row claimed when the process dies is
simply tried again after restart, with the same idempotency key, so a receiver that honours
keys (or a plugin that looks before creating) acts once. (One process delivers: the claim
is kept in memory, not in the row.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import pluggy
from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.orm import Session, aliased
from tenacity import Retrying, wait_random_exponential

from monitor.assistance import delivery as assistance
from monitor.cluster.errors import Fenced
from monitor.cluster.fencing import Fence
from monitor.incidents.lanes import Lane, call_hook
from monitor.incidents.models import OutboxEntry
from monitor.notifications import (
    IncidentEvent,
    Link,
    PermanentFailure,
    RetryLater,
    from_json,
)
from monitor.plugins import implementers, plugin_caller
from monitor.safetext import clean_text
from monitor.store.engine import dialect_insert
from monitor.subscriptions import jobs as member_mail
from monitor.waits import wait_event

log = logging.getLogger(__name__)

#: the longest error text kept on a row
ERROR_LENGTH = 1000
#: hook name → keyword of its single argument
HOOK_ARGUMENT = {"vigie_incident_opened": "event", "vigie_incident_updated": "event",
                 "vigie_incident_resolved": "event", "vigie_maintenance_changed": "event",
                 "vigie_system_alert": "alert", "vigie_assistance_request": "request",
                 member_mail.MEMBER_MAIL_HOOK: "job"}
#: the hook whose rows are members' requests (their state follows the delivery)
ASSISTANCE_HOOK = "vigie_assistance_request"


def enqueue(session: Session, *, hook: str, plugin: str, key: str, stream: str,
            payload: str, at: float, incident_id: int | None = None) -> int:
    """Add one pending delivery in the caller's transaction; return 1, or 0 when a row
    with the same idempotency key already exists (the event was written before)."""
    stmt = dialect_insert(session.get_bind(), OutboxEntry.__table__).values(
        idempotency_key=key, hook=hook, plugin=plugin, stream=stream, payload=payload,
        incident_id=incident_id, status="pending", attempts=0, created_at=at,
        next_attempt_at=at).on_conflict_do_nothing(index_elements=["idempotency_key"])
    return session.execute(stmt).rowcount or 0


def retry(session: Session, outbox_id: int, at: float | None = None) -> OutboxEntry:
    """Put a dead (or pending) entry back in the queue now, attempts reset (the admin's
    "retry" button, ``vigie outbox retry``).

    :raises KeyError: no such entry.
    :raises ValueError: the entry was already delivered.
    """
    entry = session.get(OutboxEntry, outbox_id)
    if entry is None:
        raise KeyError(outbox_id)
    if entry.status == "delivered":
        raise ValueError(f"outbox entry {outbox_id} was already delivered")
    entry.status, entry.attempts = "pending", 0
    entry.next_attempt_at = time.time() if at is None else at
    if entry.hook == ASSISTANCE_HOOK:
        assistance.retried(session, entry.id, entry.next_attempt_at)
    session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class Backlog:
    """What is waiting in the outbox."""

    pending: int
    dead: int
    #: Unix time the oldest pending entry was written, None when nothing is pending
    oldest_pending_at: float | None


def backlog(session: Session) -> Backlog:
    """Counts of pending and dead entries and the age of the oldest pending one."""
    rows = dict(session.execute(select(OutboxEntry.status, func.count())
                                .group_by(OutboxEntry.status)).all())
    oldest = session.scalar(select(func.min(OutboxEntry.created_at))
                            .where(OutboxEntry.status == "pending"))
    return Backlog(rows.get("pending", 0), rows.get("dead", 0), oldest)


def due_entries(session: Session, now: float, limit: int, *, plugin: str | None = None,
                exclude: Collection[int] = ()) -> list[OutboxEntry]:
    """Pending entries whose time has come and that no earlier pending entry of the same
    plugin and stream holds back, oldest first (so at most one per plugin and stream).

    :param plugin: only this plugin's entries (a lane's).
    :param exclude: ids not to return (the lane's entries in flight).
    """
    earlier = aliased(OutboxEntry)
    blocked = exists().where(and_(earlier.plugin == OutboxEntry.plugin,
                                  earlier.stream == OutboxEntry.stream,
                                  earlier.status == "pending", earlier.id < OutboxEntry.id))
    query = select(OutboxEntry).where(OutboxEntry.status == "pending",
                                      OutboxEntry.next_attempt_at <= now, ~blocked)
    if plugin is not None:
        query = query.where(OutboxEntry.plugin == plugin)
    if exclude:
        query = query.where(OutboxEntry.id.not_in(list(exclude)))
    return list(session.scalars(query.order_by(OutboxEntry.id).limit(limit)))


def pending_plugins(session: Session) -> list[str]:
    """Names of the plugins some pending entry is for."""
    return list(session.scalars(select(OutboxEntry.plugin).distinct()
                                .where(OutboxEntry.status == "pending")))


def prune(session: Session, older_than: float) -> int:
    """Delete delivered entries delivered before ``older_than``; return how many."""
    result = session.execute(delete(OutboxEntry).where(
        OutboxEntry.status == "delivered", OutboxEntry.delivered_at < older_than))
    return result.rowcount or 0


@dataclass
class DeliveryStats:
    """Counters of the worker, read by the metrics collector."""

    #: (plugin, result) → count; result is delivered, retry_later, failed, dead
    deliveries: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    #: plugin → consecutive failed deliveries (reset by a success)
    failing_streak: Counter[str] = dataclasses.field(default_factory=Counter)
    backlog: Backlog = dataclasses.field(default_factory=lambda: Backlog(0, 0, None))


@dataclass(frozen=True, slots=True)
class Job:
    """One entry to deliver, as claimed."""

    id: int
    hook: str
    plugin: str
    key: str
    payload: str
    attempts: int
    incident_id: int | None
    stream: str = ""


class OutboxWorker:
    """Delivers outbox entries to plugins until cancelled, one lane per plugin.

    :param sessions: a callable returning a new ORM session (``store.session``).
    :param pm: the plugin manager whose hookimpls receive the deliveries.
    :param poll_interval: seconds between scans of a lane with nothing due (``wake()``
        cuts it short after a write).
    :param batch: entries one :meth:`run_once` round claims per plugin, at most.
    :param call_timeout: seconds a plugin may take for one delivery (then it counts as a
        failure and is retried).
    :param concurrency: deliveries in progress at once per plugin…
    :param plugin_concurrency: …or for these plugins, by name.
    :param write_sessions: sessions for recording outcomes (``store.write_session``: on
        SQLite they begin with ``BEGIN IMMEDIATE``); default ``sessions``.
    :param fence: the leader's fence in a cluster (:mod:`monitor.cluster.fencing`): each
        delivery checks it in the database, then by the node's own clock right before
        the plugin is called; a fenced delivery is not made, and its entry stays pending
        for the next leader. None outside a cluster.
    """

    #: seconds between two looks for plugins with pending entries but no lane yet (a
    #: plugin no longer loaded: its entries are dead-lettered)
    DISCOVER_EVERY = 30.0

    def __init__(self, sessions: Callable[[], Session], pm: pluggy.PluginManager, *,
                 max_attempts: int = 10, initial_backoff: float = 5.0,
                 max_backoff: float = 3600.0, poll_interval: float = 1.0,
                 batch: int = 50, call_timeout: float = 120.0, concurrency: int = 4,
                 plugin_concurrency: Mapping[str, int] | None = None,
                 stats: DeliveryStats | None = None,
                 clock: Callable[[], float] = time.time,
                 write_sessions: Callable[[], Session] | None = None,
                 fence: Fence | None = None) -> None:
        self.sessions = sessions
        self.fence = fence
        self.write_sessions = write_sessions or sessions
        self.pm = pm
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.batch = batch
        self.call_timeout = call_timeout
        self.concurrency = max(1, concurrency)
        self.plugin_concurrency = dict(plugin_concurrency or {})
        self.stats = stats or DeliveryStats()
        self.clock = clock
        # tenacity computes the delay: exponential from initial_backoff, full jitter, capped
        self._wait = wait_random_exponential(multiplier=initial_backoff, max=max_backoff)
        self._wake: asyncio.Event | None = None
        self._lanes: dict[str, Lane] = {}

    def concurrency_of(self, plugin: str) -> int:
        """Deliveries in progress at once for ``plugin``."""
        return max(1, self.plugin_concurrency.get(plugin, self.concurrency))

    def wake(self) -> None:
        """Look for due entries now, in every lane (call from the event loop after
        writing some)."""
        if self._wake is not None:
            self._wake.set()
        for lane in self._lanes.values():
            lane.wake.set()

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt.

        The schedule is durable (the count is in the row, the time of the next attempt
        too), so no retry loop lives in memory to ask. The wait is what tenacity's own
        loop gives after that many failures: a :class:`~tenacity.Retrying` with the
        outbox's wait strategy replays them, its ``sleep`` only noting each wait.
        """
        waits: list[float] = []
        for attempt in Retrying(wait=self._wait, sleep=waits.append, reraise=True):
            with attempt:
                if len(waits) < attempts:
                    raise _Replayed
        return float(waits[-1]) if waits else 0.0

    def subscribers(self) -> list[str]:
        """The plugins implementing a durable hook (each gets a lane at start)."""
        names: dict[str, None] = {}
        for hook in HOOK_ARGUMENT:
            names.update(dict.fromkeys(reversed(implementers(self.pm, hook))))
        return list(names)

    def _lane(self, plugin: str) -> Lane:
        lane = self._lanes.get(plugin)
        if lane is None:
            lane = self._lanes[plugin] = Lane(self, plugin, self.concurrency_of(plugin))
        return lane

    async def run(self) -> None:
        """Deliver forever, each plugin in its own lane (cancel the task to stop)."""
        self._wake = asyncio.Event()
        tasks: dict[str, asyncio.Task] = {}
        try:
            for plugin in self.subscribers():
                tasks[plugin] = asyncio.create_task(self._lane(plugin).run(),
                                                    name=f"vigie-outbox-{plugin}")
            while True:
                # a plugin with pending entries but no lane (no longer loaded): give it
                # one, which dead-letters them; a lane that crashed is started again
                try:
                    found = await asyncio.to_thread(self._pending_plugins)
                except Exception:  # the database is away: the lanes say so, and retry
                    found = []
                # and a plugin registered while running (a webhook endpoint) gets its
                # lane at once
                for plugin in dict.fromkeys([*found, *self.subscribers()]):
                    task = tasks.get(plugin)
                    if task is not None and task.done():
                        log.error("outbox: the lane of %s stopped (%r); starting it again",
                                  plugin, task.exception())
                    if task is None or task.done():
                        tasks[plugin] = asyncio.create_task(self._lane(plugin).run(),
                                                            name=f"vigie-outbox-{plugin}")
                await self._close_unused(tasks, found)
                await wait_event(self._wake, self.DISCOVER_EVERY)
                self._wake.clear()
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            for lane in self._lanes.values():
                lane.close()
            self._lanes.clear()

    async def _close_unused(self, tasks: dict[str, asyncio.Task], pending: list[str]) -> None:
        """Stop the lanes of plugins unregistered while running (a removed or disabled
        webhook endpoint) once nothing of theirs is pending."""
        for plugin in [p for p in tasks if p not in pending and self.pm.get_plugin(p) is None]:
            lane, task = self._lanes.get(plugin), tasks.pop(plugin)
            if lane is not None and lane.in_flight:
                tasks[plugin] = task  # a delivery still running: next time
                continue
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if lane is not None:
                lane.close()
                self._lanes.pop(plugin, None)

    async def run_once(self) -> bool:
        """One deterministic round (tests, tools): deliver every entry due now (the first
        of each stream), the plugins side by side, each plugin's entries one after the
        other in id order; return True when there was any. :meth:`run` is the service:
        lanes with their concurrency."""
        plugins = await asyncio.to_thread(self._pending_plugins)
        done = await asyncio.gather(*(self._lane(p).round() for p in plugins))
        if not any(done):
            self.stats.backlog = await asyncio.to_thread(self._backlog)
        return any(done)

    def _pending_plugins(self) -> list[str]:
        with self.sessions() as session:
            return pending_plugins(session)

    def _backlog(self) -> Backlog:
        with self.sessions() as session:
            return backlog(session)

    def claim(self, plugin: str, limit: int, exclude: Collection[int] = ()) -> list[Job]:
        """Up to ``limit`` of ``plugin``'s entries due now, the first of each stream, not
        those in ``exclude`` (in flight). Blocking: run it in a thread."""
        with self.sessions() as session:
            rows = due_entries(session, self.clock(), limit, plugin=plugin, exclude=exclude)
            return [Job(r.id, r.hook, r.plugin, r.idempotency_key, r.payload, r.attempts,
                         r.incident_id, r.stream) for r in rows]

    async def deliver(self, job: Job, executor: Executor | None = None) -> str:
        """Deliver one entry and record the outcome; return it (``delivered``,
        ``retry_later``, ``failed``, ``dead``). A synchronous hookimpl runs in
        ``executor`` (the lane's threads)."""
        try:
            event = await asyncio.to_thread(self._prepare, job)
            if self.fence is not None and not self.fence.valid():
                raise Fenced("the lease ran out before the call")
            result = await self._call(job, event, executor)
        except Fenced as exc:
            # not made, nothing recorded: the entry stays pending for the next leader
            log.warning("outbox: %s: %s not delivered, this node no longer leads (%s)",
                        job.plugin, job.hook, exc)
            return "fenced"
        except RetryLater as exc:
            outcome = "retry_later"
            await asyncio.to_thread(self._record, job, outcome, str(exc), exc.seconds)
        except PermanentFailure as exc:
            outcome = "dead"
            await asyncio.to_thread(self._record, job, outcome, _error(exc), None)
        except Exception as exc:
            outcome = "dead" if job.attempts + 1 >= self.max_attempts else "failed"
            log.warning("outbox: plugin %s failed %s (attempt %d/%d): %s", job.plugin,
                        job.hook, job.attempts + 1, self.max_attempts, _error(exc))
            await asyncio.to_thread(self._record, job, outcome, _error(exc), None)
        else:
            outcome = "delivered"
            try:
                await asyncio.to_thread(self._record_success, job, result)
            except Fenced:
                # made, not recorded: the next leader delivers it again, with the same
                # idempotency key (a receiver that honours keys acts once)
                log.warning("outbox: %s: %s delivered, but this node no longer leads: "
                            "not recorded", job.plugin, job.hook)
                return "fenced"
        self.stats.deliveries[(job.plugin, outcome)] += 1
        if outcome == "delivered":
            self.stats.failing_streak[job.plugin] = 0
        elif outcome in ("failed", "dead"):
            self.stats.failing_streak[job.plugin] += 1
        return outcome

    def _prepare(self, job: Job) -> Any:
        """The event of an entry, with the incident's links as they are now (a plugin
        finds the ticket it created on "opened" when "updated" comes); the fence checked
        first, in the database (cluster mode).

        :raises Fenced: this node no longer leads.
        """
        if self.fence is not None:
            with self.sessions() as session, session.begin():
                self.fence(session.connection())
        if job.hook == ASSISTANCE_HOOK:
            return assistance.decode(job.payload)
        if job.hook == member_mail.MEMBER_MAIL_HOOK:
            return member_mail.MemberMailJob.from_json(job.payload)
        event = from_json(job.payload)
        if isinstance(event, IncidentEvent) and job.incident_id is not None:
            from monitor.incidents.emit import incident_links

            with self.sessions() as session:
                links = incident_links(session, job.incident_id)
            event = dataclasses.replace(
                event, links=tuple(links),
                own_links=tuple(l for l in links if l.plugin == job.plugin))
        return event

    async def _call(self, job: Job, event: Any, executor: Executor | None = None) -> Any:
        # a row is for one plugin: call that plugin's implementation only, through
        # pluggy's hook caller with every other plugin removed
        if self.pm.get_plugin(job.plugin) is None:
            raise PermanentFailure(f"plugin {job.plugin!r} is not loaded any more")
        caller = plugin_caller(self.pm, job.hook, job.plugin)
        if caller is None:
            raise PermanentFailure(f"plugin {job.plugin!r} no longer implements {job.hook}")
        # a hung receiver must not hold its lane for ever: the call has a deadline
        return await call_hook(caller, {HOOK_ARGUMENT[job.hook]: event}, self.call_timeout,
                               executor)

    def _record_success(self, job: Job, result: Any) -> None:
        from monitor.incidents.emit import attach_links

        now = self.clock()
        with self.write_sessions() as session, session.begin():
            session.execute(update(OutboxEntry).where(OutboxEntry.id == job.id).values(
                status="delivered", delivered_at=now, last_attempt_at=now,
                attempts=job.attempts + 1, last_error=None))
            links = [dataclasses.replace(l, plugin=l.plugin or job.plugin)
                     for l in (result or ()) if isinstance(l, Link)]
            if links and job.incident_id is not None:
                attach_links(session, job.incident_id, links, now)
            desk = job.hook == ASSISTANCE_HOOK and assistance.record(
                session, job.id, "delivered", now=now, result=result)
            if job.hook == member_mail.MEMBER_MAIL_HOOK:  # the link's secret is mailed:
                spent = member_mail.spent(job.payload)  # Vigie keeps no copy
                if spent is not None:
                    session.execute(update(OutboxEntry).where(OutboxEntry.id == job.id)
                                    .values(payload=spent))
        if desk:  # committed: the desk has the screenshots, Vigie keeps no copy
            assistance.after_delivery(job.payload)()

    def _record(self, job: Job, outcome: str, error: str, wait: float | None) -> None:
        now = self.clock()
        values: dict[str, Any] = {"last_attempt_at": now, "last_error": error[:ERROR_LENGTH]}
        if outcome == "retry_later":
            values["next_attempt_at"] = now + (wait or 0.0)
        elif outcome == "dead":
            values.update(status="dead", attempts=job.attempts + 1)
        else:
            values.update(attempts=job.attempts + 1,
                          next_attempt_at=now + self.backoff(job.attempts + 1))
        with self.write_sessions() as session, session.begin():
            session.execute(update(OutboxEntry).where(OutboxEntry.id == job.id).values(**values))
            if job.hook == ASSISTANCE_HOOK:
                assistance.record(session, job.id, outcome, now=now, error=error)


class _Replayed(Exception):
    """A failure replayed by :meth:`OutboxWorker.backoff`."""


def _error(exc: BaseException) -> str:
    """What a failed delivery said, safe to store (a plugin's message often repeats a remote
    service's words: a NUL byte would make PostgreSQL refuse the row's update, and the
    entry would be tried again for ever)."""
    text = clean_text(str(exc).strip(), ERROR_LENGTH)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
