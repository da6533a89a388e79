"""What the volunteers' note says about the service when a request is sent: its status,
the open incident that touches it, the reasons its failing checks give.

Read through the core's read model (:mod:`monitor.reads`, :mod:`monitor.incidents.queries`)
at the moment of sending, or from the live state book when Vigie runs (``status_of``),
so the note tells what the member saw, not what is true when a volunteer reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from monitor.config import Config, Service
from monitor.incidents import queries
from monitor.probe import Status
from monitor.reads import status as reads

#: failing checks' reasons kept in a request, at most
MAX_REASONS = 10


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """A service as a request records it."""

    status: str = ""
    incident_reference: str | None = None
    failing_reasons: tuple[str, ...] = ()


def service_of(config: Config, service_id: str | None) -> Service | None:
    """The configured service ``service_id`` (None for a category or an unknown id)."""
    if service_id is None:
        return None
    return next((s for s in config.services if s.id == service_id), None)


def service_context(session: Session, config: Config, service: Service | None, *,
                    status_of: Callable[[str], str | None] | None = None) -> ServiceContext:
    """The status, open incident and failing checks' reasons of ``service`` now (in the
    site's language); an empty context for a category ("my account", "other")."""
    if service is None:
        return ServiceContext()
    status = status_of(service.id) if status_of is not None else None
    if status is None:
        state = reads.service_states(session).get(service.id)
        status = state.status.label if state is not None else "unknown"
    incidents = queries.open_incidents(session, public_only=True, service_id=service.id)
    language = config.file.site.language
    reasons: list[str] = []
    names = {c.key: c.name.text(language) for c in service.checks}
    for key, check in sorted(reads.check_states(session, names).items()):
        if check.status is Status.UP or check.reason is None:
            continue
        reasons.append(f"{names[key]}: {check.reason.text(language)}")
    return ServiceContext(status=status,
                          incident_reference=incidents[0].reference if incidents else None,
                          failing_reasons=tuple(reasons[:MAX_REASONS]))
