"""Reading the store for the status page: services, checks, rollups, incidents, maintenance.

Every function takes an open SQLAlchemy ``Connection`` and returns plain views
(:mod:`dashboard.views`); :mod:`dashboard.snapshot` calls them when the database changed.
The reads themselves are the core's read API (:mod:`monitor.reads`,
:mod:`monitor.incidents.queries`): this module only turns its records into the page's
views and knows no table.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from dashboard.views import (
    CheckView,
    DayView,
    Html,
    IncidentView,
    LinkView,
    MaintenanceView,
    NoticeView,
    UpdateView,
)
from monitor import availability
from monitor.availability import NOTHING, Tally
from monitor.config import Config
from monitor.incidents import queries
from monitor.incidents.calendar import CalendarWindow
from monitor.reads import page, status
from monitor.reads.page import session_on
from monitor.state import ServiceStatus
from monitor.words import Bilingual

log = logging.getLogger(__name__)

#: days in the uptime bars
BAR_DAYS = 90
#: the last days of the bars computed from the status changes at every snapshot rather
#: than read from the rollups: today and yesterday, the days a rollup pass may not have
#: finished (it runs every few minutes, and a day is final a while after it ends)
LIVE_DAYS = 2
#: resolved incidents kept in the snapshot for the history page
RECENT_INCIDENTS = 50
#: occurrences of one window kept in the snapshot on each side of now: a recurring
#: window is shown once, by its running or next occurrence (and once among the past ones,
#: by its latest), with its rule in words; the next occurrence is read again when that
#: one ends (an hourly window has 1,440 in the 60 days ahead)
PER_WINDOW = 1


def service_statuses(conn: Connection) -> dict[str, tuple[ServiceStatus, float]]:
    """``{service id: (status, since)}`` from each service's newest status change."""
    return {sid: (s.status, s.since) for sid, s in status.service_states(conn).items()}


def check_views(conn: Connection, config: Config) -> dict[str, CheckView]:
    """Every configured check with its confirmed status and the reason of that change:
    the members' words for its code as public places show it
    (:meth:`monitor.probe.Reason.for_public`), and the probe's sentence as ``detail``
    for volunteers."""
    latest = status.check_states(conn)
    out = {}
    for check in config.checks:
        if not check.enabled:
            continue
        state = latest.get(check.key)
        shown = detail = None
        if state is not None and state.reason is not None:
            detail = state.reason.words
            shown = state.reason.for_public(state.status).words
        out[check.key] = CheckView(
            key=check.key, name=check.name, kind=check.ref.kind,
            status=state.status if state is not None else None,
            since=state.since if state is not None else None, reason=shown, detail=detail)
    return out


def bar_days(today: date, count: int = BAR_DAYS) -> list[date]:
    """The days of the uptime bars, oldest first, ending today."""
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


def service_rollups(conn: Connection, first: date) -> dict[str, dict[date, Tally]]:
    """``{service: {day: tally}}`` of the daily rollups since ``first``."""
    return status.service_rollups(conn, first)


def service_days(conn: Connection, days: list[date], zone: ZoneInfo, now: float
                 ) -> dict[str, dict[date, Tally]]:
    """``{service: {day: tally}}`` over ``days``: the last :data:`LIVE_DAYS` computed now
    from the status changes up to ``now`` (so today agrees with the status shown beside
    it, whenever the rollup pass last ran), the days before from the daily rollups."""
    return status.service_days(conn, days, zone, now, live=LIVE_DAYS)


def build_days(days: list[date], tallies: dict[date, Tally], incidents: dict[date, int]
               ) -> tuple[tuple[DayView, ...], float | None]:
    """A service's bar segments and its availability over them (each day weighted by
    the time observed in it: :func:`monitor.availability.combine`)."""
    found = [tallies.get(day, NOTHING) for day in days]
    bar = tuple(DayView(day, tally.ratio, tally.worst, incidents.get(day, 0))
                for day, tally in zip(days, found))
    return bar, availability.combine(found).ratio


# Incidents, maintenance, notices (through monitor.incidents.queries) --------------------------


def _update(u) -> UpdateView:
    return UpdateView(u.id, u.at, u.kind, u.phase, u.impact, Bilingual(u.message_fr, u.message_en),
                      Html(u.message_fr_html, u.message_en_html))


def _incident(summary, updates=None, links=(), detail=None) -> IncidentView:
    if updates is None:
        updates = (summary.latest_update,) if summary.latest_update else ()
    postmortem = postmortem_html = None
    if detail is not None and detail.postmortem_fr:
        postmortem = Bilingual(detail.postmortem_fr, detail.postmortem_en)
        postmortem_html = Html(detail.postmortem_fr_html, detail.postmortem_en_html)
    return IncidentView(
        id=summary.id, reference=summary.reference,
        title=Bilingual(summary.title_fr, summary.title_en),
        impact=summary.impact, worst_impact=summary.worst_impact, phase=summary.phase,
        opened_at=summary.opened_at, updated_at=summary.updated_at,
        resolved_at=summary.resolved_at, service_ids=tuple(summary.service_ids),
        updates=tuple(_update(u) for u in updates),
        # public links only, and never a javascript: address
        links=tuple(LinkView(link.kind, link.title, link.url) for link in links
                    if link.public and link.url.startswith(("https://", "http://"))),
        postmortem=postmortem, postmortem_at=detail.postmortem_at if detail else None,
        postmortem_html=postmortem_html)


