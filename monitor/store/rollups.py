"""Daily rollups per check and per service, recomputed idempotently from raw rows.

A day is a calendar day in the site's time zone (23 or 25 hours on daylight-saving days).
Definitions, documented here because the status page shows them:

- check uptime: ``(up + maintenance) / (runs - unknown)`` over the day's results;
- service uptime: time operational or in maintenance / time observed, from the service's
  status changes (the status at midnight is the last change before it); time with an
  unknown status, or before the first status ever, is not observed;
- latency p50/p95: over the runs that got an answer (up or degraded), percentiles with
  linear interpolation between closest ranks (numpy's default method); a service's are
  over the answered runs of all its checks together;
- a service's worst status of the day ranks statuses by :data:`SEVERITY`.

The database does the counting and the percentiles (:mod:`monitor.store.rollup_sql`),
one slice of services at a time: Python memory follows the number of checks of a slice,
never the number of results. Each slice is read in its own read transaction and written in
a short write transaction, so the result writer is never held up by a pass.

With a :class:`~monitor.store.rollup_ledger.RollupLedger` (the store keeps one), a pass
skips the days already final and refreshes the latency percentiles of today at most
hourly; counts, uptime and worst status are refreshed at every pass.

Raw results are pruned after the retention period: a day whose results are gone is left
as it was, never overwritten with zeros.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, select

from monitor.state import ServiceStatus
from monitor.store.engine import dialect_insert, writing
from monitor.store.models import (
    CheckRow,
    DailyCheckRollup,
    DailyServiceRollup,
    ServiceRow,
    ServiceStatusChange,
)
from monitor.store.rollup_ledger import SETTLE, RollupLedger
from monitor.store.rollup_sql import check_counts, interpolate, latency_percentiles

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
#: checks per slice of services read and written together (a service is never split)
SLICE_CHECKS = 2000


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0–1) of sorted values, linearly interpolated; None when empty."""
    return interpolate(len(ordered), q, ordered.__getitem__)


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
                    now: float | None = None, ledger: RollupLedger | None = None) -> int:
    """Recompute the rollups of every day from ``start`` to ``end`` (included) in ``tz``.

    Upserts, so running it again gives the same rows. ``now`` (default: the current time)
    ends the observed period of today. With ``ledger``, days already final are skipped,
    the latency of a day not final is recomputed only when due, and the ledger is kept up
    to date; without, everything is recomputed.

    :return: the number of rollup rows written.
    """
    zone = ZoneInfo(tz)
    now = time.time() if now is None else now
    written = 0
    for day in days(start, end):
        low, high = day_bounds(day, zone)
        if low >= now:
            break
        final = now >= high + SETTLE
        if ledger is None:
            written += _rollup_day(engine, day, low, min(high, now), latency=True)
            continue
        if ledger.is_final(tz, day):
            continue
        late_writes = ledger.late_writes()
        latency = final or ledger.latency_due(tz, day, now)
        written += _rollup_day(engine, day, low, min(high, now), latency)
        if final:
            ledger.mark(tz, day, high, late_writes)
        elif latency:
            ledger.latency_done(tz, day, now)
    return written


def service_slices(conn: Connection, size: int | None = None) -> list[tuple[str, str]]:
    """``(first, last)`` service ids of consecutive services holding at most ``size``
    checks together (default :data:`SLICE_CHECKS`; a bigger service is a slice alone)."""
    size = size or SLICE_CHECKS
    slices: list[tuple[str, str]] = []
    first, count = None, 0
    rows = conn.execute(select(CheckRow.service_id, func.count())
                        .group_by(CheckRow.service_id).order_by(CheckRow.service_id))
    for service_id, checks in rows:
        if first is not None and count + checks > size:
            slices.append((first, previous))
            first, count = None, 0
        if first is None:
            first = service_id
        count += checks
        previous = service_id
    if first is not None:
        slices.append((first, previous))
    return slices


