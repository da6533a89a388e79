"""Reads shaped for a page built off the request path (the dashboard's snapshot): the
one-row version question asked every few seconds, whether the incident tables exist yet,
the next planned change of the notices, the rules of recurring maintenance windows, and
an ORM session on a connection already open (so the incident queries of
:mod:`monitor.incidents.queries` run in the same connection as the other reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine, func, inspect, select
from sqlalchemy.orm import Session

from monitor.incidents.models import (
    Incident,
    IncidentLink,
    IncidentUpdate,
    MaintenanceWindow,
    Notice,
)
from monitor.incidents.recurrence import RuleError
from monitor.incidents.rulepattern import Pattern, describe
from monitor.store.models import (
    CheckRow,
    CheckStatusChange,
    DailyServiceRollup,
    ResultRow,
    ServiceStatusChange,
)

#: the tables the incident migration creates (a database migrated before it has none)
INCIDENT_TABLES = frozenset({"incidents", "notices", "maintenance_windows"})


@contextmanager
def session_on(conn: Connection) -> Iterator[Session]:
    """An ORM session for reading on the open connection ``conn`` (for the functions of
    :mod:`monitor.incidents.queries`); closed at the end of the block."""
    with Session(conn) as session:
        yield session


def incident_tables_present(engine: Engine) -> bool:
    """Whether the database holds the incident tables (see :data:`INCIDENT_TABLES`)."""
    return set(inspect(engine).get_table_names()) >= INCIDENT_TABLES


def page_version(conn: Connection, *, since_day: date, with_incidents: bool
                 ) -> tuple[tuple, float | None]:
    """``(version, start time of the newest result)`` in one statement.

    The version changes whenever anything a status page shows is written: a status
    change, a check (de)activated, a rollup of ``since_day`` or later, a rollup row
    added, and with ``with_incidents`` an incident, update, link, window or notice
    written, or a post-mortem. The newest result's time is apart: it does not change what
    the page shows, only its "last updated".
    """
    columns = [
        select(func.max(ServiceStatusChange.id)).scalar_subquery(),
        select(func.max(CheckStatusChange.id)).scalar_subquery(),
        select(func.count(CheckRow.id)).where(CheckRow.active).scalar_subquery(),
        select(func.coalesce(func.sum(DailyServiceRollup.runs), 0))
        .where(DailyServiceRollup.day >= since_day).scalar_subquery(),
        select(func.count(DailyServiceRollup.id)).scalar_subquery(),
    ]
    if with_incidents:
        for model, column in ((Incident, Incident.updated_at),
                              (IncidentUpdate, IncidentUpdate.id),
                              (IncidentLink, IncidentLink.id),
                              (MaintenanceWindow, MaintenanceWindow.updated_at),
                              (Notice, Notice.updated_at)):
            columns.append(select(func.count()).select_from(model).scalar_subquery())
            columns.append(select(func.max(column)).scalar_subquery())
        columns.append(select(func.max(Incident.postmortem_at)).scalar_subquery())
    columns.append(select(func.max(ResultRow.started_at)).scalar_subquery())
    row = tuple(conn.execute(select(*columns)).one())
    return row[:-1], row[-1]


def next_notice_change(conn: Connection, now: float) -> float | None:
    """The next time after ``now`` a notice starts or ends (a page must change then)."""
    starts = conn.scalar(select(func.min(Notice.starts_at)).where(Notice.starts_at > now))
    ends = conn.scalar(select(func.min(Notice.ends_at)).where(Notice.ends_at > now))
    return min((t for t in (starts, ends) if t is not None), default=None)


@dataclass(frozen=True, slots=True)
class WindowRule:
    """A recurring window's rule as words can say it (``pattern`` None: the stored rule
    no longer reads, changed since its occurrences were read) and its time zone."""

    pattern: Pattern | None
    timezone: str


def window_rules(db: Connection | Session, ids: Iterable[int]) -> dict[int, WindowRule]:
    """``{window id: rule}`` of the recurring windows among ``ids``."""
    out = {}
    for wid, rule, duration, tz, first in db.execute(
            select(MaintenanceWindow.id, MaintenanceWindow.rule, MaintenanceWindow.duration,
                   MaintenanceWindow.timezone, MaintenanceWindow.starts_at)
            .where(MaintenanceWindow.id.in_(list(ids)), MaintenanceWindow.rule.is_not(None))):
        try:
            out[wid] = WindowRule(describe(rule, duration or 0.0, tz, first), tz)
        except RuleError:
            out[wid] = WindowRule(None, tz)
    return out


__all__ = [
    "INCIDENT_TABLES", "WindowRule", "incident_tables_present", "next_notice_change",
    "page_version", "session_on", "window_rules",
]
