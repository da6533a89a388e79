"""The snapshot: what the public pages show, rebuilt only when the database changed.

A request never queries the page's data. :class:`SnapshotCache` asks the database a cheap
*version* question at most every ``check_interval`` seconds (one row of ``max``/``count``
over the tables the page reads); only when the answer differs, or when something planned
happens (a maintenance window starts or ends, a notice expires, midnight, ``max_age`` for
the response-time charts), does it rebuild the :class:`Snapshot`. Rendered pages, JSON
documents and badges are then cached on the snapshot per language, so they are built once
per version and dropped with it.

While one thread rebuilds, the others keep serving the previous snapshot. When the
database cannot be reached the last snapshot is served (its "last updated" time says how
old it is).
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

from sqlalchemy import Connection, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from dashboard import reads
from dashboard.views import GroupView, PageData, ServiceView, Text
from monitor.config import Config
from monitor.incidents.models import (
    Incident,
    IncidentLink,
    IncidentUpdate,
    MaintenanceWindow,
    Notice,
)
from monitor.state import ServiceStatus
from monitor.store import Store
from monitor.store.models import (
    CheckRow,
    CheckStatusChange,
    DailyServiceRollup,
    ResultRow,
    ServiceStatusChange,
)

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


class SnapshotCache:
    """Holds the current :class:`Snapshot` and decides when to rebuild it.

    :param clock: the time source (tests move it forward).
    """

    def __init__(self, store: Store, config: Config, *, check_interval: float = 5.0,
                 max_age: float = 300.0, clock: Callable[[], float] = time.time,
                 freeze_gc: bool = False) -> None:
        self.store = store
        self.config = config
        self.zone = ZoneInfo(config.file.site.timezone)
        self.check_interval = check_interval
        self.max_age = max_age
        self.clock = clock
        #: move long-lived objects out of the garbage collector's reach after each rebuild
        self.freeze_gc = freeze_gc
        #: number of rebuilds so far (tests and logs)
        self.rebuilds = 0
        #: start time of the newest stored result: when the data was last refreshed
        self.last_result_at: float | None = None
        self._current: Snapshot | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._has_incidents: bool | None = None

    def get(self) -> Snapshot:
        """The current snapshot, checked against the database when the check is due.

        :raises sqlalchemy.exc.SQLAlchemyError: only when no snapshot could ever be built.
        """
        snap, now = self._current, self.clock()
        if snap is not None and now < self._next_check and now < snap.expires_at:
            return snap
        # with a snapshot in hand, never wait for another thread's rebuild
        if not self._lock.acquire(blocking=snap is None):
            return snap  # type: ignore[return-value]
        try:
            snap, now = self._current, self.clock()
            if snap is not None and now < self._next_check and now < snap.expires_at:
                return snap
            try:
                version, self.last_result_at = self._version()
                if snap is None or version != snap.version or now >= snap.expires_at:
                    snap = self._build(version, now)
                    self._current = snap
            except SQLAlchemyError:
                if snap is None:
                    raise
                log.warning("the database cannot be read; serving the page of %s",
                            datetime.fromtimestamp(snap.built_at).isoformat(timespec="seconds"),
                            exc_info=True)
            self._next_check = now + self.check_interval
            return snap
        finally:
            self._lock.release()

    def peek(self) -> Snapshot | None:
        """The current snapshot when no database check is due, else ``None``; never
        blocks (for answers given on a server's event loop, see dashboard.fastpath)."""
        snap, now = self._current, self.clock()
        if snap is not None and now < self._next_check and now < snap.expires_at:
            return snap
        return None

    def settle(self) -> None:
        """After a first rendering: freeze what it loaded (templates, locale data) too.

        Cheap (no collection); whatever garbage it freezes is collected at the next
        rebuild, which comes at least every ``max_age`` seconds.
        """
        if self.freeze_gc:
            gc.freeze()

    def invalidate(self) -> None:
        """Check the database on the next request (called after a volunteer's change)."""
        self._next_check = 0.0

    # Version -------------------------------------------------------------------------------

    def _incident_tables(self) -> bool:
        # the incident tables arrive with their own migration; a database migrated before
        # it has none, and the page then simply shows no incidents
        if not self._has_incidents:
            names = set(inspect(self.store.engine).get_table_names())
            self._has_incidents = {"incidents", "notices", "maintenance_windows"} <= names
        return self._has_incidents

    def _version(self) -> tuple[tuple, float | None]:
        """``(version, last result time)``: the version changes whenever anything the page
        shows was written; the last result time does not make a new version."""
        yesterday = datetime.fromtimestamp(self.clock(), self.zone).date() - timedelta(days=1)
        columns = [
            select(func.max(ServiceStatusChange.id)).scalar_subquery(),
            select(func.max(CheckStatusChange.id)).scalar_subquery(),
            select(func.count(CheckRow.id)).where(CheckRow.active).scalar_subquery(),
            select(func.coalesce(func.sum(DailyServiceRollup.runs), 0))
            .where(DailyServiceRollup.day >= yesterday).scalar_subquery(),
            select(func.count(DailyServiceRollup.id)).scalar_subquery(),
        ]
        if self._incident_tables():
            for model, column in ((Incident, Incident.updated_at),
                                  (IncidentUpdate, IncidentUpdate.id),
                                  (IncidentLink, IncidentLink.id),
                                  (MaintenanceWindow, MaintenanceWindow.updated_at),
                                  (Notice, Notice.updated_at)):
                columns.append(select(func.count()).select_from(model).scalar_subquery())
                columns.append(select(func.max(column)).scalar_subquery())
            columns.append(select(func.max(Incident.postmortem_at)).scalar_subquery())
        columns.append(select(func.max(ResultRow.started_at)).scalar_subquery())
        with self.store.engine.connect() as conn:
            row = tuple(conn.execute(select(*columns)).one())
        return row[:-1], row[-1]

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

    def connect(self) -> Connection:
        """A connection for lazily loaded details (a service's chart, an old incident)."""
        return self.store.engine.connect()

    @property
    def incidents_available(self) -> bool:
        """The database holds the incident tables."""
        return bool(self._incident_tables())


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


def _next_midnight(now: float, zone: ZoneInfo) -> float:
    today = datetime.fromtimestamp(now, zone).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), zone).timestamp()


