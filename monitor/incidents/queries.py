"""What the dashboard reads: open incidents, incident pages, history, maintenance, notices,
the daily incident counts of the 90-day bars, and the outbox for the admin area (part of
the core's read API, :mod:`monitor.reads`; the vocabularies of the fields, ``PHASES``,
``IMPACTS``, ``NOTICE_LEVELS`` and ``OUTBOX_STATUSES``, are exported here too).

Every function takes an ORM session (read only: nothing is changed) and returns plain
frozen dataclasses, safe to keep after the session closes and to serialise to JSON
(``dataclasses.asdict``). Times are Unix seconds; days are dates in the site's time zone.
``public_only=True`` (the default) leaves out what only volunteers see: private timeline
notes and non-public links (helpdesk tickets). Markdown texts come with their safe HTML
(``*_html``, as stored when the text was saved: nothing is rendered here).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from monitor.incidents import calendar, maintenance, notices, outbox
from monitor.markup import stored
from monitor.status import ServiceStatus
from monitor.words import Bilingual
from monitor.incidents.maintenance import PlannedMaintenance
from monitor.incidents.models import (
    IMPACTS,
    NOTICE_LEVELS,
    OUTBOX_STATUSES,
    PHASES,
    Incident,
    IncidentLink,
    IncidentService,
    IncidentUpdate,
    MaintenanceWindow,
    Notice,
    OutboxEntry,
)


@dataclass(frozen=True, slots=True)
class UpdateView:
    """One timeline entry."""

    id: int
    at: float
    kind: str
    phase: str
    impact: str | None
    message_fr: str
    message_en: str | None
    public: bool
    automatic: bool
    author: str | None
    message_fr_html: str = ""
    message_en_html: str = ""


@dataclass(frozen=True, slots=True)
class LinkView:
    """A link attached to an incident by a plugin."""

    kind: str
    title: str
    url: str
    public: bool
    plugin: str
    external_id: str | None


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """An incident in a list, with its latest (public, unless asked) update."""

    id: int
    reference: str
    title_fr: str
    title_en: str
    impact: str
    worst_impact: str
    phase: str
    automatic: bool
    opened_at: float
    updated_at: float
    resolved_at: float | None
    service_ids: tuple[str, ...]
    latest_update: UpdateView | None
    has_postmortem: bool

    @property
    def is_open(self) -> bool:
        """Not resolved."""
        return self.resolved_at is None

    @property
    def duration(self) -> float | None:
        """Seconds from opening to resolution (None while open)."""
        return None if self.resolved_at is None else self.resolved_at - self.opened_at


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    """An incident's page: summary, timeline (oldest first), links, post-mortem."""

    summary: IncidentSummary
    updates: tuple[UpdateView, ...]
    links: tuple[LinkView, ...]
    postmortem_fr: str | None
    postmortem_en: str | None
    postmortem_at: float | None
    postmortem_fr_html: str = ""
    postmortem_en_html: str = ""


@dataclass(frozen=True, slots=True)
class NoticeView:
    """An information message."""

    id: int
    level: str
    title_fr: str
    title_en: str | None
    text_fr: str
    text_en: str | None
    starts_at: float | None
    ends_at: float | None
    created_at: float
    created_by: str | None
    text_fr_html: str = ""
    text_en_html: str = ""


@dataclass(frozen=True, slots=True)
class WindowView:
    """A maintenance window as defined (the admin list), with its next occurrence."""

    id: int
    config_id: str | None
    title_fr: str
    title_en: str | None
    message_fr: str
    message_en: str | None
    all_services: bool
    group_id: str | None
    service_ids: tuple[str, ...]
    starts_at: float | None
    ends_at: float | None
    rule: str | None
    duration: float | None
    timezone: str
    announce_before: float | None
    cancelled_at: float | None
    created_by: str | None
    next_start: float | None
    next_end: float | None
    #: why the stored rule is not evaluated (the window is skipped), in English, French
    refused: str | None = None
    refused_fr: str | None = None
    message_fr_html: str = ""
    message_en_html: str = ""


@dataclass(frozen=True, slots=True)
class OutboxView:
    """One delivery, for the admin area and ``vigie outbox list``."""

    id: int
    hook: str
    plugin: str
    status: str
    attempts: int
    idempotency_key: str
    incident_id: int | None
    created_at: float
    next_attempt_at: float
    last_attempt_at: float | None
    delivered_at: float | None
    last_error: str | None


