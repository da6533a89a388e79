"""Daily rollups per check and per service, recomputed idempotently from raw rows.

A day is a calendar day in the site's time zone (23 or 25 hours on daylight-saving days).
Definitions, documented here because the status page shows them:

- uptime is availability as :mod:`monitor.availability` defines it (degraded counts as
  available, a partial outage is weighted, maintenance and unknown are not counted):
- check uptime: ``(up + degraded) / (runs - unknown - maintenance)`` over the day's results;
- service uptime: time available / time observed, from the service's status changes (the
  status at midnight is the last change before it); time before the first status ever is
  not observed either. Each row records the version of the rule it was computed with
  (``availability_rule``): rows computed under an older rule are computed again from the
  status changes, kept for ever (:func:`refresh_outdated`);
- latency p50/p95: over the runs that got an answer (up or degraded), percentiles with
  linear interpolation between closest ranks (numpy's default method); a service's are
  over the answered runs of all its checks together;
- a service's worst status of the day ranks statuses by the one order of
  :mod:`monitor.status`.

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
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, bindparam, func, or_, select, update
from sqlalchemy import true as sa_true

from monitor import availability
from monitor.availability import Tally
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

_BY_CODE = {s.code: s for s in ServiceStatus}
#: checks per slice of services read and written together (a service is never split)
SLICE_CHECKS = 2000
#: days whose service rows are computed again per pass when they were computed under an
#: older availability rule (a pass stays short; the oldest rows follow at the next ones)
OUTDATED_DAYS_PER_PASS = 92


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
    if ledger is not None and not ledger.rule_current:
        if refresh_outdated(engine, tz, now) < OUTDATED_DAYS_PER_PASS:
            ledger.rule_current = True
    return written


def refresh_outdated(engine: Engine, tz: str, now: float | None = None,
                     limit: int = OUTDATED_DAYS_PER_PASS) -> int:
    """Compute again, from the status changes, the availability of the service rows
    computed under an older rule (:data:`monitor.availability.RULE`), newest days first,
    at most ``limit`` days; return how many days were done. Runs, latency and the rows
    themselves are left as they are (the raw results may be gone)."""
    zone = ZoneInfo(tz)
    now = time.time() if now is None else now
    table = DailyServiceRollup
    outdated = or_(table.availability_rule.is_(None),
                   table.availability_rule < availability.RULE)
    with engine.connect() as conn:
        found = conn.execute(select(table.day, table.service_id).where(outdated)).all()
    by_day: dict[date, set[str]] = defaultdict(set)
    for day, service_id in found:
        by_day[day].add(service_id)
    chosen = sorted(by_day, reverse=True)[:limit]
    for day in chosen:
        low, high = day_bounds(day, zone)
        with engine.connect() as conn:
            changes = service_changes(conn, low, min(high, now))
        rows = []
        for service_id in by_day[day]:
            tally = availability.over_period(*changes.get(service_id, (None, [])), low,
                                             min(high, now))
            rows.append({"sid": service_id, "d": day, **_availability_values(tally)})
        stmt = (update(table).where(table.service_id == bindparam("sid"),
                                    table.day == bindparam("d"))
                .values(uptime=bindparam("uptime"), observed=bindparam("observed"),
                        worst_status=bindparam("worst_status"),
                        availability_rule=bindparam("availability_rule")))
        with writing(engine).begin() as conn:
            conn.execute(stmt, rows)
    return len(chosen)


def service_days(conn: Connection, first: date, last: date, zone: ZoneInfo, now: float
                 ) -> dict[str, dict[date, Tally]]:
    """``{service id: {day: tally}}`` of every service from ``first`` to ``last`` (days
    in ``zone``), computed now from the status changes, the way a rollup pass computes
    a day; a day is observed until ``now`` at most, a day starting after it is left out.
    What the status page shows of the days a pass may not have finished (today).

    A change stamped at ``now`` or later (another machine's clock a little ahead) counts
    from ``now``: the last day's colour is always that of the status shown beside it."""
    low = day_bounds(first, zone)[0]
    spans = []
    for day in days(first, last):
        start, end = day_bounds(day, zone)
        if start >= now:
            break
        spans.append((day, start, min(end, now)))
    out: dict[str, dict[date, Tally]] = {}
    for service_id, (current, found) in service_changes(conn, low, None).items():
        per_day, index = {}, 0
        for number, (day, start, end) in enumerate(spans):
            within = []
            last_span = number == len(spans) - 1
            while index < len(found) and (last_span or found[index][0] < end):
                at, status = found[index]
                within.append((min(at, end), status))
                index += 1
            per_day[day] = availability.over_period(current, within, start, end)
            if within:
                current = within[-1][1]
        out[service_id] = per_day
    return out


def service_slices(conn: Connection, size: int | None = None) -> list[tuple[str, str]]:
    """``(first, last)`` service ids of consecutive services holding at most ``size``
    checks together (default :data:`SLICE_CHECKS`; a bigger service is a slice alone)."""
    size = size or SLICE_CHECKS
    slices: list[tuple[str, str]] = []
    first, count, previous = None, 0, ""
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
        changes = service_changes(conn, low, high, first, last)
        services = {sid: availability.over_period(*changes.get(sid, (None, [])), low, high)
                    for sid in runs}
    check_rows = [{
        "check_id": c.check_id, "day": day, "runs": c.runs, "up": c.up,
        "degraded": c.degraded, "down": c.down, "unknown": c.unknown,
        "maintenance": c.maintenance, "uptime": c.uptime()} for c in counts]
    service_rows = [{"service_id": sid, "day": day, "runs": runs[sid],
                     **_availability_values(tally)} for sid, tally in services.items()]
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


def _availability_values(tally: Tally) -> dict:
    """The availability columns of a service row."""
    return {"uptime": tally.ratio, "observed": tally.observed,
            "worst_status": tally.worst.code if tally.worst is not None else None,
            "availability_rule": availability.RULE}


def service_changes(conn: Connection, low: float, high: float | None,
                    first: str | None = None, last: str | None = None
                    ) -> dict[str, tuple[ServiceStatus | None,
                                         list[tuple[float, ServiceStatus]]]]:
    """``{service id: (status at low, changes in [low, high))}`` (``high`` None: every
    change since ``low``) for the services ``first``..``last`` (default: all), in two
    statements (not two per service: at 10,000 services the round trips were half of a
    pass without latency)."""
    table = ServiceStatusChange
    if first is None or last is None:
        in_slice, known = sa_true(), sa_true()
    else:
        in_slice = table.service_id.between(first, last)
        known = ServiceRow.id.between(first, last)
    newer = table.__table__.alias("newer")
    # the status in effect at low: the last change before it (per service, by index)
    status_at_low = (select(newer.c.current)
                     .where(newer.c.service_id == ServiceRow.id, newer.c.at < low)
                     .order_by(newer.c.at.desc(), newer.c.id.desc()).limit(1)
                     .correlate(ServiceRow.__table__).scalar_subquery())
    out: dict[str, tuple[ServiceStatus | None, list[tuple[float, ServiceStatus]]]] = {}
    for service_id, before in conn.execute(
            select(ServiceRow.id, status_at_low).where(known)):
        out[service_id] = (_BY_CODE.get(before) if before is not None else None, [])
    for service_id, at, code in conn.execute(
            select(table.service_id, table.at, table.current)
            .where(in_slice, table.at >= low,
                   table.at < high if high is not None else sa_true())
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
