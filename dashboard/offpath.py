"""Database work kept off the request path: a member's request never waits on a database
that hangs.

:class:`Refresher` runs a job (the snapshot's refresh) on a daemon thread when asked, one
run at a time; a caller that needs the result (the very first page, a volunteer's
change) waits for it, for a bounded time. A run stuck longer than ``stuck_after`` (a
connection the server will never answer) is left behind and a second thread tries again.

:class:`DetailReads` runs a read the snapshot does not hold (a service's chart, an old
incident) on a daemon thread, and the request waits for it a bounded time; a read still
going when the request gives up carries on, and its result is kept for the next request.

Daemon threads, not a ``concurrent.futures`` pool: the pool's threads are joined when the
interpreter exits, so one read stuck on a hung database would stop the process from
exiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: threads a refresher may have at once: one stuck run, and one trying again
MAX_RUNNERS = 2


class Refresher:
    """Runs ``job(number)`` on a background thread when asked (see the module).

    Runs are numbered; :meth:`ask` says which run will serve the caller and :meth:`wait`
    waits until that run has finished (whether the job succeeded is the job's business).

    :param monotonic: the clock measuring how long a run has been going (real time: it
        is about a database that does not answer).
    """

    def __init__(self, job: Callable[[int], None], *, stuck_after: float, name: str,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._job = job
        self.stuck_after = stuck_after
        self._name = name
        self._monotonic = monotonic
        self._cond = threading.Condition()
        #: number of the newest run wanted, started, finished
        self._wanted = self._started = self._finished = 0
        #: start time of each run going on, by number
        self._runs: dict[int, float] = {}
        self._runners = 0

    def ask(self, *, fresh: bool = False) -> int:
        """Make sure a run is going; return the number of the run that serves the caller.

        :param fresh: the caller needs a run that starts after this call (the data just
            changed); otherwise a run already going serves it.
        """
        with self._cond:
            if fresh or not self._runs:
                self._wanted = max(self._wanted, self._started + 1)
            elif self._stuck() and self._runners < MAX_RUNNERS:
                # the newest run does not come back: try again beside it, on a new
                # connection (the pool hands out another one)
                log.warning("the database has not answered the status page for %.0f s; "
                            "trying again on another connection", self.busy_for() or 0)
                self._wanted = max(self._wanted, self._started + 1)
            else:
                return self._started
            if self._runners == 0 or (self._stuck() and self._runners < MAX_RUNNERS):
                self._runners += 1
                threading.Thread(target=self._loop, daemon=True, name=self._name).start()
            return self._wanted

    def wait(self, number: int, timeout: float) -> bool:
        """Wait until run ``number`` has finished, at most ``timeout`` seconds; whether it
        did."""
        with self._cond:
            return self._cond.wait_for(lambda: self._finished >= number, timeout)

    def busy_for(self) -> float | None:
        """Seconds the newest run has been going, or None when none is."""
        with self._cond:
            if not self._runs:
                return None
            return self._monotonic() - self._runs[max(self._runs)]

    def idle(self, timeout: float) -> bool:
        """Wait until no run is going or wanted, at most ``timeout`` seconds (tests, and
        a process that stops); whether it is idle."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._runs and self._started >= self._wanted, timeout)

    def _stuck(self) -> bool:
        return bool(self._runs) and (
            self._monotonic() - self._runs[max(self._runs)] > self.stuck_after)

    def _loop(self) -> None:
        with self._cond:
            number = self._take()
        while number is not None:
            try:
                self._job(number)
            except Exception:  # the job reports its own failures; this is a bug
                log.exception("the status page's refresh failed")
            finally:
                with self._cond:
                    del self._runs[number]
                    self._finished = max(self._finished, number)
                    # finishing and leaving in one step: a caller woken by this run
                    # never sees a runner about to leave as still there
                    number = self._take()
                    self._cond.notify_all()

    def _take(self) -> int | None:
        """The next run wanted (started now), or None and this runner leaves; called
        with the lock held."""
        if self._started >= self._wanted:
            self._runners -= 1
            return None
        self._started = number = self._wanted
        self._runs[number] = self._monotonic()
        return number


class DetailReads:
    """Reads run off the request path, waited for a bounded time (see the module).

    :param run: runs a read (opens a connection, calls the read with it).
    :param limit: reads going at once; beyond, a new read is not started (None at once):
        with a hung database, waiting requests must not pile up threads.
    """

    def __init__(self, run: Callable[[Callable[..., Any]], Any], *, limit: int = 4) -> None:
        self._run = run
        self.limit = limit
        self._lock = threading.Lock()
        self._going: dict[Hashable, Future] = {}

    def get(self, key: Hashable, read: Callable[..., T], keep: Callable[[T], None],
            wait: float) -> T | None:
        """The result of ``read`` (the same read for every request asking ``key`` at
        once), or None when it did not come within ``wait`` seconds or too many reads
        are going; a result that comes later is handed to ``keep``.

        :raises Exception: what the read raised.
        """
        with self._lock:
            future = self._going.get(key)
            if future is None:
                if len(self._going) >= self.limit:
                    return None
                future = Future()
                self._going[key] = future
                threading.Thread(target=self._read, args=(key, future, read, keep),
                                 daemon=True, name="vigie-dashboard-read").start()
        try:
            return future.result(timeout=wait)
        except FutureTimeout:
            return None

    def _read(self, key: Hashable, future: Future, read: Callable[..., T],
              keep: Callable[[T], None]) -> None:
        try:
            value = self._run(read)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting request
            future.set_exception(exc)
        else:
            if value is not None:
                keep(value)
            future.set_result(value)
        finally:
            with self._lock:
                self._going.pop(key, None)