def open_incidents(conn: Connection) -> list[IncidentView]:
    """Unresolved incidents, most severe then newest first, with their latest public update."""
    with session_on(conn) as session:
        return [_incident(s) for s in queries.open_incidents(session)]


def incident_history(conn: Connection, *, service_id: str | None = None,
                     limit: int = RECENT_INCIDENTS, offset: int = 0) -> list[IncidentView]:
    """Incidents newest first (open and resolved), optionally of one service."""
    with session_on(conn) as session:
        return [_incident(s) for s in queries.incident_history(
            session, service_id=service_id, limit=limit, offset=offset)]


def incident(conn: Connection, incident_id: int) -> IncidentView | None:
    """One incident with its public timeline, links and post-mortem, or None."""
    with session_on(conn) as session:
        detail = queries.incident_detail(session, incident_id)
    if detail is None:
        return None
    return _incident(detail.summary, detail.updates, detail.links, detail)


def incident_counts(conn: Connection, days: list[date], tz: str) -> dict[str, dict[date, int]]:
    """``{service: {day: incidents touching that day}}`` over ``days``."""
    with session_on(conn) as session:
        return queries.daily_incident_counts(session, days=len(days), today=days[-1], tz=tz)


def maintenance(conn: Connection, now: float, ahead: float = 60 * 86400,
                behind: float = 90 * 86400) -> list[MaintenanceView]:
    """Occurrences of maintenance windows from ``now - behind`` to ``now + ahead`` in time
    order (recurring windows expanded; of each window, the :data:`PER_WINDOW` latest
    ended and the :data:`PER_WINDOW` next ones), a recurring one with its rule's
    :class:`~monitor.incidents.rulepattern.Pattern`."""
    with session_on(conn) as session:
        found = queries.upcoming_maintenance(session, now - behind, horizon=behind + ahead)
        rules = page.window_rules(session, {p.window_id for p in found if p.recurring})
    by_window: dict[int, list] = defaultdict(list)
    for p in found:
        by_window[p.window_id].append(p)
    planned = sorted((p for occurrences in by_window.values() for p in (
        [o for o in occurrences if o.end <= now][-PER_WINDOW:]
        + [o for o in occurrences if o.end > now][:PER_WINDOW])),
        key=lambda p: (p.start, p.window_id))
    return [MaintenanceView(p.window_id, Bilingual(p.title_fr, p.title_en),
                            Bilingual(p.message_fr, p.message_en), p.start, p.end,
                            tuple(p.service_ids), p.recurring,
                            Html(p.message_fr_html, p.message_en_html),
                            *_rule(rules.get(p.window_id))) for p in planned]


def calendar_windows(conn: Connection, now: float) -> list[CalendarWindow]:
    """Maintenance windows as the calendars show them (one-off ones, recurring ones as a
    recurrence or their occurrences; see :mod:`monitor.incidents.calendar`)."""
    with session_on(conn) as session:
        return queries.calendar_windows(session, now)


def _rule(rule: page.WindowRule | None) -> tuple:
    """A window's rule in words and its time zone as the view holds them (a rule that
    no longer reads has no words until the next snapshot)."""
    return (None, None) if rule is None else (rule.pattern, rule.timezone)


def notices(conn: Connection, now: float) -> list[NoticeView]:
    """Notices shown right now, warnings first, newest first."""
    with session_on(conn) as session:
        found = queries.active_notices(session, now)
    return [NoticeView(n.id, n.level, Bilingual(n.title_fr, n.title_en),
                       Bilingual(n.text_fr, n.text_en), n.starts_at, n.ends_at,
                       Html(n.text_fr_html, n.text_en_html))
            for n in found]


def next_notice_change(conn: Connection, now: float) -> float | None:
    """The next time a notice starts or ends (the page must change then)."""
    return page.next_notice_change(conn, now)


# Response times -----------------------------------------------------------------------------


def latency_series(conn: Connection, check_keys: Iterable[str], since: float, until: float,
                   bucket: float) -> dict[str, list[tuple[float, float]]]:
    """Median answered response time per ``bucket`` seconds per check, from raw results.

    :return: ``{check key: [(bucket start, median seconds)]}``; buckets without an answered
        run are left out (the chart draws a gap).
    """
    return status.latency_series(conn, check_keys, since, until, bucket)


def daily_latency(conn: Connection, check_keys: Iterable[str], first: date, zone: ZoneInfo
                  ) -> dict[str, list[tuple[float, float]]]:
    """Daily median response time per check since ``first`` (from the rollups, kept for ever)."""
    return status.daily_latency(conn, check_keys, first, zone)


__all__ = [
    "BAR_DAYS", "bar_days", "build_days", "calendar_windows", "check_views", "daily_latency",
    "incident", "incident_counts", "incident_history", "latency_series", "maintenance",
    "next_notice_change", "notices", "open_incidents", "service_days", "service_rollups",
    "service_statuses",
]
