"""The JSON body of each webhook: a documented, versioned schema (docs/webhooks.md).

Every body is ``{"type", "timestamp", "version", "data"}`` as Standard Webhooks
recommends: ``type`` says what happened (:data:`EVENT_TYPES`, or ``webhook.test`` for a
test ping), ``timestamp`` when (ISO 8601, UTC), ``version`` the schema's version
(:data:`SCHEMA_VERSION`, raised only for a change that breaks a receiver; new keys may be
added without it), ``data`` the incident or the maintenance window.

Only what the public status page shows goes out: titles, public messages, impact and
phase, the services (names, group, status), public links (guides, forum threads). Never a
volunteers' note (a private update writes no event), a private link (a helpdesk ticket), a
check's technical reason, or anything of the members' requests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from monitor.notifications import IncidentEvent, MaintenanceEvent, ServiceSnapshot

#: the schema's version, in every body
SCHEMA_VERSION = 1
#: the types an endpoint may subscribe to, in the order the forms list them
EVENT_TYPES = ("incident.opened", "incident.updated", "incident.resolved",
               "maintenance.announced", "maintenance.started", "maintenance.ended",
               "maintenance.cancelled")
#: the type of a test ping (sent whatever the endpoint's filter)
TEST_TYPE = "webhook.test"
#: incident event kinds sent (a reminder is the volunteers' nudge, not news)
_INCIDENT_KINDS = {"opened": "incident.opened", "updated": "incident.updated",
                   "resolved": "incident.resolved"}
_MAINTENANCE_KINDS = {"announced": "maintenance.announced", "started": "maintenance.started",
                      "ended": "maintenance.ended", "cancelled": "maintenance.cancelled"}


def event_type(event: object) -> str | None:
    """The webhook type of an outbox event, None for one webhooks do not carry."""
    if isinstance(event, IncidentEvent):
        return _INCIDENT_KINDS.get(event.kind)
    if isinstance(event, MaintenanceEvent):
        return _MAINTENANCE_KINDS.get(event.kind)
    return None


def iso(at: float | None) -> str | None:
    """A Unix time as ``2026-12-20T09:15:00Z`` (None stays None)."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def _texts(fr: str, en: str) -> dict[str, str]:
    return {"fr": fr, "en": en or fr}


def _service(s: ServiceSnapshot) -> dict[str, Any]:
    return {"id": s.id, "name": _texts(s.name_fr, s.name_en), "group": s.group,
            "status": s.status}


def _absolute(url: str, site: str | None) -> str:
    """A link on this site (``/guides/…``) made absolute when the site's address is known."""
    return f"{site}{url}" if url.startswith("/") and site else url


def incident_data(event: IncidentEvent) -> dict[str, Any]:
    """``data`` of an incident's body."""
    site = event.status_page_url
    return {"incident": {
        "id": event.incident_id, "reference": event.reference,
        "title": _texts(event.title_fr, event.title_en), "impact": event.impact,
        "phase": event.phase, "automatic": event.automatic,
        "opened_at": iso(event.opened_at), "resolved_at": iso(event.resolved_at),
        "message": _texts(event.message_fr, event.message_en) if event.message_fr else None,
        "url": event.incident_url,
        "services": [_service(s) for s in event.services],
        "links": [{"kind": link.kind, "title": link.title, "url": _absolute(link.url, site)}
                  for link in event.links if link.public],
    }, "status_page_url": site}


def maintenance_data(event: MaintenanceEvent) -> dict[str, Any]:
    """``data`` of a maintenance window's body."""
    return {"maintenance": {
        "id": event.window_id, "title": _texts(event.title_fr, event.title_en),
        "message": _texts(event.message_fr, event.message_en) if event.message_fr else None,
        "starts_at": iso(event.starts_at), "ends_at": iso(event.ends_at),
        "cancelled_at": iso(event.cancelled_at),
        "services": [_service(s) for s in event.services],
    }, "status_page_url": event.status_page_url}


def body(type_: str, at: float, data: dict[str, Any]) -> bytes:
    """The bytes sent (and signed): compact JSON, UTF-8."""
    document = {"type": type_, "timestamp": iso(at), "version": SCHEMA_VERSION, "data": data}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def body_for(event: object) -> bytes | None:
    """The body of an outbox event, None when webhooks do not carry it."""
    type_ = event_type(event)
    if type_ is None:
        return None
    if isinstance(event, IncidentEvent):
        return body(type_, event.at, incident_data(event))
    assert isinstance(event, MaintenanceEvent)
    # an announcement's time is the start it announces: stable across retries
    at = event.ends_at if event.kind == "ended" else event.starts_at
    if event.kind == "cancelled" and event.cancelled_at is not None:
        at = event.cancelled_at
    return body(type_, at, maintenance_data(event))


def test_body(endpoint_id: int, at: float) -> bytes:
    """The body of a test ping."""
    return body(TEST_TYPE, at, {"endpoint": endpoint_id,
                                "message": "Test ping from Vigie: the signature should "
                                           "verify with this endpoint's secret."})