# Incidents ------------------------------------------------------------------------------


def _update_view(u: IncidentUpdate) -> UpdateView:
    return UpdateView(u.id, u.at, u.kind, u.phase, u.impact, u.message_fr or "", u.message_en,
                      u.public, u.automatic, u.author, stored(u.message_fr_html, u.message_fr),
                      stored(u.message_en_html, u.message_en))


def _summary(i: Incident, latest: IncidentUpdate | None) -> IncidentSummary:
    return IncidentSummary(
        i.id, i.reference or str(i.id), i.title_fr, i.title_en or i.title_fr, i.impact,
        i.worst_impact, i.phase, i.automatic, i.opened_at, i.updated_at, i.resolved_at,
        tuple(i.service_ids), _update_view(latest) if latest else None,
        i.postmortem_fr is not None)


def _latest_updates(session: Session, ids: list[int],
                    public_only: bool) -> dict[int, IncidentUpdate]:
    if not ids:
        return {}
    stmt = select(IncidentUpdate).where(IncidentUpdate.incident_id.in_(ids))
    if public_only:
        stmt = stmt.where(IncidentUpdate.public.is_(True))
    latest: dict[int, IncidentUpdate] = {}
    for u in session.scalars(stmt.order_by(IncidentUpdate.at, IncidentUpdate.id)):
        latest[u.incident_id] = u
    return latest


def _summaries(session: Session, incidents: list[Incident],
               public_only: bool) -> list[IncidentSummary]:
    latest = _latest_updates(session, [i.id for i in incidents], public_only)
    return [_summary(i, latest.get(i.id)) for i in incidents]


def open_incidents(session: Session, *, public_only: bool = True,
                   service_id: str | None = None) -> list[IncidentSummary]:
    """Unresolved incidents, most severe then newest first, each with its latest update.

    :param service_id: only those concerning this service.
    """
    stmt = select(Incident).where(Incident.resolved_at.is_(None))
    if service_id is not None:
        stmt = stmt.join(IncidentService).where(IncidentService.service_id == service_id)
    rows = list(session.scalars(stmt.order_by(Incident.opened_at.desc())))
    # worst impact first (the one order of monitor.status), newest first among equals
    rows.sort(key=lambda i: ServiceStatus.of(i.impact) or ServiceStatus.OPERATIONAL,
              reverse=True)
    return _summaries(session, rows, public_only)


def incident_detail(session: Session, incident: int | str, *,
                    public_only: bool = True) -> IncidentDetail | None:
    """An incident by id or reference (``INC-2026-0042``) with its timeline and links;
    None when there is no such incident."""
    stmt = select(Incident).options(selectinload(Incident.updates), selectinload(Incident.links))
    if isinstance(incident, int) or str(incident).isdigit():
        stmt = stmt.where(Incident.id == int(incident))
    else:
        stmt = stmt.where(Incident.reference == str(incident).upper())
    row = session.scalars(stmt).first()
    if row is None:
        return None
    updates = [u for u in row.updates if u.public or not public_only]
    updates.sort(key=lambda u: (u.at, u.id))
    links = [l for l in row.links if l.public or not public_only]
    # guides (no external id) first, then the plugins' own objects
    links.sort(key=lambda l: (l.external_id is not None, l.id))
    return IncidentDetail(
        _summary(row, updates[-1] if updates else None),
        tuple(_update_view(u) for u in updates),
        tuple(LinkView(l.kind, l.title, l.url, l.public, l.plugin, l.external_id) for l in links),
        row.postmortem_fr, row.postmortem_en, row.postmortem_at,
        stored(row.postmortem_fr_html, row.postmortem_fr),
        stored(row.postmortem_en_html, row.postmortem_en))


def incident_history(session: Session, *, service_id: str | None = None,
                     since: float | None = None, until: float | None = None,
                     limit: int = 50, offset: int = 0,
                     public_only: bool = True) -> list[IncidentSummary]:
    """Incidents (open and resolved), newest first, optionally for one service and
    opened within ``[since, until)``; paginate with ``limit``/``offset``."""
    stmt = select(Incident)
    if service_id is not None:
        stmt = stmt.join(IncidentService).where(IncidentService.service_id == service_id)
    if since is not None:
        stmt = stmt.where(Incident.opened_at >= since)
    if until is not None:
        stmt = stmt.where(Incident.opened_at < until)
    rows = list(session.scalars(stmt.order_by(Incident.opened_at.desc(), Incident.id.desc())
                                .limit(limit).offset(offset)))
    return _summaries(session, rows, public_only)