def _rollup_day(engine: Engine, day: date, low: float, high: float, latency: bool) -> int:
    with engine.connect() as conn:
        slices = service_slices(conn)
    written = 0
    for first, last in slices:
        written += _rollup_slice(engine, day, first, last, low, high, latency)
    return written


def _rollup_slice(engine: Engine, day: date, first: str, last: str, low: float,
                  high: float, latency: bool) -> int:
    """One slice of services: read in one (deferred) read transaction, then upserted in a
    short write transaction. Without ``latency`` the stored percentiles are left as they
    are (NULL for a row that did not exist)."""
    with engine.connect() as conn:
        counts = check_counts(conn, first, last, low, high)
        if not counts:
            return 0
        if latency:
            check_latency = latency_percentiles(conn, "check", first, last, low, high)
            service_latency = latency_percentiles(conn, "service", first, last, low, high)
        runs: dict[str, int] = defaultdict(int)
        for c in counts:
            runs[c.service_id] += c.runs
        changes = _service_changes(conn, first, last, low, high)
        services = {sid: service_uptime(*changes.get(sid, (None, [])), low, high)
                    for sid in runs}
    check_rows = [{
        "check_id": c.check_id, "day": day, "runs": c.runs, "up": c.up,
        "degraded": c.degraded, "down": c.down, "unknown": c.unknown,
        "maintenance": c.maintenance, "uptime": c.uptime()} for c in counts]
    service_rows = [{
        "service_id": sid, "day": day, "runs": runs[sid], "uptime": uptime,
        "observed": observed, "worst_status": worst.code if worst is not None else None}
        for sid, (uptime, observed, worst) in services.items()]
    if latency:
        _add_latency(check_rows, "check_id", check_latency)
        _add_latency(service_rows, "service_id", service_latency)
    with writing(engine).begin() as conn:
        _upsert(conn, DailyCheckRollup, check_rows, ("check_id", "day"))
        _upsert(conn, DailyServiceRollup, service_rows, ("service_id", "day"))
    return len(check_rows) + len(service_rows)


def _add_latency(rows: list[dict], key: str, found: dict) -> None:
    for row in rows:
        row["latency_p50"], row["latency_p95"] = found.get(row[key], (None, None))


def _service_changes(conn: Connection, first: str, last: str, low: float, high: float
                     ) -> dict[str, tuple[ServiceStatus | None,
                                          list[tuple[float, ServiceStatus]]]]:
    """``{service id: (status at low, changes in [low, high))}`` for the services
    ``first``..``last``, in two statements (not two per service: at 10,000 services the
    round trips were half of a pass without latency)."""
    table = ServiceStatusChange
    in_slice = table.service_id.between(first, last)
    newer = table.__table__.alias("newer")
    # the status in effect at low: the last change before it (per service, by index)
    status_at_low = (select(newer.c.current)
                     .where(newer.c.service_id == ServiceRow.id, newer.c.at < low)
                     .order_by(newer.c.at.desc(), newer.c.id.desc()).limit(1)
                     .correlate(ServiceRow.__table__).scalar_subquery())
    out: dict[str, tuple[ServiceStatus | None, list[tuple[float, ServiceStatus]]]] = {}
    for service_id, before in conn.execute(
            select(ServiceRow.id, status_at_low).where(ServiceRow.id.between(first, last))):
        out[service_id] = (_BY_CODE.get(before) if before is not None else None, [])
    for service_id, at, code in conn.execute(
            select(table.service_id, table.at, table.current)
            .where(in_slice, table.at >= low, table.at < high)
            .order_by(table.service_id, table.at, table.id)):
        if service_id in out:
            out[service_id][1].append((at, _BY_CODE[code]))
    return out


def _upsert(conn: Connection, model: type, rows: list[dict],
            keys: tuple[str, ...]) -> None:
    if not rows:
        return
    stmt = dialect_insert(conn.engine, model.__table__)
    updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=updates), rows)
