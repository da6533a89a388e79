"""The lanes of the outbox worker: one per plugin, so that no plugin waits on another.

A :class:`Lane` claims its plugin's due entries (the first pending one of each stream,
never one it has in flight), delivers up to ``limit`` of them at once through the worker,
and looks again as soon as one finishes, when the worker is woken after a write, or every
``poll_interval``. Synchronous hookimpls run in the lane's own threads: one that hangs
holds only its own lane's threads (at most ``limit``), never asyncio's shared pool.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pluggy

from monitor.plugins import is_coroutine_hook
from monitor.store.writer import is_transient
from monitor.waits import wait_event

if TYPE_CHECKING:
    from monitor.incidents.outbox import Job, OutboxWorker

log = logging.getLogger("monitor.incidents.outbox")


async def call_hook(caller: pluggy.HookCaller, kwargs: dict[str, Any], timeout: float,
                    executor: Executor | None = None) -> Any:
    """Call one plugin's implementation of a hook through its one-plugin hook caller
    (:func:`monitor.plugins.plugin_caller`), within ``timeout`` seconds; return its value
    (None when it returned None).

    A coroutine function is awaited on the loop; a synchronous one (blocking I/O) runs in
    ``executor`` (default: asyncio's), off the loop; an awaitable result is awaited.

    :raises TimeoutError: the call took longer (a thread cannot be stopped: a hung
        synchronous call keeps its thread, so give each caller its own bounded executor).
    """
    async with asyncio.timeout(timeout):
        if is_coroutine_hook(caller):
            values = caller(**kwargs)
        else:
            loop = asyncio.get_running_loop()
            values = await loop.run_in_executor(executor, functools.partial(caller, **kwargs))
        value = values[0] if values else None
        if inspect.isawaitable(value):
            value = await value
    return value


class Lane:
    """One plugin's deliveries: at most ``limit`` calls at once, one per stream, its own
    threads for a synchronous hookimpl (a hung one holds only this lane's threads)."""

    def __init__(self, worker: OutboxWorker, plugin: str, limit: int) -> None:
        self.worker = worker
        self.plugin = plugin
        self.limit = limit
        self.wake = asyncio.Event()
        #: entry id → the task delivering it
        self.in_flight: dict[int, asyncio.Task] = {}
        #: this lane's threads, for a synchronous hookimpl (none start before one is needed)
        self.executor = ThreadPoolExecutor(
            limit, thread_name_prefix=f"vigie-outbox-{plugin}"[:40])

    async def run(self) -> None:
        """Claim and deliver this plugin's due entries until cancelled."""
        failing = False
        try:
            while True:
                self.wake.clear()
                free = self.limit - len(self.in_flight)
                if free > 0:
                    try:
                        jobs = await asyncio.to_thread(self.worker.claim, self.plugin, free,
                                                       set(self.in_flight))
                    except Exception as exc:
                        if not failing:
                            # the database away is expected: one line; anything else, the
                            # traceback too
                            log.warning("outbox: %s: cannot read the queue (database "
                                        "unreachable?); will retry: %s", self.plugin,
                                        str(exc).strip().splitlines()[0] if str(exc).strip()
                                        else type(exc).__name__,
                                        exc_info=not is_transient(exc))
                        failing, jobs = True, []
                    else:
                        if failing:
                            log.info("outbox: %s: the queue is readable again", self.plugin)
                        failing = False
                    for job in jobs:
                        self._start(job)
                wait = min(30.0, self.worker.poll_interval * 10) if failing else (
                    self.worker.poll_interval)
                await wait_event(self.wake, wait)
        finally:
            tasks = list(self.in_flight.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, job: Job) -> None:
        task = asyncio.create_task(self._deliver(job), name=f"vigie-outbox-{self.plugin}-{job.id}")
        self.in_flight[job.id] = task

    async def _deliver(self, job: Job) -> None:
        try:
            await self.worker.deliver(job, self.executor)
        except Exception:
            # recording the outcome failed (database away): the row stays pending and is
            # claimed again; the call may be repeated, with the same idempotency key
            log.warning("outbox: %s: cannot record the outcome of entry %d; will retry",
                        self.plugin, job.id, exc_info=True)
        finally:
            self.in_flight.pop(job.id, None)
            self.wake.set()  # the next entry of the stream may go now

    async def round(self) -> bool:
        """Deliver the entries due now (the first of each stream), in order; True when
        there was any."""
        jobs = await asyncio.to_thread(self.worker.claim, self.plugin, self.worker.batch)
        for job in jobs:
            await self.worker.deliver(job, self.executor)
        return bool(jobs)

    def close(self) -> None:
        """Release the threads (a hung call's thread is left to finish on its own)."""
        self.executor.shutdown(wait=False, cancel_futures=True)