def daily_incident_counts(session: Session, *, days: int = 90, today: date | None = None,
                          tz: str = "Europe/Paris",
                          service_ids: Iterable[str] | None = None) -> dict[str, dict[date, int]]:
    """For the 90-day bars: service id → {day → number of incidents touching that day}.

    An incident counts on every day (in ``tz``) from its opening to its resolution (today
    while open); days without incidents are absent. ``today`` defaults to today in ``tz``.
    """
    zi = ZoneInfo(tz)
    today = today or datetime.now(zi).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), zi).timestamp()
    end = datetime.combine(today + timedelta(days=1), datetime.min.time(), zi).timestamp()
    stmt = (select(IncidentService.service_id, Incident.opened_at, Incident.resolved_at)
            .join(Incident, Incident.id == IncidentService.incident_id)
            .where(Incident.opened_at < end,
                   (Incident.resolved_at.is_(None)) | (Incident.resolved_at >= start)))
    if service_ids is not None:
        stmt = stmt.where(IncidentService.service_id.in_(list(service_ids)))
    out: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for sid, opened, resolved in session.execute(stmt):
        day = max(datetime.fromtimestamp(opened, zi).date(), first)
        last = min(datetime.fromtimestamp(resolved, zi).date() if resolved else today, today)
        while day <= last:
            out[sid][day] += 1
            day += timedelta(days=1)
    return {sid: dict(counts) for sid, counts in out.items()}


# Maintenance ----------------------------------------------------------------------------


def active_maintenance(session: Session, at: float) -> list[PlannedMaintenance]:
    """Window occurrences running at ``at`` (with the services each covers)."""
    return [p for p in maintenance.planned(session, at, at + 1e-3) if p.active(at)]


def upcoming_maintenance(session: Session, at: float, *,
                         horizon: float = 14 * 86400) -> list[PlannedMaintenance]:
    """Occurrences running at ``at`` or starting within ``horizon`` seconds, by start
    (recurring windows expanded; the page shows those whose ``announce_at`` has come, or
    all: its choice)."""
    return maintenance.planned(session, at, at + horizon)


def services_in_maintenance(session: Session, at: float) -> dict[str, PlannedMaintenance]:
    """Service id → the occurrence keeping it in maintenance at ``at``."""
    return maintenance.services_in_maintenance(session, at)


def maintenance_windows(session: Session, at: float, *,
                        include_cancelled: bool = False) -> list[WindowView]:
    """Windows as defined (the admin list), newest first, each with its next occurrence
    (running or future) after ``at``, or why its stored rule is refused."""
    stmt = select(MaintenanceWindow)
    if not include_cancelled:
        stmt = stmt.where(MaintenanceWindow.cancelled_at.is_(None))
    out = []
    for w in session.scalars(stmt.order_by(MaintenanceWindow.created_at.desc(),
                                           MaintenanceWindow.id.desc())):
        first = maintenance.next_window_occurrence(w, at)
        refused = maintenance.refusal(w)
        out.append(WindowView(
            w.id, w.config_id, w.title_fr, w.title_en, w.message_fr or "", w.message_en,
            w.all_services, w.group_id, tuple(w.service_ids or ()), w.starts_at, w.ends_at,
            w.rule, w.duration, w.timezone, w.announce_before, w.cancelled_at, w.created_by,
            first.start if first else None, first.end if first else None,
            str(refused) if refused else None, refused.fr if refused else None,
            stored(w.message_fr_html, w.message_fr), stored(w.message_en_html, w.message_en)))
    return out


