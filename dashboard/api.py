"""The JSON API: ``/api/v1/summary.json`` in the shape Statuspage clients know, and
``/api/v1/services``, ``/api/v1/incidents`` (plus one service or incident by id),
``/api/v1/maintenance``.

Statuspage's vocabulary is used where one exists (component statuses
``operational``/``degraded_performance``/``partial_outage``/``major_outage``/
``under_maintenance``, incident phases, maintenance ``scheduled``/``in_progress``/
``completed``); Vigie's own words come beside it in ``vigie_*`` fields (``unknown`` has no
Statuspage equivalent). Names are given in the request's language (``?lang=en``).
Times are ISO 8601 in UTC.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, current_app, url_for

from dashboard import MAX_DATABASE_ID
from dashboard.bars import day_value
from dashboard.banner import overall_words
from dashboard.i18n import STATUS_LABELS, fmt_percent, iso, select_language
from dashboard.pages import UPDATED_ISO, cached_response, snapshot
from dashboard.rulewords import rule_words
from dashboard.status import find_incident
from dashboard.views import (
    DayView,
    DetectedMaintenanceView,
    IncidentView,
    MaintenanceView,
    PageData,
    ServiceView,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: the largest id (the app's ``int`` converter stops there: a larger one is a 404)
MAX_ID = MAX_DATABASE_ID
#: the URL converter of ids, ``<{ID}:incident_id>`` (bounded app-wide, see create_app)
ID = "int"

#: Vigie service status → Statuspage component status
COMPONENT_STATUS = {
    "operational": "operational",
    "degraded": "degraded_performance",
    "partial_outage": "partial_outage",
    "major_outage": "major_outage",
    "maintenance": "under_maintenance",
    # no Statuspage word for "we cannot tell": clients show it as a minor problem
    "unknown": "degraded_performance",
}
#: banner → Statuspage page indicator
INDICATOR = {"operational": "none", "unknown": "minor", "maintenance": "maintenance",
             "disturbed": "minor", "major": "major"}
#: incident impact → Statuspage incident impact
IMPACT = {"degraded": "minor", "partial_outage": "major", "major_outage": "critical"}


def _json(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _url(endpoint: str, **values: Any) -> str:
    base = current_app.config.get("PUBLIC_URL")
    path = url_for(endpoint, **values)
    return f"{base}{path}" if base else path


def _page(data: PageData, lang: str) -> dict[str, Any]:
    return {
        "id": "vigie",
        "name": current_app.config["SITE_TITLE"].text(lang),
        "url": current_app.config.get("PUBLIC_URL") or url_for("status.overview"),
        "time_zone": current_app.config["TIMEZONE"],
        "language": lang,
        # the time of the newest result, written in at serving time
        "updated_at": UPDATED_ISO,
    }


def day_doc(day: DayView) -> dict[str, Any]:
    """One day of a service's bar: its availability (monitor.availability) and colour."""
    return {"date": day.day.isoformat(),
            "uptime": round(day.uptime, 6) if day.uptime is not None else None,
            "worst_status": day.worst.label if day.worst else None,
            "incidents": day.incidents}


def _maintenance_kind(service: ServiceView) -> str | None:
    if service.in_maintenance:
        return "planned"
    return "detected" if service.maintenance_detected else None


def component(service: ServiceView, lang: str, position: int) -> dict[str, Any]:
    """A service as a Statuspage component (plus Vigie's fields)."""
    today = service.days[-1] if service.days else None
    return {
        "id": service.id,
        "name": service.name.text(lang),
        "status": COMPONENT_STATUS[service.status.label],
        "description": service.description.text(lang) if service.description else None,
        "group_id": service.group,
        "group": False,
        "position": position,
        "updated_at": iso(service.since) or None,
        "vigie_status": service.status.label,
        "vigie_status_text": str(STATUS_LABELS[service.status]),
        "uptime_90d": round(service.uptime, 6) if service.uptime is not None else None,
        # the words the page shows (the page updates itself from these)
        "vigie_uptime_text": fmt_percent(service.uptime, lang),
        "vigie_today": ({**day_doc(today), "text": day_value(today, lang)}
                        if today is not None else None),
        "vigie_maintenance": _maintenance_kind(service),
        "url": _url("status.service", service_id=service.id),
    }


def incident_doc(incident: IncidentView, lang: str) -> dict[str, Any]:
    """An incident in Statuspage's shape (updates newest first), with public links."""
    return {
        "id": incident.id,
        "reference": incident.reference,
        "name": incident.title.text(lang),
        "status": incident.phase,
        "impact": IMPACT.get(incident.worst_impact, "none"),
        "vigie_impact": incident.impact,
        "created_at": iso(incident.opened_at),
        "updated_at": iso(incident.updated_at),
        "resolved_at": iso(incident.resolved_at) or None,
        "shortlink": _url("status.incident", incident_id=incident.id),
        "components": list(incident.service_ids),
        "incident_updates": [
            {"id": u.id, "status": u.phase, "body": u.message.text(lang),
             "created_at": iso(u.at), "kind": u.kind}
            for u in reversed(incident.updates)],
        "links": [{"kind": link.kind, "title": link.title, "url": link.url}
                  for link in incident.links],
        "postmortem_body": incident.postmortem.text(lang) if incident.postmortem else None,
    }