def build_page_data(conn: Connection, config: Config, now: float, zone: ZoneInfo, *,
                    with_incidents: bool = True) -> tuple[PageData, float]:
    """Read everything the public pages show; return it and the next time it changes by
    itself (a window starts or ends, a notice appears or expires, a new day)."""
    statuses = reads.service_statuses(conn)
    checks = reads.check_views(conn, config)
    days = reads.bar_days(datetime.fromtimestamp(now, zone).date())
    rollups = reads.service_rollups(conn, days[0])
    next_change = _next_midnight(now, zone)
    if with_incidents:
        by_day = reads.incident_counts(conn, days, config.file.site.timezone)
        windows = reads.maintenance(conn, now)
        notices = reads.notices(conn, now)
        # open incidents are few: their whole public timeline and links are loaded
        open_ = [reads.incident(conn, i.id) or i for i in reads.open_incidents(conn)]
        recent = [i for i in reads.incident_history(conn) if not i.is_open]
        notice_change = reads.next_notice_change(conn, now)
        if notice_change is not None:
            next_change = min(next_change, notice_change)
    else:
        by_day, windows, notices, open_, recent = {}, [], [], [], []
    for window in windows:
        for moment in (window.starts_at, window.ends_at):
            if moment > now:
                next_change = min(next_change, moment)
    active = tuple(w for w in windows if w.state(now) == "in_progress")
    services: dict[str, ServiceView] = {}
    for service in config.services:
        status, since = statuses.get(service.id, (ServiceStatus.UNKNOWN, None))
        in_maintenance = any(w.covers(service.id) for w in active)
        if in_maintenance:
            status = ServiceStatus.MAINTENANCE
        bar, uptime = reads.build_days(days, rollups.get(service.id, {}), by_day.get(service.id, {}))
        services[service.id] = ServiceView(
            id=service.id, name=Text(service.name.fr, service.name.en), group=service.group,
            description=(Text(service.description.fr, service.description.en)
                         if service.description else None),
            status=status, since=since,
            checks=tuple(checks[c.key] for c in service.checks if c.key in checks),
            days=bar, uptime=uptime, in_maintenance=in_maintenance)
    data = PageData(
        built_at=now, groups=_groups(config, services), services=services,
        open_incidents=tuple(open_), recent_incidents=tuple(recent),
        active_maintenance=active,
        upcoming_maintenance=tuple(w for w in windows if w.state(now) == "scheduled"),
        past_maintenance=tuple(reversed([w for w in windows if w.state(now) == "completed"])),
        notices=tuple(notices))
    return data, next_change


def _groups(config: Config, services: dict[str, ServiceView]) -> tuple[GroupView, ...]:
    """Groups in file order, then the services without a (known) group."""
    known = {g.id: g for g in config.file.groups}
    out = []
    for group in config.file.groups:
        members = tuple(s for s in services.values() if s.group == group.id)
        if members:
            out.append(GroupView(group.id, Text(group.name.fr, group.name.en), members))
    loose = tuple(s for s in services.values() if s.group not in known)
    if loose:
        out.append(GroupView(None, None, loose))
    return tuple(out)
