"""The durable outbox: side effects written with the change that causes them, delivered by
a worker with retries.

Writing (:func:`enqueue`) happens inside the caller's transaction. Delivering
(:class:`OutboxWorker`) is one asyncio task: it picks due rows in a thread, calls the
plugin's hookimpl for the row's hook with the deserialised event (awaiting a coroutine),
and records the outcome in a second short transaction:

- success → ``delivered``; returned :class:`~monitor.notifications.Link` objects are stored
  on the incident in the same transaction;
- :class:`~monitor.notifications.RetryLater` → tried again after the given seconds, not
  counted as a failure;
- :class:`~monitor.notifications.PermanentFailure` → ``dead`` at once, with its message;
- any other exception → ``attempts + 1`` and a backoff computed by tenacity's
  ``wait_random_exponential`` (capped); ``dead`` after ``max_attempts``.

Delivery is at least once toward the plugin: a row claimed when the process dies is
simply tried again after restart, with the same idempotency key, so a receiver that honours
keys (or a plugin that looks before creating) acts once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy
from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.orm import Session, aliased
from tenacity import RetryCallState
from tenacity.wait import wait_random_exponential

from monitor.incidents.models import OutboxEntry
from monitor.notifications import (
    IncidentEvent,
    Link,
    PermanentFailure,
    RetryLater,
    from_json,
)
from monitor.store.engine import dialect_insert

log = logging.getLogger(__name__)

#: the longest error text kept on a row
ERROR_LENGTH = 1000
#: hook name → keyword of its single argument
HOOK_ARGUMENT = {"vigie_incident_opened": "event", "vigie_incident_updated": "event",
                 "vigie_incident_resolved": "event", "vigie_maintenance_changed": "event",
                 "vigie_system_alert": "alert"}


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


def due_entries(session: Session, now: float, limit: int) -> list[OutboxEntry]:
    """Pending entries whose time has come and that no earlier pending entry of the same
    plugin and stream holds back, oldest first."""
    earlier = aliased(OutboxEntry)
    blocked = exists().where(and_(earlier.plugin == OutboxEntry.plugin,
                                  earlier.stream == OutboxEntry.stream,
                                  earlier.status == "pending", earlier.id < OutboxEntry.id))
    return list(session.scalars(
        select(OutboxEntry).where(OutboxEntry.status == "pending",
                                  OutboxEntry.next_attempt_at <= now, ~blocked)
        .order_by(OutboxEntry.id).limit(limit)))


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
    last_run_at: float = 0.0


@dataclass(frozen=True, slots=True)
class _Job:
    id: int
    hook: str
    plugin: str
    key: str
    payload: str
    attempts: int
    incident_id: int | None


class OutboxWorker:
    """Delivers outbox entries to plugins until cancelled.

    :param sessions: a callable returning a new ORM session (``store.session``).
    :param pm: the plugin manager whose hookimpls receive the deliveries.
    :param poll_interval: seconds between scans when nothing is due (``wake()`` cuts it
        short after a write).
    :param call_timeout: seconds a plugin may take for one delivery (then it counts as a
        failure and is retried).
    :param write_sessions: sessions for recording outcomes (``store.write_session``: on
        SQLite they begin with ``BEGIN IMMEDIATE``); default ``sessions``.
    """

    def __init__(self, sessions: Callable[[], Session], pm: pluggy.PluginManager, *,
                 max_attempts: int = 10, initial_backoff: float = 5.0,
                 max_backoff: float = 3600.0, poll_interval: float = 1.0,
                 batch: int = 50, call_timeout: float = 120.0,
                 stats: DeliveryStats | None = None,
                 clock: Callable[[], float] = time.time,
                 write_sessions: Callable[[], Session] | None = None) -> None:
        self.sessions = sessions
        self.write_sessions = write_sessions or sessions
        self.pm = pm
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.batch = batch
        self.call_timeout = call_timeout
        self.stats = stats or DeliveryStats()
        self.clock = clock
        # tenacity computes the delay: exponential from initial_backoff, full jitter, capped
        self._wait = wait_random_exponential(multiplier=initial_backoff, max=max_backoff)
        self._wake: asyncio.Event | None = None

    def wake(self) -> None:
        """Look for due entries now (call from the event loop after writing some)."""
        if self._wake is not None:
            self._wake.set()

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        state = RetryCallState(None, None, (), {})
        state.attempt_number = attempts
        return float(self._wait(state))

    async def run(self) -> None:
        """Deliver forever (cancel the task to stop)."""
        self._wake = asyncio.Event()
        failing = False
        while True:
            try:
                delivered_any = await self.run_once()
            except Exception:
                # logged once per outage, then quietly retried every poll (max 30 s)
                if not failing:
                    log.warning("outbox: cannot read the queue (database unreachable?); "
                                "will retry", exc_info=True)
                failing, delivered_any = True, False
            else:
                if failing:
                    log.info("outbox: the queue is readable again")
                failing = False
            if delivered_any:
                continue
            try:
                wait = min(30.0, self.poll_interval * 10) if failing else self.poll_interval
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self) -> bool:
        """Deliver every entry due now, in order; return True when there was any."""
        jobs = await asyncio.to_thread(self._claim)
        self.stats.last_run_at = self.clock()
        for job in jobs:
            await self.deliver(job)
        if not jobs:
            self.stats.backlog = await asyncio.to_thread(self._backlog)
        return bool(jobs)

    def _backlog(self) -> Backlog:
        with self.sessions() as session:
            return backlog(session)

    def _claim(self) -> list[_Job]:
        with self.sessions() as session:
            rows = due_entries(session, self.clock(), self.batch)
            jobs, seen = [], set()
            for r in rows:
                # one entry per plugin and stream per round: the next waits for this outcome
                if (r.plugin, r.stream) in seen:
                    continue
                seen.add((r.plugin, r.stream))
                jobs.append(_Job(r.id, r.hook, r.plugin, r.idempotency_key, r.payload,
                                 r.attempts, r.incident_id))
            return jobs

    async def deliver(self, job: _Job) -> str:
        """Deliver one entry and record the outcome; return it (``delivered``,
        ``retry_later``, ``failed``, ``dead``)."""
        try:
            event = await asyncio.to_thread(self._prepare, job)
            result = await self._call(job, event)
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
            await asyncio.to_thread(self._record_success, job, result)
        self.stats.deliveries[(job.plugin, outcome)] += 1
        if outcome == "delivered":
            self.stats.failing_streak[job.plugin] = 0
        elif outcome in ("failed", "dead"):
            self.stats.failing_streak[job.plugin] += 1
        return outcome

    def _prepare(self, job: _Job) -> Any:
        """The event of an entry, with the incident's links as they are now (a plugin
        finds the ticket it created on "opened" when "updated" comes)."""
        event = from_json(job.payload)
        if isinstance(event, IncidentEvent) and job.incident_id is not None:
            from monitor.incidents.emit import incident_links

            with self.sessions() as session:
                links = incident_links(session, job.incident_id)
            event = dataclasses.replace(
                event, links=tuple(links),
                own_links=tuple(l for l in links if l.plugin == job.plugin))
        return event

    async def _call(self, job: _Job, event: Any) -> Any:
        plugin = self.pm.get_plugin(job.plugin)
        if plugin is None:
            raise PermanentFailure(f"plugin {job.plugin!r} is not loaded any more")
        impl = next((i for i in getattr(self.pm.hook, job.hook).get_hookimpls()
                     if i.plugin is plugin), None)
        if impl is None:
            raise PermanentFailure(f"plugin {job.plugin!r} no longer implements {job.hook}")
        kwargs = {HOOK_ARGUMENT[job.hook]: event}
        # a hung receiver must not stop every other delivery: the call has a deadline,
        # and a synchronous hookimpl (blocking I/O) runs in a thread, off the event loop
        async with asyncio.timeout(self.call_timeout):
            if inspect.iscoroutinefunction(impl.function):
                value = await impl.function(**kwargs)
            else:
                value = await asyncio.to_thread(impl.function, **kwargs)
            if inspect.isawaitable(value):
                value = await value
        return value

    def _record_success(self, job: _Job, result: Any) -> None:
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

    def _record(self, job: _Job, outcome: str, error: str, wait: float | None) -> None:
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


def _error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
