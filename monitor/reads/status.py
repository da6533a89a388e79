"""Reads of the monitoring tables: where each service and check stands, the daily tallies
of the uptime bars, response times, the active services.

Every function takes an open ``Connection`` (or an ORM ``Session``: both answer
``execute``) and returns plain values or frozen records, never ORM rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from monitor.availability import Tally
from monitor.probe import Reason, Status
from monitor.state import ServiceStatus
from monitor.store import rollups
from monitor.store.models import (
    CheckRow,
    CheckStatusChange,
    DailyCheckRollup,
    DailyServiceRollup,
    ResultRow,
    ServiceRow,
    ServiceStatusChange,
)
from monitor.store.rollups import day_bounds
from monitor.words import Bilingual

#: what the read functions accept: a connection, or an ORM session
Reader = Connection | Session

_SERVICE_STATUS = {s.code: s for s in ServiceStatus}


@dataclass(frozen=True, slots=True)
class ServiceState:
    """A service's confirmed status and since when (its newest status change)."""

    service_id: str
    status: ServiceStatus
    since: float


@dataclass(frozen=True, slots=True)
class CheckState:
    """A check's confirmed status, since when, and the reason stored with that change
    (None when it had none)."""

    key: str
    status: Status
    since: float
    reason: Reason | None


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """An active service as the catalogue stores it (names as configured)."""

    id: str
    name_fr: str
    name_en: str | None
    group_id: str | None


def _latest_id(model, owner):
    """Correlated subquery: id of the newest change of the same owner."""
    newer = model.__table__.alias("newer")
    return (select(newer.c.id).where(newer.c[owner.key] == owner)
            .order_by(newer.c.at.desc(), newer.c.id.desc()).limit(1)
            .correlate(model.__table__).scalar_subquery())


def service_states(db: Reader) -> dict[str, ServiceState]:
    """``{service id: state}`` from each service's newest status change."""
    query = (select(ServiceStatusChange.service_id, ServiceStatusChange.current,
                    ServiceStatusChange.at)
             .where(ServiceStatusChange.id == _latest_id(
                 ServiceStatusChange, ServiceStatusChange.service_id)))
    return {sid: ServiceState(sid, _SERVICE_STATUS[code], at)
            for sid, code, at in db.execute(query)}


def check_states(db: Reader, keys: Iterable[str] | None = None) -> dict[str, CheckState]:
    """``{check key: state}`` from each check's newest status change; the reason keeps
    the probe's sentence (:meth:`monitor.probe.Reason.for_public` gives the members'
    words).

    :param keys: only these checks (default: every check).
    """
    query = (select(CheckRow.key, CheckStatusChange.current, CheckStatusChange.at,
                    CheckStatusChange.reason_code, CheckStatusChange.reason_fr,
                    CheckStatusChange.reason_en, CheckStatusChange.reason_public)
             .join(CheckRow, CheckRow.id == CheckStatusChange.check_id)
             .where(CheckStatusChange.id == _latest_id(
                 CheckStatusChange, CheckStatusChange.check_id)))
    if keys is not None:
        query = query.where(CheckRow.key.in_(list(keys)))
    out = {}
    for key, current, at, code, reason_fr, reason_en, public in db.execute(query):
        reason = (Reason(code or "", Bilingual(reason_fr, reason_en), public is not False)
                  if reason_fr else None)
        out[key] = CheckState(key, Status(current), at, reason)
    return out


def service_rollups(db: Reader, first: date) -> dict[str, dict[date, Tally]]:
    """``{service: {day: tally}}`` of the daily rollups since ``first``."""
    out: dict[str, dict[date, Tally]] = defaultdict(dict)
    query = (select(DailyServiceRollup.service_id, DailyServiceRollup.day,
                    DailyServiceRollup.uptime, DailyServiceRollup.observed,
                    DailyServiceRollup.worst_status)
             .where(DailyServiceRollup.day >= first))
    for sid, day, uptime, observed, worst in db.execute(query):
        out[sid][day] = Tally.of(uptime, observed, _SERVICE_STATUS.get(worst))
    return out


def service_days(db: Reader, days: list[date], zone: ZoneInfo, now: float, *,
                 live: int) -> dict[str, dict[date, Tally]]:
    """``{service: {day: tally}}`` over ``days`` (oldest first): the last ``live`` days
    computed now from the status changes up to ``now`` (so today agrees with the status
    shown beside it, whenever the rollup pass last ran), the days before from the daily
    rollups."""
    out = service_rollups(db, days[0])
    fresh = rollups.service_days(db, days[-live], days[-1], zone, now)
    for sid, per_day in fresh.items():
        out[sid].update(per_day)
    return out


def latency_series(db: Reader, check_keys: Iterable[str], since: float, until: float,
                   bucket: float) -> dict[str, list[tuple[float, float]]]:
    """Median answered response time per ``bucket`` seconds per check, from raw results.

    :return: ``{check key: [(bucket start, median seconds)]}``; buckets without an answered
        run are left out (a chart draws a gap).
    """
    keys = list(check_keys)
    ids = dict(db.execute(select(CheckRow.id, CheckRow.key).where(CheckRow.key.in_(keys))).all())
    if not ids:
        return {}
    rows = db.execute(
        select(ResultRow.check_id, ResultRow.started_at, ResultRow.duration)
        .where(ResultRow.check_id.in_(list(ids)), ResultRow.started_at >= since,
               ResultRow.started_at < until,
               ResultRow.status.in_([int(Status.UP), int(Status.DEGRADED)])))
    buckets: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for check_id, started, duration in rows:
        buckets[ids[check_id]][int((started - since) // bucket)].append(duration)
    out = {}
    for key, per in buckets.items():
        series = []
        for index in sorted(per):
            values = sorted(per[index])
            series.append((since + index * bucket, values[len(values) // 2]))
        out[key] = series
    return out


def daily_latency(db: Reader, check_keys: Iterable[str], first: date, zone: ZoneInfo
                  ) -> dict[str, list[tuple[float, float]]]:
    """Daily median response time per check since ``first`` (from the rollups, kept for
    ever): ``{check key: [(day's start, median seconds)]}``."""
    keys = list(check_keys)
    query = (select(CheckRow.key, DailyCheckRollup.day, DailyCheckRollup.latency_p50)
             .join(CheckRow, CheckRow.id == DailyCheckRollup.check_id)
             .where(CheckRow.key.in_(keys), DailyCheckRollup.day >= first,
                    DailyCheckRollup.latency_p50.is_not(None))
             .order_by(DailyCheckRollup.day))
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, day, p50 in db.execute(query):
        out[key].append((day_bounds(day, zone)[0], p50))
    return dict(out)


def active_services(db: Reader) -> list[ServiceEntry]:
    """The active services, in the configuration's order."""
    query = (select(ServiceRow.id, ServiceRow.name_fr, ServiceRow.name_en, ServiceRow.group_id)
             .where(ServiceRow.active.is_(True))
             .order_by(ServiceRow.position, ServiceRow.id))
    return [ServiceEntry(*row) for row in db.execute(query)]


__all__ = [
    "CheckState", "Reader", "ServiceEntry", "ServiceState", "active_services",
    "check_states", "daily_latency", "latency_series", "service_days", "service_rollups",
    "service_states",
]
