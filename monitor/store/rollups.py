"""Daily rollups per check and per service, recomputed idempotently from raw rows.

A day is a calendar day in the site's time zone (23 or 25 hours on daylight-saving days).
Definitions, documented here because the status page shows them:

- check uptime: ``(up + maintenance) / (runs - unknown)`` over the day's results;
- service uptime: time operational or in maintenance / time observed, from the service's
  status changes (the status at midnight is the last change before it); time with an
  unknown status, or before the first status ever, is not observed;
- latency p50/p95: over the runs that got an answer (up or degraded), percentiles with
  linear interpolation between closest ranks (numpy's default method);
- a service's worst status of the day ranks statuses by :data:`SEVERITY`.

Raw results are pruned after the retention period: a day whose results are gone is left
as it was, never overwritten with zeros.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select

from monitor.probe import Status
from monitor.state import ServiceStatus
from monitor.store.engine import dialect_insert
from monitor.store.models import (
    CheckRow,
    DailyCheckRollup,
    DailyServiceRollup,
    ResultRow,
    ServiceStatusChange,
)

#: how bad a service status is, to pick the worst of a day (higher is worse)
SEVERITY: dict[ServiceStatus, int] = {
    ServiceStatus.OPERATIONAL: 0,
    ServiceStatus.MAINTENANCE: 1,
    ServiceStatus.UNKNOWN: 2,
    ServiceStatus.DEGRADED: 3,
    ServiceStatus.PARTIAL_OUTAGE: 4,
    ServiceStatus.MAJOR_OUTAGE: 5,
}
_BY_CODE = {s.code: s for s in ServiceStatus}
_COUNTED = {Status.UP: "up", Status.DEGRADED: "degraded", Status.DOWN: "down",
            Status.UNKNOWN: "unknown", Status.MAINTENANCE: "maintenance"}
#: the same by stored code, and the codes of runs that got an answer (read once per row)
_COUNTED_BY_CODE = {int(status): name for status, name in _COUNTED.items()}
_ANSWERED = frozenset({int(Status.UP), int(Status.DEGRADED)})


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) of sorted values, linearly interpolated; None when empty."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[float, float]:
    """Unix times of local midnight at the start of ``day`` and of the next day."""
    midnight = datetime.min.time()
    start = datetime.combine(day, midnight, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), midnight, tzinfo=zone)
    return start.timestamp(), end.timestamp()


def days(start: date, end: date) -> Iterator[date]:
    """Every day from ``start`` to ``end``, both included."""
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


@dataclass(slots=True)
class CheckDay:
    """Counts and answered latencies of one check over one day.

    Latencies are kept in an ``array`` (8 bytes each, not a 32-byte float in a list):
    a day of a check run every 5 minutes is 288 of them, times every check.
    """

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTED.values(), 0))
    latencies: array = field(default_factory=lambda: array("d"))

    def add(self, status: int, duration: float) -> None:
        """Count one result."""
        self.counts[_COUNTED_BY_CODE[status]] += 1
        if status in _ANSWERED:
            self.latencies.append(duration)

    @property
    def runs(self) -> int:
        """Results that day."""
        return sum(self.counts.values())

    def uptime(self) -> float | None:
        """``(up + maintenance) / (runs - unknown)``, None when nothing was judged."""
        judged = self.runs - self.counts["unknown"]
        if judged == 0:
            return None
        return (self.counts["up"] + self.counts["maintenance"]) / judged


def service_uptime(
    initial: ServiceStatus | None,
    changes: Iterable[tuple[float, ServiceStatus]],
    start: float,
    end: float,
) -> tuple[float | None, float, ServiceStatus | None]:
    """Uptime ratio, observed seconds and worst status of a service over ``[start, end)``.

    :param initial: the status in effect at ``start`` (None: not known yet).
    :param changes: ``(at, new status)`` pairs with ``start <= at < end``, in time order.
    """
    observed = good = 0.0
    worst: ServiceStatus | None = None
    current, since = initial, start
    for at, status in [*changes, (end, None)]:
        if current is not None:
            worst = current if worst is None or SEVERITY[current] > SEVERITY[worst] else worst
            if current != ServiceStatus.UNKNOWN:
                observed += at - since
                if current in (ServiceStatus.OPERATIONAL, ServiceStatus.MAINTENANCE):
                    good += at - since
        current, since = status, at
    return (good / observed if observed > 0 else None), observed, worst


def compute_rollups(engine: Engine, start: date, end: date, tz: str,
                    now: float | None = None) -> int:
    """Recompute the rollups of every day from ``start`` to ``end`` (included) in ``tz``.

    Each day is one transaction of upserts, so running it again gives the same rows.
    ``now`` (default: the current time) ends the observed period of today.

    :return: the number of rollup rows written.
    """
    zone = ZoneInfo(tz)
    now = time.time() if now is None else now
    written = 0
    for day in days(start, end):
        low, high = day_bounds(day, zone)
        if low >= now:
            break
        with engine.begin() as conn:
            written += _rollup_day(conn, engine, day, low, min(high, now))
    return written


def _rollup_day(conn: Connection, engine: Engine, day: date, low: float, high: float) -> int:
    per_check: dict[int, CheckDay] = defaultdict(CheckDay)
    rows = conn.execute(
        select(ResultRow.check_id, ResultRow.status, ResultRow.duration)
        .where(ResultRow.started_at >= low, ResultRow.started_at < high))
    for check_id, status, duration in rows:
        per_check[check_id].add(status, duration)
    if not per_check:
        return 0
    service_of = dict(conn.execute(
        select(CheckRow.id, CheckRow.service_id).where(CheckRow.id.in_(list(per_check)))).all())

    check_rows = []
    for check_id, stats in per_check.items():
        ordered = sorted(stats.latencies)
        check_rows.append({
            "check_id": check_id, "day": day, "runs": stats.runs, **stats.counts,
            "uptime": stats.uptime(), "latency_p50": percentile(ordered, 0.5),
            "latency_p95": percentile(ordered, 0.95)})
    _upsert(conn, engine, DailyCheckRollup, check_rows, ("check_id", "day"))

    per_service: dict[str, list[CheckDay]] = defaultdict(list)
    for check_id, stats in per_check.items():
        per_service[service_of[check_id]].append(stats)
    service_rows = []
    for service_id, checks in per_service.items():
        initial, changes = _service_changes(conn, service_id, low, high)
        uptime, observed, worst = service_uptime(initial, changes, low, high)
        latencies = sorted(x for c in checks for x in c.latencies)
        service_rows.append({
            "service_id": service_id, "day": day, "runs": sum(c.runs for c in checks),
            "uptime": uptime, "observed": observed,
            "worst_status": worst.code if worst is not None else None,
            "latency_p50": percentile(latencies, 0.5),
            "latency_p95": percentile(latencies, 0.95)})
    _upsert(conn, engine, DailyServiceRollup, service_rows, ("service_id", "day"))
    return len(check_rows) + len(service_rows)


def _service_changes(conn: Connection, service_id: str, low: float, high: float
                     ) -> tuple[ServiceStatus | None, list[tuple[float, ServiceStatus]]]:
    table = ServiceStatusChange
    before = conn.execute(
        select(table.current).where(table.service_id == service_id, table.at < low)
        .order_by(table.at.desc(), table.id.desc()).limit(1)).scalar()
    during = conn.execute(
        select(table.at, table.current)
        .where(table.service_id == service_id, table.at >= low, table.at < high)
        .order_by(table.at, table.id)).all()
    initial = _BY_CODE.get(before) if before is not None else None
    return initial, [(at, _BY_CODE[code]) for at, code in during]


def _upsert(conn: Connection, engine: Engine, model: type, rows: list[dict],
            keys: tuple[str, ...]) -> None:
    if not rows:
        return
    stmt = dialect_insert(engine, model.__table__)
    updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=updates), rows)

