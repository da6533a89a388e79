"""Turning incident, maintenance and system changes into outbox rows.

Every function here runs inside the caller's transaction: the change and its outbox rows
commit together or not at all. One row is written per plugin implementing the hook (as
:attr:`IncidentContext.subscribers` lists them now, webhook endpoints added while running
included) and wanting the event (:meth:`IncidentContext.wants`); each carries its own
idempotency key (and, for incidents, the links that plugin attached).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.incidents.context import IncidentContext
from monitor.incidents.models import Incident, IncidentLink, MaintenanceWindow
from monitor.incidents.outbox import enqueue
from monitor.notifications import (
    CheckSnapshot,
    IncidentEvent,
    Link,
    MaintenanceEvent,
    ServiceSnapshot,
    SystemAlert,
    to_json,
)
from monitor.safetext import clean_line
from monitor.state import ServiceStatus
from monitor.store.models import ServiceRow, ServiceStatusChange
from monitor.weblinks import web_address

log = logging.getLogger(__name__)

#: incident event kind → durable hook
INCIDENT_HOOKS = {"opened": "vigie_incident_opened", "updated": "vigie_incident_updated",
                  "reminder": "vigie_incident_updated", "resolved": "vigie_incident_resolved"}

_STATUS_LABEL = {s.code: s.label for s in ServiceStatus}


def service_snapshots(session: Session, ctx: IncidentContext, service_ids: Iterable[str],
                      statuses: dict[str, str] | None = None) -> tuple[ServiceSnapshot, ...]:
    """Snapshots of the services ``service_ids`` (names from the catalog, status from
    ``statuses``, the live state book, or the latest stored change)."""
    ids = list(dict.fromkeys(service_ids))
    rows = {r.id: r for r in session.scalars(select(ServiceRow).where(ServiceRow.id.in_(ids)))}
    out = []
    for sid in ids:
        row = rows.get(sid)
        status = (statuses or {}).get(sid) or (ctx.status_of(sid) if ctx.status_of else None)
        if status is None:
            status = _stored_status(session, sid)
        name_fr = row.name_fr if row else sid
        out.append(ServiceSnapshot(sid, name_fr, (row.name_en if row else None) or name_fr,
                                   row.group_id if row else None, status))
    return tuple(out)


def _stored_status(session: Session, service_id: str) -> str:
    code = session.scalar(select(ServiceStatusChange.current)
                          .where(ServiceStatusChange.service_id == service_id)
                          .order_by(ServiceStatusChange.at.desc()).limit(1))
    return _STATUS_LABEL.get(code, "unknown") if code is not None else "unknown"


def link_of(row: IncidentLink) -> Link:
    """A stored link as the :class:`Link` plugins receive."""
    return Link(kind=row.kind, title=row.title, url=row.url, public=row.public,
                external_id=row.external_id, plugin=row.plugin)


def incident_links(session: Session, incident_id: int) -> list[Link]:
    """Every link of an incident, guides (links without an external id) first."""
    rows = session.scalars(select(IncidentLink).where(IncidentLink.incident_id == incident_id)
                           .order_by(IncidentLink.id)).all()
    links = [link_of(r) for r in rows]
    return sorted(links, key=lambda l: l.external_id is not None)


def attach_links(session: Session, incident_id: int, links: Iterable[Link], at: float) -> int:
    """Store a plugin's answer on the incident; return how many links were not there
    before.

    An answer is the plugin's whole current set for each kind it holds: the plugin's
    earlier links of a kind present in ``links`` are replaced by the new ones (in their
    order, so guides stay ranked), while its links of other kinds and other plugins' links
    are kept. So an update's guides replace the previous guides instead of piling up, and
    a repeated answer (a retried delivery) changes nothing.

    A link is a plugin's answer, often built from what a forum or a guide site said: its
    texts are made safe here (:mod:`monitor.safetext`), and a URL that is not a web
    address (``https://…``, ``http://…`` or a path on this site) is left out, since
    pages put it in an ``href``.
    """
    answer: dict[tuple[str, str], list[IncidentLink]] = {}  # (plugin, kind) → its links
    order: list[IncidentLink] = []  # every link, in the answer's order
    seen: set[tuple[str, str]] = set()
    for link in links:
        if not isinstance(link, Link) or not link.url:
            continue
        plugin = clean_line(link.plugin, 100)
        url = web_address(link.url)
        if url is None:
            log.warning("incident %s: a link from plugin %r was left out: not a web address",
                        incident_id, plugin)
            continue
        if (plugin, url) in seen:
            continue
        seen.add((plugin, url))
        row = IncidentLink(incident_id=incident_id, plugin=plugin,
                           kind=clean_line(link.kind, 50) or "link",
                           title=clean_line(link.title, 300) or clean_line(url, 300), url=url,
                           public=bool(link.public),
                           external_id=clean_line(link.external_id, 200) or None, created_at=at)
        answer.setdefault((plugin, row.kind), []).append(row)
        order.append(row)
    if not answer:
        return 0
    stored = session.scalars(select(IncidentLink).where(IncidentLink.incident_id == incident_id)
                             .order_by(IncidentLink.id)).all()
    added, new_rows = 0, set[int]()
    for (plugin, kind), fresh in answer.items():
        earlier = [r for r in stored if r.plugin == plugin and r.kind == kind]
        # (incident, plugin, url) is unique: a URL the plugin holds under another kind stays
        taken = {r.url for r in stored if r.plugin == plugin and r.kind != kind}
        fresh = [r for r in fresh if r.url not in taken]
        if [r.url for r in earlier] == [r.url for r in fresh]:
            continue
        added += len({r.url for r in fresh} - {r.url for r in earlier})
        new_rows.update(id(r) for r in fresh)
        for row in earlier:
            session.delete(row)
    if new_rows:
        session.flush()  # the deletions first: a kept URL is inserted again below
        session.add_all(r for r in order if id(r) in new_rows)
        session.flush()
    return added


def emit_incident(session: Session, ctx: IncidentContext, incident: Incident, kind: str, *,
                  at: float, message_fr: str = "", message_en: str = "",
                  checks: Sequence[CheckSnapshot] = (), statuses: dict[str, str] | None = None,
                  ask_links: bool = False) -> IncidentEvent:
    """Write the outbox rows of one incident event (``opened``, ``updated``, ``reminder``,
    ``resolved``); return the event as built (with the key of no plugin).

    :param ask_links: call ``vigie_incident_links`` first and store what it returns, so the
        event already carries the guides.
    """
    session.flush()  # the incident needs its id
    incident.event_seq = (incident.event_seq or 0) + 1
    incident.last_notified_at = at
    base = IncidentEvent(
        kind=kind, idempotency_key=f"{incident.id}:{incident.event_seq}",
        incident_id=incident.id, reference=incident.reference or str(incident.id),
        title_fr=incident.title_fr, title_en=incident.title_en or incident.title_fr,
        impact=incident.impact, phase=incident.phase, automatic=incident.automatic,
        opened_at=incident.opened_at, at=at, resolved_at=incident.resolved_at,
        message_fr=message_fr, message_en=message_en or message_fr,
        services=service_snapshots(session, ctx, incident.service_ids, statuses),
        checks=tuple(checks), incident_url=ctx.incident_url(incident.id),
        status_page_url=ctx.public_url)
    if ask_links and ctx.link_providers:
        attach_links(session, incident.id, ctx.provide_links(base), at)
    links = incident_links(session, incident.id)
    base = dataclasses.replace(base, links=tuple(links))
    hook = INCIDENT_HOOKS[kind]
    for plugin in ctx.subscribers.get(hook, ()):
        if not ctx.wants(plugin, base):
            continue
        event = dataclasses.replace(
            base, idempotency_key=f"{incident.id}:{incident.event_seq}:{plugin}",
            own_links=tuple(l for l in links if l.plugin == plugin))
        enqueue(session, hook=hook, plugin=plugin, key=event.idempotency_key,
                stream=f"incident:{incident.id}", payload=to_json(event),
                incident_id=incident.id, at=at)
    return base


def emit_maintenance(session: Session, ctx: IncidentContext, window: MaintenanceWindow,
                     kind: str, starts_at: float, ends_at: float, *, at: float,
                     service_ids: Sequence[str]) -> int:
    """Write the outbox rows of a maintenance event (``announced``, ``reminder``,
    ``started``, ``ended``, ``cancelled``) for one occurrence; return how many rows were
    new (a repeated call for the same occurrence and kind writes nothing)."""
    hook = "vigie_maintenance_changed"
    base = MaintenanceEvent(
        kind=kind, idempotency_key="", window_id=window.id, title_fr=window.title_fr,
        title_en=window.title_en or window.title_fr, starts_at=starts_at, ends_at=ends_at,
        services=service_snapshots(session, ctx, service_ids),
        message_fr=window.message_fr or "", message_en=window.message_en or window.message_fr or "",
        status_page_url=ctx.public_url,
        cancelled_at=window.cancelled_at if kind == "cancelled" else None)
    written = 0
    for plugin in ctx.subscribers.get(hook, ()):
        if not ctx.wants(plugin, base):
            continue
        key = maintenance_key(window.id, starts_at, kind, plugin)
        event = dataclasses.replace(base, idempotency_key=key)
        written += enqueue(session, hook=hook, plugin=plugin, key=key,
                           stream=f"maintenance:{window.id}", payload=to_json(event), at=at)
    return written


def maintenance_key(window_id: int, starts_at: float, kind: str, plugin: str) -> str:
    """Idempotency key of one maintenance event for one plugin."""
    return f"maintenance:{window_id}:{int(starts_at)}:{kind}:{plugin}"


def maintenance_key_parts(key: str) -> tuple[int, int, str, str] | None:
    """``(window id, occurrence start, kind, plugin)`` of a :func:`maintenance_key`, None
    for another key."""
    parts = key.split(":", 4)
    if len(parts) != 5 or parts[0] != "maintenance":
        return None
    try:
        return int(parts[1]), int(parts[2]), parts[3], parts[4]
    except ValueError:
        return None


def emit_system_alert(session: Session, ctx: IncidentContext, alert: SystemAlert, *,
                      at: float) -> int:
    """Write the outbox rows of a system alert; ``alert.idempotency_key`` (without the
    plugin) says what makes it unique (e.g. ``tls.expiring:web/https:2026-03-01``).
    Return how many rows were new."""
    hook = "vigie_system_alert"
    written = 0
    for plugin in ctx.subscribers.get(hook, ()):
        key = f"system:{alert.idempotency_key}:{plugin}"
        event = dataclasses.replace(alert, idempotency_key=key)
        written += enqueue(session, hook=hook, plugin=plugin, key=key,
                           stream=f"system:{alert.code}", payload=to_json(event), at=at)
    return written