def calendar_windows(session: Session, at: float, *,
                     keep: float = calendar.KEEP) -> list[calendar.CalendarWindow]:
    """Windows as calendars show them (:mod:`monitor.incidents.calendar`), by id: every
    recurring window, and the one-off ones ended (or cancelled) less than ``keep``
    seconds before ``at``, each with the services it covers (none: left out); public
    fields only. A window whose stored rule is refused is left out, as the page does."""
    services = maintenance.catalog(session)
    since = at - keep
    stmt = (select(MaintenanceWindow)
            .where(or_(MaintenanceWindow.cancelled_at.is_(None),
                       MaintenanceWindow.cancelled_at >= since))
            .where(or_(MaintenanceWindow.rule.is_not(None), MaintenanceWindow.ends_at >= since))
            .order_by(MaintenanceWindow.id))
    out = []
    for w in session.scalars(stmt):
        covered = maintenance.covered_services(w, services)
        if not covered or maintenance.refusal(w) is not None:
            continue
        recurrence: calendar.Recurrence | None = None
        instances: tuple[calendar.Instance, ...] = ()
        if w.rule is not None:
            found = calendar.recurring(
                w.rule, w.duration or 0.0, w.timezone, anchor=w.starts_at,
                cancelled_at=w.cancelled_at,
                lower=w.starts_at if w.starts_at is not None else w.created_at, now=at)
            if isinstance(found, calendar.Recurrence):
                recurrence = found
            else:
                instances = found
        elif w.starts_at is not None and w.ends_at is not None:
            instances = (calendar.one_off(w.starts_at, w.ends_at, w.cancelled_at),)
        if recurrence is None and not instances:
            continue
        out.append(calendar.CalendarWindow(
            w.id, Bilingual(w.title_fr, w.title_en), Bilingual(w.message_fr or "", w.message_en),
            covered,
            w.timezone, w.created_at, w.updated_at, recurrence, instances,
            expanded=w.rule is not None and recurrence is None))
    return out


# Notices --------------------------------------------------------------------------------


def _notice_view(n: Notice) -> NoticeView:
    return NoticeView(n.id, n.level, n.title_fr, n.title_en, n.text_fr or "", n.text_en,
                      n.starts_at, n.ends_at, n.created_at, n.created_by,
                      stored(n.text_fr_html, n.text_fr), stored(n.text_en_html, n.text_en))


def active_notices(session: Session, at: float) -> list[NoticeView]:
    """Notices shown at ``at``, warnings first, newest first."""
    return [_notice_view(n) for n in notices.active_notices(session, at)]


def notice(session: Session, notice_id: int) -> NoticeView | None:
    """One notice by id (ended ones too), or None."""
    row = session.get(Notice, notice_id)
    return _notice_view(row) if row is not None else None


def all_notices(session: Session, *, limit: int = 200) -> list[NoticeView]:
    """Every notice, newest first (the admin list)."""
    return [_notice_view(n) for n in notices.all_notices(session, limit=limit)]


# Outbox ---------------------------------------------------------------------------------


def outbox_entries(session: Session, *, status: str | None = None,
                   limit: int = 100, plugin: str | None = None) -> list[OutboxView]:
    """Deliveries, newest first; ``status`` filters (``pending``, ``delivered``, ``dead``),
    and so does ``plugin`` (one webhook endpoint's: ``webhook-<id>``)."""
    stmt = select(OutboxEntry)
    if status is not None:
        stmt = stmt.where(OutboxEntry.status == status)
    if plugin is not None:
        stmt = stmt.where(OutboxEntry.plugin == plugin)
    return [OutboxView(e.id, e.hook, e.plugin, e.status, e.attempts, e.idempotency_key,
                       e.incident_id, e.created_at, e.next_attempt_at, e.last_attempt_at,
                       e.delivered_at, e.last_error)
            for e in session.scalars(stmt.order_by(OutboxEntry.id.desc()).limit(limit))]


def outbox_backlog(session: Session) -> outbox.Backlog:
    """Pending and dead counts and the oldest pending time."""
    return outbox.backlog(session)


def incident_links(session: Session, incident_id: int, *,
                   public_only: bool = True) -> list[LinkView]:
    """The links of one incident (guides first)."""
    stmt = select(IncidentLink).where(IncidentLink.incident_id == incident_id)
    if public_only:
        stmt = stmt.where(IncidentLink.public.is_(True))
    rows = sorted(session.scalars(stmt), key=lambda l: (l.external_id is not None, l.id))
    return [LinkView(l.kind, l.title, l.url, l.public, l.plugin, l.external_id) for l in rows]


__all__ = [
    "IMPACTS", "NOTICE_LEVELS", "OUTBOX_STATUSES", "PHASES",
    "IncidentDetail", "IncidentSummary", "LinkView", "NoticeView", "OutboxView",
    "PlannedMaintenance", "UpdateView", "WindowView",
    "active_maintenance", "active_notices", "all_notices", "calendar_windows",
    "daily_incident_counts",
    "incident_detail", "incident_history", "incident_links", "maintenance_windows", "notice",
    "open_incidents", "outbox_backlog", "outbox_entries", "services_in_maintenance",
    "upcoming_maintenance",
]