def maintenance_doc(window: MaintenanceView, lang: str, now: float) -> dict[str, Any]:
    """A maintenance occurrence as a Statuspage scheduled maintenance."""
    return {
        "id": window.id,
        "name": window.title.text(lang),
        "status": window.state(now),
        "scheduled_for": iso(window.starts_at),
        "scheduled_until": iso(window.ends_at),
        "components": list(window.service_ids) if window.service_ids is not None else "all",
        "incident_updates": ([{"body": window.message.text(lang), "status": window.state(now)}]
                             if window.message else []),
        "recurring": window.recurring,
        "vigie_rule": (rule_words(window.rule, lang, window.timezone)
                       if window.rule is not None else None),
    }


def detected_doc(detected: DetectedMaintenanceView, data: PageData, lang: str
                 ) -> dict[str, Any]:
    """Maintenance a service announces itself: since when it was seen, no end."""
    service = data.services.get(detected.service_id)
    return {
        "name": service.name.text(lang) if service else detected.service_id,
        "status": "in_progress",
        "detected": True,
        "detected_at": iso(detected.since) or None,
        "components": [detected.service_id],
        "checks": [name.text(lang) for name in detected.checks],
    }


def _components(data: PageData, lang: str) -> list[dict[str, Any]]:
    out, position = [], 0
    for group in data.groups:
        if group.id is not None:
            position += 1
            out.append({"id": group.id, "name": group.name.text(lang),
                        "status": COMPONENT_STATUS[group.worst.label], "group": True,
                        "group_id": None, "position": position,
                        "components": [s.id for s in group.services]})
        for service in group.services:
            position += 1
            out.append(component(service, lang, position))
    return out


@bp.route("/summary.json")
def summary():
    """Page, overall status, components, open incidents, active and upcoming maintenance."""
    def render():
        data, lang = snapshot().data, select_language()
        return _json({
            "page": _page(data, lang),
            "status": {"indicator": INDICATOR[data.banner],
                       "description": overall_words(list(data.services.values())),
                       "vigie_banner": data.banner},
            "components": _components(data, lang),
            "incidents": [incident_doc(i, lang) for i in data.open_incidents],
            "scheduled_maintenances": [
                maintenance_doc(m, lang, data.built_at)
                for m in (*data.active_maintenance, *data.upcoming_maintenance)],
            "vigie_detected": [detected_doc(d, data, lang)
                                            for d in data.detected_maintenance],
        })
    return cached_response(("api-summary",), render, "application/json")


@bp.route("/maintenance")
def maintenance():
    """Maintenance in progress (windows, and services announcing it themselves), planned
    and past; a recurring window once, with its rule in words and its next occurrence."""
    def render():
        data, lang = snapshot().data, select_language()
        now = data.built_at
        return _json({
            "page": _page(data, lang),
            "in_progress": [maintenance_doc(m, lang, now) for m in data.active_maintenance],
            "detected": [detected_doc(d, data, lang) for d in data.detected_maintenance],
            "planned": [maintenance_doc(m, lang, now) for m in data.upcoming_maintenance],
            "past": [maintenance_doc(m, lang, now) for m in data.past_maintenance],
        })
    return cached_response(("api-maintenance",), render, "application/json")


@bp.route("/services")
def services():
    """Every service with its status, uptime and checks."""
    def render():
        data, lang = snapshot().data, select_language()
        out = []
        for position, service in enumerate(data.services.values(), start=1):
            doc = component(service, lang, position)
            doc["checks"] = [_check(c, lang) for c in service.checks]
            out.append(doc)
        return _json({"page": _page(data, lang), "services": out})
    return cached_response(("api-services",), render, "application/json")


def _check(check, lang: str) -> dict[str, Any]:
    return {"id": check.key, "name": check.name.text(lang), "kind": check.kind,
            "status": check.status.label if check.status is not None else None,
            "since": iso(check.since) or None,
            "reason": check.reason.text(lang) if check.reason else None}


@bp.route("/services/<service_id>")
def service(service_id: str):
    """One service with its checks and its 90 days."""
    data = snapshot().data
    view = data.services.get(service_id)
    if view is None:
        abort(404)

    def render():
        lang = select_language()
        doc = component(view, lang, list(data.services).index(service_id) + 1)
        doc["checks"] = [_check(c, lang) for c in view.checks]
        doc["days"] = [day_doc(d) for d in view.days]
        return _json(doc)
    return cached_response(("api-service", service_id), render, "application/json")


@bp.route("/incidents")
def incidents():
    """Open incidents and the recent resolved ones, newest first."""
    def render():
        data, lang = snapshot().data, select_language()
        return _json({"page": _page(data, lang),
                      "incidents": [incident_doc(i, lang)
                                    for i in (*data.open_incidents, *data.recent_incidents)]})
    return cached_response(("api-incidents",), render, "application/json")


@bp.route(f"/incidents/<{ID}:incident_id>")
def incident(incident_id: int):
    """One incident with its full public timeline."""
    found = find_incident(incident_id)
    return cached_response(("api-incident", incident_id),
                           lambda: _json(incident_doc(found, select_language())),
                           "application/json")


@bp.route("/openapi.json")
def openapi():
    """This description: the status page's API and the volunteers' one, in OpenAPI 3.1."""
    from dashboard.openapi import response  # it reads this module's tables

    return response()
