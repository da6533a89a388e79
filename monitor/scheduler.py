"""Running every check on its own interval with a fixed pool of workers.

One dispatcher task keeps a heap of due times (monotonic clock) and feeds due checks into
a bounded queue; ``concurrency`` worker tasks take them, run them through
:func:`monitor.runner.run_check` (which enforces each check's hard deadline) and hand the
result to ``on_result``, whose answer is the delay until the check's next run. Memory grows
with the number of checks only by one small record each, never by a task per check.

A run that hangs holds one worker until its deadline and no longer, so a target that
accepts connections and never answers cannot delay other checks beyond the pool's capacity.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import inspect
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

import aiohttp

from monitor.config import Check
from monitor.plugins import ProbeRegistry
from monitor.probe import ProbeResult
from monitor.runner import ProbeErrorLog, run_check
from monitor.stats import SchedulerStats

log = logging.getLogger(__name__)

ResultCallback = Callable[[Check, ProbeResult], float]
CycleCallback = Callable[[float, int, float], Awaitable[None] | None]

#: a run that overran its next slot goes again after this fraction of its delay (behind
#: everything already due), rather than at a time already past
LATE_FRACTION = 0.1
#: ``on_cycle`` calls allowed to run at once; more means the callback is stuck
MAX_CYCLE_CALLS = 4
#: seconds granted at shutdown to ``on_cycle`` calls still running
CYCLE_CALL_GRACE = 5.0

_IDLE, _QUEUED, _RUNNING = 0, 1, 2


class _Entry:
    """The scheduler's record of one check (kept small: there may be tens of thousands)."""

    __slots__ = ("check", "cycle", "key", "kind", "owned", "probe", "rerun", "seq", "state")

    def __init__(self, check: Check, probe) -> None:
        self.check = check
        self.probe = probe
        self.kind = check.ref.kind
        self.key = check.key
        #: sequence number of this entry's valid heap item (older items are stale)
        self.seq = -1
        self.state = _IDLE
        #: run again as soon as the current run ends (run_now() during a run)
        self.rerun = False
        #: number of the last cycle this check completed a run in
        self.cycle = -1
        #: this process runs the check (in a cluster, another node may)
        self.owned = True


