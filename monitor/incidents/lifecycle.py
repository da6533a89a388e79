"""The steps of an incident's life, shared by the engine (automatic) and the volunteers'
operations (by hand): open, add a timeline entry, change impact, resolve, reopen.

Each step changes rows and writes the matching outbox rows in the caller's transaction; none
validates input (that is :mod:`monitor.incidents.service`'s job) or commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import terms
from monitor.incidents.context import IncidentContext
from monitor.incidents.emit import emit_incident
from monitor.incidents.models import Incident, IncidentService, IncidentUpdate
from monitor.notifications import CheckSnapshot
from monitor.state import ServiceStatus
from monitor.words import Bilingual, _

#: the impacts a failing service gives its incident (their words: monitor.terms.IMPACTS)
OUTAGE_IMPACTS = frozenset(s.label for s in ServiceStatus if s.is_outage)


def worse(a: str, b: str) -> str:
    """The more severe of two impacts (labels of service statuses, ranked by the one order
    of :mod:`monitor.status`), ``a`` when they are as bad."""
    return a if ServiceStatus.from_label(a) >= ServiceStatus.from_label(b) else b


def auto_title(name: Bilingual, impact: str) -> Bilingual:
    """``Fichiers : panne majeure`` / ``Files: major outage``, at most 200 characters
    (the title's column)."""
    title = _("{service}: {impact}", service=name,
              impact=terms.IMPACTS.get(impact, _("incident")))
    return Bilingual(title.fr[:200], title.en[:200])


def reference_for(incident_id: int, opened_at: float, tz: str) -> str:
    """``INC-2026-0042``: the year the incident opened (site time) and its id."""
    year = datetime.fromtimestamp(opened_at, ZoneInfo(tz)).year
    return f"INC-{year}-{incident_id:04d}"


def open_services_incident(session: Session, service_id: str) -> Incident | None:
    """The open incident concerning ``service_id`` (the most recent, automatic ones
    first), or None."""
    return session.scalars(
        select(Incident).join(IncidentService)
        .where(IncidentService.service_id == service_id, Incident.resolved_at.is_(None))
        .order_by(Incident.automatic.desc(), Incident.opened_at.desc()).limit(1)).first()


def add_update(session: Session, incident: Incident, *, at: float, kind: str,
               message_fr: str = "", message_en: str | None = None, impact: str | None = None,
               automatic: bool = True, public: bool = True,
               author: str | None = None) -> IncidentUpdate:
    """Append a timeline entry (no event is written)."""
    update = IncidentUpdate(incident=incident, at=at, kind=kind, phase=incident.phase,
                            impact=impact, message_fr=message_fr, message_en=message_en,
                            automatic=automatic, public=public, author=author)
    session.add(update)
    incident.updated_at = max(incident.updated_at or at, at)
    return update


def open_incident(session: Session, ctx: IncidentContext, *, service_ids: Sequence[str],
                  title_fr: str, title_en: str | None, impact: str, at: float,
                  automatic: bool, message_fr: str, message_en: str | None = None,
                  phase: str = "investigating", author: str | None = None,
                  checks: Sequence[CheckSnapshot] = (),
                  statuses: dict[str, str] | None = None) -> Incident:
    """Create an incident, its first timeline entry and its ``opened`` events."""
    incident = Incident(title_fr=title_fr, title_en=title_en, impact=impact,
                        worst_impact=impact, impact_manual=not automatic, phase=phase,
                        automatic=automatic, opened_at=at, updated_at=at, event_seq=0,
                        created_by=author)
    incident.services = [IncidentService(service_id=s) for s in dict.fromkeys(service_ids)]
    session.add(incident)
    session.flush()
    incident.reference = reference_for(incident.id, at, ctx.timezone)
    add_update(session, incident, at=at, kind="opened", message_fr=message_fr,
               message_en=message_en, impact=impact, automatic=automatic, author=author)
    emit_incident(session, ctx, incident, "opened", at=at, message_fr=message_fr,
                  message_en=message_en or "", checks=checks, statuses=statuses,
                  ask_links=True)
    return incident


def set_impact(incident: Incident, impact: str) -> bool:
    """Change the impact (and the worst impact); return True when it changed."""
    if impact == incident.impact:
        return False
    incident.impact = impact
    incident.worst_impact = worse(incident.worst_impact or impact, impact)
    return True


def resolve(session: Session, ctx: IncidentContext, incident: Incident, *, at: float,
            message_fr: str, message_en: str | None = None, automatic: bool = True,
            author: str | None = None, statuses: dict[str, str] | None = None) -> None:
    """Resolve the incident: phase ``resolved``, a timeline entry, ``resolved`` events."""
    incident.phase = "resolved"
    incident.resolved_at = at
    incident.recovered_at = None
    add_update(session, incident, at=at, kind="resolved", message_fr=message_fr,
               message_en=message_en, automatic=automatic, author=author)
    emit_incident(session, ctx, incident, "resolved", at=at, message_fr=message_fr,
                  message_en=message_en or "", statuses=statuses)


def reopen(session: Session, ctx: IncidentContext, incident: Incident, *, at: float,
           impact: str, message_fr: str, message_en: str,
           checks: Sequence[CheckSnapshot] = (), statuses: dict[str, str] | None = None) -> None:
    """Reopen a recently resolved incident (the service failed again within the
    cool-down): back to ``investigating``, an ``updated`` event."""
    incident.resolved_at = None
    incident.recovered_at = None
    incident.phase = "investigating"
    if not incident.impact_manual:
        set_impact(incident, impact)
    add_update(session, incident, at=at, kind="reopened", message_fr=message_fr,
               message_en=message_en, impact=incident.impact)
    emit_incident(session, ctx, incident, "updated", at=at, message_fr=message_fr,
                  message_en=message_en, checks=checks, statuses=statuses)


def impact_of(status: ServiceStatus) -> str | None:
    """The incident impact for a service status, None when it is not an outage."""
    return status.label if status.is_outage else None
