"""The result writer: a thread that writes results and status changes in batches.

The event loop only calls :meth:`ResultWriter.submit` (and ``submit_change``), which
appends to an in-memory queue and never waits for the database. The thread writes a batch
when ``batch_size`` rows are waiting or every ``flush_interval`` seconds, each batch in one
transaction with duplicates ignored, so a batch retried after an ambiguous failure is
harmless.

When the database goes away the thread keeps the batch it holds, retries every
``retry_interval`` seconds, and the queue keeps growing up to ``buffer_limit`` rows; past
that the oldest queued results are dropped and counted. Status changes have their own
queue (they are rare, and losing one would falsify the history), bounded the same way.
One warning is logged when the database goes away, one line when it comes back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from monitor.state import CheckTransition, ServiceTransition, Transition
from monitor.stats import WriterStats
from monitor.store.records import (
    Change,
    CheckChange,
    CheckStateRecord,
    FeedTransition,
    OwnLocationRecord,
    ResultRecord,
    ServiceChange,
)
from monitor.store.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

#: what waits in the changes' queue: status changes, and (cluster mode) checks' hidden
#: states and the leader's feed
Queued = Change | CheckStateRecord | FeedTransition
#: what waits in the results' queue: results, and the server's own runs of checks run
#: from several locations (``location_results``), dropped alike when the queue is full
Row = ResultRecord | OwnLocationRecord


def is_transient(exc: BaseException) -> bool:
    """True when retrying later may succeed (database unreachable, locked, restarting…).

    Integrity and data errors mean the rows themselves are refused: retrying cannot help.
    """
    if isinstance(exc, (IntegrityError, DataError)):
        return False
    return isinstance(exc, (DBAPIError, DisconnectionError, PoolTimeout))


class ResultWriter:
    """Writes results and status changes from a daemon thread, in batches.

    :param store: where to write.
    :param stats: counters kept up to date for the metrics (written, dropped, buffered,
        write_errors, database_up, last_write_at).
    :param batch_size: rows per transaction at most (results, plus as many changes).
    :param flush_interval: seconds a row may wait for a batch to fill.
    :param buffer_limit: results (and, separately, changes) queued in memory at most;
        one batch in flight comes on top.
    :param retry_interval: seconds between attempts while the database is unreachable.
    :param wait: how the thread waits, ``wait(event, seconds)``: for a batch to fill
        (``flush_interval``) or before retrying (``retry_interval``); True when ``event``
        was set, False when the time was up. :meth:`threading.Event.wait` by default; a
        test passes one that also notes each wait, to see why the thread wrote.
    """

    def __init__(self, store: Store, stats: WriterStats, batch_size: int = 500,
                 flush_interval: float = 2.0, buffer_limit: int = 100_000,
                 retry_interval: float = 5.0,
                 wait: Callable[[threading.Event, float], bool] = threading.Event.wait) -> None:
        self.store = store
        self.stats = stats
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self.buffer_limit = max(1, buffer_limit)
        self.retry_interval = retry_interval
        self._wait = wait
        self._results: deque[Row] = deque()
        self._changes: deque[Queued] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # the batch being written (kept across retries) and its size
        self._batch: tuple[list[Row], list[Queued]] | None = None
        self._in_flight = 0
        self._down_since: float | None = None
        self._overflow_warned = False

    # Called from any thread ----------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is not None:
            raise RuntimeError("the result writer is already started")
        self._thread = threading.Thread(target=self._run, name="vigie-store-writer",
                                        daemon=True)
        self._thread.start()

    def submit(self, record: ResultRecord) -> None:
        """Queue one result. Thread-safe, O(1), never blocks on the database."""
        self._enqueue(self._results, record)

    def submit_own_location(self, record: OwnLocationRecord) -> None:
        """Queue the server's own run of a check run from several locations (a row of
        ``location_results``); it goes with the results, in their transaction."""
        self._enqueue(self._results, record)

    def submit_change(self, change: Change) -> None:
        """Queue one status change; it goes to the database with the results around it."""
        self._enqueue(self._changes, change)

    def submit_state(self, record: CheckStateRecord) -> None:
        """Queue a check's hidden state (cluster mode); like a status change, it goes to
        the database with the results around it, in their transaction."""
        self._enqueue(self._changes, record)

    def submit_feed(self, record: FeedTransition) -> None:
        """Queue a check transition for the cluster's leader, and write now, with the
        results waiting: the leader hears of it at the commit, without waiting for the
        batch to fill."""
        self._enqueue(self._changes, record)
        self._wake.set()

    def submit_transition(self, transition: Transition) -> None:
        """Queue the status change a state-machine transition describes."""
        if isinstance(transition, CheckTransition):
            self.submit_change(CheckChange.from_transition(transition))
        elif isinstance(transition, ServiceTransition):
            self.submit_change(ServiceChange.from_transition(transition))
        else:
            raise TypeError(f"not a transition: {transition!r}")

    def stop(self, timeout: float = 10.0) -> None:
        """Write what can be written (one last attempt if the database is away), then stop.

        Waits at most ``timeout`` seconds; rows still queued then are lost and logged.
        """
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        if thread.is_alive():
            log.warning("result writer still busy after %.0fs; %d rows not written",
                        timeout, self.stats.buffered)

    @property
    def running(self) -> bool:
        """The writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _enqueue(self, queue: deque[T], item: T) -> None:
        dropped = False
        with self._lock:
            if len(queue) >= self.buffer_limit:
                queue.popleft()
                self.stats.dropped += 1
                dropped = True
            queue.append(item)
            self._count_buffered()
            full = len(queue) >= self.batch_size
        if full:
            self._wake.set()
        if dropped and not self._overflow_warned:
            self._overflow_warned = True
            log.warning("result buffer full (%d rows): dropping the oldest until the "
                        "database accepts writes again", self.buffer_limit)

    def _count_buffered(self) -> None:
        # under self._lock
        self.stats.buffered = len(self._results) + len(self._changes) + self._in_flight

    # The writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                if self._batch is None:
                    if not self._stopping.is_set() and not self._backlog():
                        self._wait(self._wake, self.flush_interval)
                    self._wake.clear()
                    self._batch = self._take()
                    if self._batch is None:
                        if self._stopping.is_set():
                            return
                        continue
                if self._write(*self._batch):
                    self._done()
                elif self._stopping.is_set():
                    self._abandon()
                    return
                else:
                    self._wait(self._stopping, self.retry_interval)
            except Exception:  # a bug here must not silently stop all writes
                log.exception("result writer error; continuing")
                self._wait(self._stopping, self.retry_interval)
                if self._stopping.is_set() and self._batch is not None:
                    self._abandon()
                    return

    def _backlog(self) -> bool:
        """A full batch is already waiting."""
        return len(self._results) >= self.batch_size or len(self._changes) >= self.batch_size

    def _take(self) -> tuple[list[Row], list[Queued]] | None:
        with self._lock:
            results = [self._results.popleft()
                       for _ in range(min(self.batch_size, len(self._results)))]
            changes = [self._changes.popleft()
                       for _ in range(min(self.batch_size, len(self._changes)))]
            self._in_flight = len(results) + len(changes)
            self._count_buffered()
        return (results, changes) if self._in_flight else None

    def _done(self) -> None:
        with self._lock:
            self._batch = None
            self._in_flight = 0
            self._count_buffered()

    def _abandon(self) -> None:
        lost = self.stats.buffered
        with self._lock:
            self.stats.dropped += lost
            self._results.clear()
            self._changes.clear()
        self._done()
        log.error("stopping with the database unreachable: %d rows not written", lost)

    def _write(self, results: list[Row], changes: list[Queued]) -> bool:
        """Write one batch; False when the database is unreachable (keep it, retry)."""
        try:
            self._write_salvaging(results, changes)
        except Exception as exc:
            if not is_transient(exc):
                raise
            self.stats.write_errors += 1
            self.stats.database_up = False
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("database unreachable (%s); keeping results in memory "
                            "(up to %d) and retrying every %gs",
                            _short(exc), self.buffer_limit, self.retry_interval)
            return False
        self.stats.last_write_at = time.time()
        self.stats.database_up = True
        if self._down_since is not None:
            log.info("database reachable again after %.0fs; writing buffered results "
                     "(%d dropped so far)", time.monotonic() - self._down_since,
                     self.stats.dropped)
            self._down_since = None
            self._overflow_warned = False
        return True

    def _write_salvaging(self, results: list[Row], changes: list[Queued],
                         top: bool = True) -> None:
        """Write a batch; if the database refuses some rows, write the others and drop
        those (found by halving the batch), so one bad row never blocks everything.

        ``stats.written`` grows with each part written, so a part written before the
        database went away is counted once (the retry finds its rows already there)."""
        try:
            states = [c for c in changes if isinstance(c, CheckStateRecord)]
            feed = [c for c in changes if isinstance(c, FeedTransition)]
            plain = [c for c in changes if isinstance(c, (CheckChange, ServiceChange))]
            own = [r for r in results if isinstance(r, OwnLocationRecord)]
            checks = [r for r in results if isinstance(r, ResultRecord)]
            self.stats.written += self.store.write_batch(checks, plain, states, feed,
                                                         own).results
        except Exception as exc:
            if is_transient(exc):
                raise
            items: list[Row | Queued] = [*results, *changes]
            if len(items) == 1:
                self.stats.write_errors += 1
                self.stats.dropped += 1
                log.error("the database refused a row, dropped: %r (%s)", items[0], _short(exc))
                return
            if top:
                log.warning("the database refused a batch of %d rows (%s); "
                            "isolating the bad rows", len(items), _short(exc))
            for part in (items[:len(items) // 2], items[len(items) // 2:]):
                self._write_salvaging(
                    [i for i in part if isinstance(i, (ResultRecord, OwnLocationRecord))],
                    [i for i in part if not isinstance(i, (ResultRecord, OwnLocationRecord))],
                    top=False)


def _short(exc: BaseException) -> str:
    """The first line of an exception, without SQLAlchemy's background link."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
