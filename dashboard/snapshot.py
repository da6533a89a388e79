"""The snapshot: what the public pages show, rebuilt only when the database changed.

A request never queries the page's data, and never waits on the database when a
snapshot exists. :class:`SnapshotCache` asks the database a cheap *version* question at
most every ``check_interval`` seconds (one row of ``max``/``count`` over the tables the
page reads), on a background thread (:class:`dashboard.offpath.Refresher`) that the first
request finding the check due wakes; only when the answer differs, or when something
planned happens (a maintenance window starts or ends, a notice expires, midnight,
``max_age`` for the response-time charts), does that thread rebuild the :class:`Snapshot`.
Rendered pages, JSON documents and badges are then cached on the snapshot per language,
so they are built once per version and dropped with it.

While the thread checks or rebuilds, every request is served the current snapshot at
once. When the database cannot be read, or does not answer (a hung server, a stalled
network), the last snapshot goes on being served and its "last updated" time says how old
it is; the thread tries again at the next due check, and after ``stuck_after`` seconds
without an answer beside the stuck one. Only the very first request, with no snapshot
yet, waits for one, at most ``first_wait`` seconds (then :class:`SnapshotUnavailable`).

What the snapshot does not hold (a service's chart and history, an old incident) is read
by :meth:`SnapshotCache.detail`, off the request path too: the request waits at most
``detail_wait`` seconds, and not at all while the database is known to be slow.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from dashboard.offpath import DetailReads, Refresher
from dashboard.pagedata import build_page_data
from dashboard.views import PageData
from monitor.config import Config
from monitor.reads import page
from monitor.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

#: cached entries per snapshot beyond which new ones are computed but not kept (a crawler
#: walking every incident must not grow memory without bound)
MAX_CACHED = 2000


class Snapshot:
    """One version of the page data, with the renderings made from it."""

    def __init__(self, version: tuple, data: PageData, expires_at: float) -> None:
        self.version = version
        self.data = data
        self.built_at = data.built_at
        self.expires_at = expires_at
        #: a short tag for ETags, changing with every rebuild
        self.tag = f"{abs(hash((version, data.built_at))):x}"
        self._cache: dict[Any, Any] = {}

    def cached(self, key: Any, make: Callable[[], T]) -> T:
        """The value cached under ``key``, made once with ``make()``.

        Two threads may both make a missing value; the second result wins, both are
        identical (renderings are pure functions of the snapshot).
        """
        try:
            return self._cache[key]
        except KeyError:
            value = make()
            if value is not None:
                self.put(key, value)
            return value

    def put(self, key: Any, value: Any) -> None:
        """Cache ``value`` under ``key`` (replacing it), unless the cache is full."""
        if key in self._cache or len(self._cache) < MAX_CACHED:
            self._cache[key] = value


class SnapshotUnavailable(Exception):
    """No snapshot could be built yet: the database did not answer in time."""


#: seconds the first request waits for the first snapshot
FIRST_WAIT = 5.0
#: seconds a request waits for a read the snapshot does not hold (a chart…)
DETAIL_WAIT = 3.0
#: seconds without an answer after which a refresh is tried again beside the stuck one
STUCK_AFTER = 30.0


class SnapshotCache:
    """Holds the current :class:`Snapshot` and keeps it up to date off the request path.

    :param clock: the time source of the page's data (tests move it forward); the waits
        are in real seconds.
    """

    def __init__(self, store: Store, config: Config, *, check_interval: float = 5.0,
                 max_age: float = 300.0, clock: Callable[[], float] = time.time,
                 freeze_gc: bool = False, first_wait: float = FIRST_WAIT,
                 detail_wait: float = DETAIL_WAIT, stuck_after: float = STUCK_AFTER) -> None:
        self.store = store
        self.config = config
        self.zone = ZoneInfo(config.file.site.timezone)
        self.check_interval = check_interval
        self.max_age = max_age
        self.clock = clock
        self.first_wait = first_wait
        self.detail_wait = detail_wait
        #: move long-lived objects out of the garbage collector's reach after each rebuild
        self.freeze_gc = freeze_gc
        #: number of rebuilds so far (tests and logs)
        self.rebuilds = 0
        #: start time of the newest stored result: when the data was last refreshed
        self.last_result_at: float | None = None
        self._current: Snapshot | None = None
        #: number of the refresh run that made the current snapshot
        self._current_run = 0
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._has_incidents: bool | None = None
        #: what the last refresh raised (None when it succeeded)
        self._failure: BaseException | None = None
        #: a read of details did not come in time since the last good refresh
        self._reads_slow = False
        self._refresher = Refresher(self._refresh, stuck_after=stuck_after,
                                    name="vigie-status-refresh")
        self._reads = DetailReads(self._with_connection)

    def get(self) -> Snapshot:
        """The current snapshot, at once; wakes the refresh when the database check is due.

        :raises SnapshotUnavailable: no snapshot yet, and none built within
            ``first_wait`` seconds.
        :raises sqlalchemy.exc.SQLAlchemyError: no snapshot yet, and the database
            refused the last try.
        """
        snap = self._current
        if snap is not None:
            if self._due(snap):
                self._refresher.ask()
            return snap
        return self._first()

    def peek(self) -> Snapshot | None:
        """The current snapshot if there is one, like :meth:`get` but never waiting, even
        for the first one (for answers given on a server's event loop, see
        dashboard.fastpath)."""
        snap = self._current
        if snap is None or self._due(snap):
            self._refresher.ask()
        return snap

    def _due(self, snap: Snapshot) -> bool:
        now = self.clock()
        return now >= self._next_check or now >= snap.expires_at

    def _first(self) -> Snapshot:
        """Wait (bounded) for the first snapshot."""
        run = self._refresher.ask()
        waited = self._refresher.busy_for() or 0.0
        self._refresher.wait(run, max(0.0, self.first_wait - waited))
        snap = self._current
        if snap is not None:
            return snap
        failure = self._failure
        if failure is not None:
            raise failure
        raise SnapshotUnavailable("the database did not answer in time")

    def settle(self) -> None:
        """After a first rendering: freeze what it loaded (templates, locale data) too.

        Cheap (no collection); whatever garbage it freezes is collected at the next
        rebuild, which comes at least every ``max_age`` seconds.
        """
        if self.freeze_gc:
            gc.freeze()

    def invalidate(self, wait: float | None = None) -> bool:
        """Check the database again now (called after a volunteer's change), and wait
        until that check is done, at most ``wait`` seconds (default ``first_wait``), so
        the volunteer's next page shows the change; whether it is done."""
        run = self._refresher.ask(fresh=True)
        return self._refresher.wait(run, self.first_wait if wait is None else wait)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no refresh is going, at most ``timeout`` seconds; whether none is."""
        return self._refresher.idle(timeout)

    def database_slow(self) -> bool:
        """The database is known not to answer promptly: the last refresh failed, the
        one going has taken longer than ``detail_wait``, or a read of details did not come
        in time since the last good refresh."""
        busy = self._refresher.busy_for()
        return (self._failure is not None or self._reads_slow
                or (busy is not None and busy > self.detail_wait))

    def detail(self, snap: Snapshot, key: Any, read: Callable[[Connection], T]) -> T | None:
        """A value the snapshot does not hold, read with a connection and cached on
        ``snap`` under ``key``; None when it cannot be read now (the database is slow,
        unreachable, or did not answer within ``detail_wait`` seconds): the page is then
        made without it, and not cached.

        :raises sqlalchemy.exc.SQLAlchemyError: a mistake in the read (not an outage).
        """
        found = snap.cached(key, lambda: None)
        if found is not None:
            return found
        if self.database_slow():
            return None
        try:
            value = self._reads.get((snap.tag, key), read, lambda v: snap.put(key, v),
                                    self.detail_wait)
        except SQLAlchemyError as exc:
            from dashboard import database_unavailable

            if not database_unavailable(exc):
                raise
            log.warning("the status page cannot read details: %s",
                        getattr(exc, "orig", None) or type(exc).__name__)
            self._reads_slow = True
            return None
        if value is None:
            self._reads_slow = True
        return value

    def _with_connection(self, read: Callable[[Connection], T]) -> T:
        with self.store.engine.connect() as conn:
            return read(conn)

    # The refresh (on the refresher's thread) ---------------------------------------------

    def _refresh(self, run: int) -> None:
        """Check the version, rebuild when it changed; keep the last snapshot on failure."""
        now = self.clock()
        snap = self._current
        try:
            version, last_result_at = self._version()
            if snap is None or version != snap.version or now >= snap.expires_at:
                snap = self._build(version, now)
        except Exception as exc:  # noqa: BLE001 - the database's, or a bug: the page stays
            self._failure = exc
            if self._current is None:
                log.warning("the status page cannot read the database: %s",
                            getattr(exc, "orig", None) or exc)
            else:
                log.warning("the database cannot be read; serving the page of %s",
                            datetime.fromtimestamp(self._current.built_at).isoformat(
                                timespec="seconds"),
                            exc_info=not isinstance(exc, SQLAlchemyError))
        else:
            with self._lock:
                # a run left behind (stuck) that comes back late never replaces a newer one
                if run >= self._current_run:
                    self._current, self._current_run = snap, run
                    self.last_result_at = last_result_at
            self._failure = None
            self._reads_slow = False
        finally:
            self._next_check = now + self.check_interval

    # Version -------------------------------------------------------------------------------

    def _incident_tables(self) -> bool:
        # the incident tables arrive with their own migration; a database migrated before
        # it has none, and the page then simply shows no incidents (asked at each refresh
        # until they appear)
        if not self._has_incidents:
            self._has_incidents = page.incident_tables_present(self.store.engine)
        return self._has_incidents

    def _version(self) -> tuple[tuple, float | None]:
        """``(version, last result time)``: the version changes whenever anything the page
        shows was written; the last result time does not make a new version."""
        yesterday = datetime.fromtimestamp(self.clock(), self.zone).date() - timedelta(days=1)
        with_incidents = self._incident_tables()
        with self.store.engine.connect() as conn:
            return page.page_version(conn, since_day=yesterday, with_incidents=with_incidents)

    # Building ------------------------------------------------------------------------------

    def _build(self, version: tuple, now: float) -> Snapshot:
        started = time.perf_counter()
        with self.store.engine.connect() as conn:
            data, next_change = build_page_data(conn, self.config, now, self.zone,
                                                with_incidents=self._incident_tables())
        self.rebuilds += 1
        expires = min(now + self.max_age, next_change)
        snapshot = Snapshot(version, data, expires)
        if self.freeze_gc:
            _refreeze()
        log.debug("status page snapshot rebuilt in %.0f ms", (time.perf_counter() - started) * 1000)
        return snapshot

    @property
    def incidents_available(self) -> bool:
        """The database holds the incident tables (as the last refresh found)."""
        return bool(self._has_incidents)


def _refreeze() -> None:
    """Collect the previous snapshot, then freeze what is alive (see ``freeze_gc``).

    CPython's full collections traverse every tracked object: with the snapshot, Flask,
    SQLAlchemy and Babel loaded that is hundreds of thousands, and the pause (tens of
    milliseconds, every thread waiting) was most of the page's 99th percentile latency.
    Frozen objects are skipped; unfreezing first lets the collection free the snapshot
    just replaced, so nothing leaks. It costs one full collection per rebuild.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