def _wake_up(waiter: asyncio.Future[None] | None) -> None:
    """End the dispatcher's sleep (it may already be over)."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def first_run_offset(check: Check) -> float:
    """Seconds after start of a check's first run: a stable spot in its interval.

    Derived from a hash of the check key, so a restart keeps the same spread.
    """
    return zlib.crc32(check.key.encode()) / 2**32 * check.interval


class Scheduler:
    """Runs every enabled check on its interval with a fixed pool of ``concurrency`` workers.

    :param checks: the checks to run (disabled ones are left out).
    :param registry: where each check's probe instance is found, by kind.
    :param http: the process-wide aiohttp session handed to probes.
    :param on_result: called on the loop after each run; returns the delay in seconds
        until this check's next run (interval or retry interval, the state decides).
    :param concurrency: number of worker tasks (runs at the same time).
    :param spread_first_runs: spread first runs over each check's interval; when off,
        every check is due at start.
    :param stats: counters updated for the metrics (a fresh one when None).
    :param on_cycle: called with ``(unix time, checks, duration)`` each time every check
        has completed a run since the previous cycle; may return an awaitable.
    :param clock: monotonic clock used for due times and the probes' deadlines (tests may
        pass their own).
    :param call_later: ``call_later(delay, callback)`` starts the timer that wakes the
        dispatcher ``delay`` seconds of ``clock`` from now and returns something with
        ``cancel()``; the event loop's own by default. A test passes its clock's, so that
        advancing the clock is what fires the timers.
    :param owned: the keys of the checks this process runs (a node of a cluster runs its
        own share, changed by :meth:`set_owned`); all of them when None.
    :param first_due: seconds from start until the first run of the checks it names, by
        key (at once when not positive): a process that replaces its scheduler with one
        for a new list of checks keeps the kept checks' due times (``vigie agent``). A
        check not named runs at its usual spot (``spread_first_runs``).
    :raises ValueError: a check's kind has no probe, a key is used twice, or
        ``concurrency`` is below 1.
    """

    def __init__(
        self,
        checks: Sequence[Check],
        registry: ProbeRegistry,
        http: aiohttp.ClientSession,
        on_result: ResultCallback,
        concurrency: int = 256,
        spread_first_runs: bool = True,
        stats: SchedulerStats | None = None,
        on_cycle: CycleCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        call_later: Callable[[float, Callable[[], None]], Any] | None = None,
        owned: Collection[str] | None = None,
        first_due: Mapping[str, float] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._entries: dict[str, _Entry] = {}
        for check in checks:
            if not check.enabled:
                continue
            kind = registry.get(check.ref.kind)
            if kind is None:
                raise ValueError(f"check {check.key}: no probe of kind {check.ref.kind!r} "
                                 f"(known kinds: {', '.join(registry.names()) or 'none'})")
            if check.key in self._entries:
                raise ValueError(f"check {check.key} is scheduled twice")
            self._entries[check.key] = _Entry(check, kind.instance)
        if owned is not None:
            mine = set(owned)
            for key, entry in self._entries.items():
                entry.owned = key in mine
        self._http = http
        self._on_result = on_result
        self._on_cycle = on_cycle
        self._spread = spread_first_runs
        self._clock = clock
        self._call_later = call_later
        self._first_due = dict(first_due or {})
        self._workers = min(concurrency, len(self._entries)) or 1
        self.stats = stats if stats is not None else SchedulerStats()
        #: unexpected probe errors already logged, per check (logged once per episode)
        self.probe_errors = ProbeErrorLog()
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = 0
        self._queue: asyncio.Queue[tuple[_Entry, float] | None] | None = None
        #: what the dispatcher awaits while it sleeps until the next due time (None awake)
        self._waiter: asyncio.Future[None] | None = None
        #: the due time the dispatcher sleeps until (-inf while it is dispatching)
        self._sleep_until = -math.inf
        self._cycle = 0
        self._cycle_left = self.owned_checks
        self._cycle_started = 0.0
        self._cycle_calls: set[asyncio.Task] = set()
        self._logged: set[tuple[str, str]] = set()
        self._running = False

    @property
    def checks(self) -> int:
        """Number of checks scheduled."""
        return len(self._entries)

    @property
    def owned_checks(self) -> int:
        """Number of checks this process runs (all of them outside a cluster)."""
        return sum(1 for entry in self._entries.values() if entry.owned)

    def owned(self) -> list[str]:
        """The keys of the checks this process runs."""
        return [key for key, entry in self._entries.items() if entry.owned]

    # Public control -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run checks until ``stop`` is set, then stop dispatching, let runs in flight
        finish (each bounded by its deadline) and return with no task left behind."""
        if self._running:
            raise RuntimeError("this scheduler is already running")
        self._running = True
        self._start()
        try:
            async with asyncio.TaskGroup() as tg:
                dispatcher = tg.create_task(self._dispatch(), name="vigie-dispatcher")
                workers = [tg.create_task(self._work(), name=f"vigie-worker-{i}")
                           for i in range(self._workers)]
                await stop.wait()
                dispatcher.cancel()
                await asyncio.wait([dispatcher])
                self._drop_queued()
                for _ in workers:  # the queue is empty and holds one per worker
                    self._queue.put_nowait(None)  # type: ignore[union-attr]  # set by run()
            if self._cycle_calls:
                await asyncio.wait(self._cycle_calls, timeout=CYCLE_CALL_GRACE)
        finally:
            for task in self._cycle_calls:
                task.cancel()
            if self._cycle_calls:
                await asyncio.gather(*self._cycle_calls, return_exceptions=True)
            self.stats.queued = self.stats.in_flight = 0
            self._running = False

    def run_now(self, check_key: str) -> None:
        """Make a check due at once (push results, admin "check now").

        A check already queued keeps its place; a check running now runs again when
        it ends. Call it on the event loop (from a thread:
        ``loop.call_soon_threadsafe(scheduler.run_now, key)``).

        :raises KeyError: no enabled check has this key.
        """
        entry = self._entries.get(check_key)
        if entry is None:
            raise KeyError(f"unknown or disabled check {check_key!r}")
        if not entry.owned:
            return  # another node of the cluster runs it
        if not self._running or entry.state == _RUNNING:
            entry.rerun = True  # honoured when the run ends, or at start
        elif entry.state == _IDLE:
            self._push(entry, self._clock())

    def set_owned(self, keys: Collection[str],
                  due_in: Mapping[str, float] | None = None) -> tuple[list[str], list[str]]:
        """Run exactly the checks of ``keys`` from now on (a node of a cluster, when the
        live nodes change); return the keys gained and the keys lost.

        A lost check is not started again (a run in progress ends, and its result is
        taken); a gained one runs ``due_in[key]`` seconds from now (its last run stored
        plus its delay: never unwatched longer than that), at once when that is past, or
        at its usual spot in its interval (:func:`first_run_offset`) when it is not
        given. Keys of no enabled check are left out. Call it on the event loop.
        """
        wanted = set(keys)
        due_in = due_in or {}
        gained, lost = [], []
        now = self._clock()
        for key, entry in self._entries.items():
            if entry.owned and key not in wanted:
                entry.owned = False
                entry.seq = -1  # its heap item is stale now
                entry.rerun = False
                lost.append(key)
            elif not entry.owned and key in wanted:
                entry.owned = True
                gained.append(key)
                if self._running and entry.state == _IDLE:
                    delay = due_in.get(key)
                    if delay is None:
                        delay = first_run_offset(entry.check) if self._spread else 0.0
                    self._push(entry, now + max(0.0, delay))
        if gained or lost:
            self._recount()
        return gained, lost

    def _recount(self) -> None:
        """The cycle waits for the checks owned now that have not run in it."""
        owned = [entry for entry in self._entries.values() if entry.owned]
        self._cycle_left = sum(1 for entry in owned if entry.cycle != self._cycle)
        if owned and not self._cycle_left:
            # every check still owned ran in this cycle: the next one starts now
            self._cycle += 1
            self._cycle_left = len(owned)
            self._cycle_started = self._clock()
        self.stats.checks = len(owned)

    # Dispatching ----------------------------------------------------------------------

    def _start(self) -> None:
        now = self._clock()
        self._heap.clear()
        self._sleep_until = -math.inf
        self._queue = asyncio.Queue(maxsize=self._workers)
        self._waiter = None
        self._cycle, self._cycle_left, self._cycle_started = 0, self.owned_checks, now
        for entry in self._entries.values():
            entry.state, entry.cycle = _IDLE, -1
            if not entry.owned:
                entry.rerun = False
                continue
            if entry.rerun:
                offset = 0.0
            elif entry.key in self._first_due:
                offset = max(0.0, self._first_due[entry.key])
            else:
                offset = first_run_offset(entry.check) if self._spread else 0.0
            entry.rerun = False
            self._push(entry, now + offset)
        self._first_due = {}  # only the first start's: a later one spreads as usual
        stats = self.stats
        stats.workers, stats.checks = self._workers, self.owned_checks

    def _push(self, entry: _Entry, due: float) -> None:
        self._seq += 1
        entry.seq = self._seq
        heapq.heappush(self._heap, (due, self._seq, entry))
        if due < self._sleep_until:
            _wake_up(self._waiter)

    async def _dispatch(self) -> None:
        heap, queue, clock, stats = self._heap, self._queue, self._clock, self.stats
        assert queue is not None
        loop = asyncio.get_running_loop()
        while True:
            self._sleep_until = -math.inf
            now = clock()
            while heap and heap[0][0] <= now:
                due, seq, entry = heapq.heappop(heap)
                if seq != entry.seq:
                    continue  # superseded by run_now()
                entry.state = _QUEUED
                if queue.full():
                    stats.queued = queue.qsize()
                    await queue.put((entry, due))  # the pool is saturated: wait for a worker
                    now = clock()
                else:
                    queue.put_nowait((entry, due))
                stats.queued = queue.qsize()
            delay = None
            if heap:
                delay = heap[0][0] - clock()
                if delay <= 0:
                    continue
            # from here until it wakes, a push due earlier than this wakes the dispatcher.
            # A future and a timer rather than asyncio.timeout around an Event: with first
            # runs spread, the dispatcher sleeps once per check, and a timeout that expires
            # raises and catches two exceptions each time.
            self._sleep_until = heap[0][0] if heap else math.inf
            self._waiter = waiter = loop.create_future()
            if delay is None:
                timer = None
            elif self._call_later is None:
                timer = loop.call_later(delay, _wake_up, waiter)
            else:
                timer = self._call_later(delay, functools.partial(_wake_up, waiter))
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()

    def _drop_queued(self) -> None:
        """Forget runs queued but not started (at stop)."""
        queue = self._queue
        assert queue is not None
        while not queue.empty():
            item = queue.get_nowait()
            if item is not None:
                item[0].state = _IDLE
        self.stats.queued = 0

    # Running --------------------------------------------------------------------------

    async def _work(self) -> None:
        queue = self._queue
        assert queue is not None
        while (item := await queue.get()) is not None:
            await self._run(*item)

    async def _run(self, entry: _Entry, due: float) -> None:
        stats, clock = self.stats, self._clock
        stats.queued = self._queue.qsize()  # type: ignore[union-attr]  # set by run()
        if not entry.owned:
            entry.state = _IDLE  # lost while it waited for a worker: another node runs it
            return
        stats.record_lag(max(0.0, clock() - due))
        entry.state = _RUNNING
        stats.in_flight += 1
        try:
            result = await run_check(entry.check, entry.probe, self._http, self.probe_errors,
                                   clock)
        finally:
            stats.in_flight -= 1
        stats.runs[(entry.kind, result.status.label)] += 1
        delay = self._deliver(entry, result)
        entry.state = _IDLE
        now = clock()
        if not entry.owned:
            return  # lost while it ran: its result was taken, another node runs it now
        if entry.rerun:
            entry.rerun = False
            due = now
        else:
            # keep the phase (no drift); a run that overran its slot goes after a short
            # pause instead of in the past, so a saturated pool never spins
            due += delay
            if due <= now:
                due = now + delay * LATE_FRACTION
        self._push(entry, due)
        self._completed(entry, now)

    def _deliver(self, entry: _Entry, result: ProbeResult) -> float:
        """Hand the result to ``on_result``; its delay, or the interval if it failed."""
        try:
            delay = float(self._on_result(entry.check, result))
            if 0.0 < delay < math.inf:
                return delay
            raise ValueError(f"on_result returned an invalid delay {delay!r}")
        except Exception as exc:  # noqa: BLE001 - one bad result must not kill a worker
            self._log_once(entry, exc, "on_result failed")
            return entry.check.interval

    def _log_once(self, entry: _Entry, exc: Exception, what: str) -> None:
        mark = (entry.key, type(exc).__name__)
        if mark in self._logged:
            return
        self._logged.add(mark)
        log.error("check %s: %s (logged once per error type)", entry.key, what, exc_info=exc)

    # Cycles ---------------------------------------------------------------------------

    def _completed(self, entry: _Entry, now: float) -> None:
        """Count a finished run towards the current cycle; close the cycle when complete."""
        if entry.cycle == self._cycle:
            return
        entry.cycle = self._cycle
        self._cycle_left -= 1
        if self._cycle_left:
            return
        duration = now - self._cycle_started
        owned = self.owned_checks
        self._cycle += 1
        self._cycle_left = owned
        self._cycle_started = now
        at = time.time()
        stats = self.stats
        stats.last_cycle_at, stats.last_cycle_duration = at, duration
        stats.cycles += 1
        if self._on_cycle is not None:
            self._notify_cycle(at, owned, duration)

    def _notify_cycle(self, at: float, checks: int, duration: float) -> None:
        try:
            value = self._on_cycle(at, checks, duration)  # type: ignore[misc]  # checked by the caller
        except Exception:
            log.exception("on_cycle failed")
            return
        if not inspect.isawaitable(value):
            return
        if len(self._cycle_calls) >= MAX_CYCLE_CALLS:
            log.warning("on_cycle: %d earlier calls still running; skipping this cycle",
                        len(self._cycle_calls))
            if inspect.iscoroutine(value):
                value.close()
            return
        task = asyncio.ensure_future(self._await_cycle(value))
        self._cycle_calls.add(task)
        task.add_done_callback(self._cycle_calls.discard)

    @staticmethod
    async def _await_cycle(value: Awaitable[None]) -> None:
        try:
            await value
        except Exception:  # a failing heartbeat must not stop the checks
            log.exception("on_cycle failed")
