"""The description of what anyone may read: the JSON API (``/api/v1``), the feed, the
badges, ``/healthz`` and the heartbeat receiver (``/push/<token>``).

The allowed words come from the code that writes them (:mod:`dashboard.api`'s tables,
:class:`~monitor.state.ServiceStatus`, :class:`~monitor.probe.Status`, the incident
phases and impacts), so a new word cannot be sent without being described.
"""

from __future__ import annotations

from typing import Any

from dashboard.api import COMPONENT_STATUS, IMPACT, INDICATOR
from dashboard.i18n import LANGUAGES
from dashboard.openapi.schema import (
    DATE,
    DATE_TIME,
    Operation,
    Schema,
    array,
    choice,
    header,
    json_body,
    nullable,
    obj,
    ref,
)
from monitor.incidents.queries import IMPACTS, PHASES
from monitor.probe import Status
from monitor.state import ServiceStatus

#: a maintenance occurrence's state (``MaintenanceView.state``, Statuspage's words)
MAINTENANCE_STATES = ("scheduled", "in_progress", "completed")
#: why a service is in maintenance (``vigie_maintenance``, dashboard.api)
MAINTENANCE_KINDS = ("planned", "detected", None)
#: what a job may report to ``/push/<token>`` (plugins/heartbeat.py)
BEAT_STATUSES = ("up", "down", "fail")

TEXT: Schema = {"type": "string"}
RATIO: Schema = {"type": "number", "minimum": 0, "maximum": 1}


def _unique(words) -> list[str]:
    return list(dict.fromkeys(words))


def components() -> dict[str, Schema]:
    """The component schemas of the public documents."""
    component_status = choice(_unique(COMPONENT_STATUS.values()))
    day = {"date": DATE,
           "uptime": nullable(RATIO),
           "worst_status": choice([*(s.label for s in ServiceStatus), None]),
           "incidents": {"type": "integer", "minimum": 0}}
    service = {
        "id": TEXT, "name": TEXT, "status": component_status,
        "description": nullable(TEXT), "group_id": nullable(TEXT),
        "group": {"const": False}, "position": {"type": "integer", "minimum": 1},
        "updated_at": nullable(DATE_TIME),
        "vigie_status": choice(s.label for s in ServiceStatus),
        "vigie_status_text": TEXT, "uptime_90d": nullable(RATIO),
        "vigie_uptime_text": TEXT, "vigie_today": nullable(ref("Today")),
        "vigie_maintenance": choice(MAINTENANCE_KINDS),
        "url": TEXT,
    }
    checks = {"checks": array(ref("Check"))}
    return {
        "Page": obj({"id": TEXT, "name": TEXT, "url": TEXT, "time_zone": TEXT,
                     "language": choice(LANGUAGES), "updated_at": DATE_TIME},
                    description="The status page; `updated_at`: the newest result."),
        "PageStatus": obj({"indicator": choice(_unique(INDICATOR.values())),
                           "description": TEXT, "vigie_banner": choice(INDICATOR)}),
        "GroupComponent": obj({"id": TEXT, "name": TEXT, "status": component_status,
                               "group": {"const": True}, "group_id": {"type": "null"},
                               "position": {"type": "integer", "minimum": 1},
                               "components": array(TEXT)},
                              description="A group of services (Statuspage's component "
                                          "group)."),
        "Component": obj(service, description="A service as a Statuspage component."),
        "Check": obj({"id": TEXT, "name": TEXT, "kind": TEXT,
                      "status": choice([*(s.label for s in Status), None]),
                      "since": nullable(DATE_TIME), "reason": nullable(TEXT)},
                     description="A check: `reason` says what does not work in members' "
                                 "words (no address, port, code or counter); volunteers "
                                 "read the probe's own sentence in the admin API "
                                 "(`GET /admin/api/v1/checks`, `detail`)."),
        "Service": obj({**service, **checks}),
        "Day": obj(day, description="A day of the 90-day bar: `uptime` is the availability "
                                    "of the day (degraded counts as available, a partial "
                                    "outage 70 %, maintenance not counted: null when "
                                    "nothing was counted), `worst_status` its colour."),
        "Today": obj({**day, "text": TEXT},
                     description="Today as the page shows it, computed from the status "
                                 "history up to the snapshot (`text`: the day's words)."),
        "ServiceDetail": obj({**service, **checks, "days": array(ref("Day"))}),
        "PublicIncidentUpdate": obj({"id": {"type": "integer"}, "status": choice(PHASES),
                                     "body": TEXT, "created_at": DATE_TIME, "kind": TEXT}),
        "PublicLink": obj({"kind": TEXT, "title": TEXT, "url": TEXT}),
        "PublicIncident": obj({
            "id": {"type": "integer"}, "reference": nullable(TEXT), "name": TEXT,
            "status": choice(PHASES), "impact": choice(_unique([*IMPACT.values(), "none"])),
            "vigie_impact": choice(IMPACTS), "created_at": DATE_TIME, "updated_at": DATE_TIME,
            "resolved_at": nullable(DATE_TIME), "shortlink": TEXT, "components": array(TEXT),
            "incident_updates": array(ref("PublicIncidentUpdate")),
            "links": array(ref("PublicLink")), "postmortem_body": nullable(TEXT)},
            description="An incident, its public timeline newest first, its public links."),
        "ScheduledMaintenance": obj({
            "id": {"type": "integer"}, "name": TEXT, "status": choice(MAINTENANCE_STATES),
            "scheduled_for": DATE_TIME, "scheduled_until": DATE_TIME,
            "components": {"anyOf": [array(TEXT), {"const": "all"}]},
            "incident_updates": array(obj({"body": TEXT,
                                           "status": choice(MAINTENANCE_STATES)})),
            "recurring": {"type": "boolean"},
            "vigie_rule": nullable(TEXT)},
            description="A maintenance window by one occurrence (the running one, else the "
                        "next, or the latest among past ones); a recurring window's rule in "
                        "words in `vigie_rule`."),
        "DetectedMaintenance": obj({
            "name": TEXT, "status": {"const": "in_progress"}, "detected": {"const": True},
            "detected_at": nullable(DATE_TIME), "components": array(TEXT),
            "checks": array(TEXT)},
            description="A service announcing maintenance itself (its checks report it), "
                        "with no window covering it: since when it was seen, no end."),
        "Summary": obj({
            "page": ref("Page"), "status": ref("PageStatus"),
            "components": array({"oneOf": [ref("GroupComponent"), ref("Component")]}),
            "incidents": array(ref("PublicIncident")),
            "scheduled_maintenances": array(ref("ScheduledMaintenance")),
            "vigie_detected": array(ref("DetectedMaintenance"))}),
        "MaintenanceList": obj({
            "page": ref("Page"), "in_progress": array(ref("ScheduledMaintenance")),
            "detected": array(ref("DetectedMaintenance")),
            "planned": array(ref("ScheduledMaintenance")),
            "past": array(ref("ScheduledMaintenance"))}),
        "ServiceList": obj({"page": ref("Page"), "services": array(ref("Service"))}),
        "IncidentList": obj({"page": ref("Page"), "incidents": array(ref("PublicIncident"))}),
        "PublicError": obj({"error": TEXT, "status": {"type": "integer"}}),
        "Health": obj({"ok": {"type": "boolean"}, "version": TEXT,
                       "checks": {"type": "integer", "minimum": 0},
                       "database_up": {"type": "boolean"},
                       "results_buffered": {"type": "integer", "minimum": 0},
                       "last_cycle_at": nullable({"type": "number"})},
                      optional=("version", "checks", "database_up", "results_buffered",
                                "last_cycle_at"),
                      description="`vigie run` answers every key; the dashboard served "
                                  "alone only `ok`."),
        "Beat": obj({"ok": {"const": True}, "status": choice(BEAT_STATUSES)}),
        "BeatError": obj({"error": TEXT}),
        "OpenAPIDocument": {"type": "object", "required": ["openapi", "info", "paths"],
                            "properties": {"openapi": {"type": "string",
                                                       "pattern": r"^3\.1\.\d+$"}}},
    }


LANG: dict[str, Any] = {
    "name": "lang", "in": "query", "required": False, "schema": {"type": "string"},
    "description": "`fr` or `en`; otherwise the `lang` cookie, then `Accept-Language`, "
                   "then the site's language.",
}
_CACHED = {"ETag": header({"type": "string"}, "Changes with the data and the language."),
           "Cache-Control": header({"type": "string"}, "Revalidate before reuse.")}
NOT_MODIFIED = {"description": "Not modified since the `ETag` sent in `If-None-Match`."}


def _document(schema: Schema, description: str) -> dict[str, Any]:
    return {"200": json_body(schema, description, _CACHED), "304": NOT_MODIFIED}


def _not_found(what: str) -> dict[str, Any]:
    return {"404": json_body({"allOf": [ref("PublicError"),
                                        {"properties": {"error": {"const": "not_found"}}}]},
                             f"No such {what}.")}


def _media(media_type: str, description: str, *, gone: str | None = None) -> dict[str, Any]:
    out = {"200": {"description": description, "headers": _CACHED,
                   "content": {media_type: {"schema": TEXT}}}, "304": NOT_MODIFIED}
    if gone:
        out["404"] = {"description": gone, "content": {"text/html": {"schema": TEXT}}}
    return out


CALENDAR_LANG: dict[str, Any] = {
    "name": "lang", "in": "query", "required": False, "schema": {"type": "string"},
    "description": "`en` for English; otherwise the site's language (a subscription's "
                   "address alone says its language: no cookie, no `Accept-Language`).",
}
_BY_CONTENT = {
    "ETag": header({"type": "string"}, "A digest of the body: changes with what it holds."),
    "Last-Modified": header({"type": "string"}, "When this body was first served."),
    "Cache-Control": header({"type": "string"}, "Revalidate before reuse."),
}
_BY_CONTENT_NOT_MODIFIED = {"description": "Not modified: `If-None-Match` names the ETag, "
                                           "or `If-Modified-Since` is not older."}


def _by_content(media_type: str, description: str, *, gone: str | None = None,
                unavailable: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "200": {"description": description, "headers": _BY_CONTENT,
                "content": {media_type: {"schema": TEXT}}},
        "304": _BY_CONTENT_NOT_MODIFIED}
    if gone:
        out["404"] = {"description": gone, "content": {"text/html": {"schema": TEXT}}}
    if unavailable:
        out["503"] = {"description": "The calendar cannot be read now (never served empty); "
                                     "try again after `Retry-After` seconds.",
                      "headers": {"Retry-After": header({"type": "string"}, "Seconds.")},
                      "content": {"text/plain": {"schema": TEXT}}}
    return out


#: endpoint → its description (the path and the summary come from the Flask route)
OPERATIONS: dict[str, Operation] = {
    "api.summary": Operation("status", _document(ref("Summary"), "The summary."), [LANG]),
    "api.services": Operation("status", _document(ref("ServiceList"), "Every service."),
                              [LANG]),
    "api.service": Operation("status", {**_document(ref("ServiceDetail"), "The service."),
                                        **_not_found("service")}, [LANG]),
    "api.incidents": Operation("status", _document(ref("IncidentList"), "The incidents."),
                               [LANG]),
    "api.maintenance": Operation("status", _document(ref("MaintenanceList"),
                                                     "The maintenance."), [LANG]),
    "api.incident": Operation("status", {**_document(ref("PublicIncident"), "The incident."),
                                         **_not_found("incident (or not public)")}, [LANG]),
    "api.openapi": Operation("status", {"200": json_body(ref("OpenAPIDocument"),
                                                         "This description.", _CACHED),
                                        "304": NOT_MODIFIED}),
    "feeds.atom": Operation("documents", _media("application/atom+xml", "Incidents and "
                                                "maintenance as an Atom feed."), [LANG]),
    "feeds.service_atom": Operation("documents", _by_content(
        "application/atom+xml", "One service's incidents and maintenance as an Atom feed.",
        gone="No such service."), [LANG]),
    "feeds.maintenance_calendar": Operation("documents", _by_content(
        "text/calendar", "Every maintenance window as an iCalendar (RFC 5545) calendar.",
        unavailable=True), [CALENDAR_LANG]),
    "feeds.service_calendar": Operation("documents", _by_content(
        "text/calendar", "One service's maintenance windows as an iCalendar calendar.",
        gone="No such service.", unavailable=True), [CALENDAR_LANG]),
    "badges.overall": Operation("documents", _media("image/svg+xml", "A badge."), [LANG]),
    "badges.status": Operation("documents", _media("image/svg+xml", "A badge.",
                                                   gone="No such service."), [LANG]),
    "badges.uptime": Operation("documents", _media("image/svg+xml", "A badge.",
                                                   gone="No such service."), [LANG]),
    "healthz": Operation("health", {
        "200": json_body(ref("Health"), "Healthy."),
        # any body: the listener may answer it too (busy)
        "503": {"description": "Not healthy: the scheduler stalled, or the dashboard served "
                               "alone cannot read its database (`Health`, `ok` false); or "
                               "Vigie is busy."},
    }),
}

_BEAT_ANSWERS: dict[str, Any] = {
    "200": json_body(ref("Beat"), "The beat is recorded."),
    "400": json_body(ref("BeatError"), "`status` is not up, down or fail."),
    "404": {"description": "Unknown token (or no heartbeat check configured: then the "
                           "status page's own page).",
            "content": {"application/json": {"schema": ref("BeatError")},
                        "text/html": {"schema": TEXT}}},
}
_BEAT_FIELDS: dict[str, Schema] = {
    # read leniently (any case, spaces around, empty: up), so described as text
    "status": {"type": "string", "examples": list(BEAT_STATUSES),
               "description": "`up`, `down` or `fail` (any case; empty or absent: `up`); "
                              "anything else is answered 400."},
    "msg": {"type": "string", "description": "Why it failed (at most 200 characters are "
                                             "kept, shown to volunteers only)."},
}

#: ``/push/<token>``: mounted by the heartbeat plugin on Vigie's listener (not a Flask
#: route), present when a ``heartbeat`` check is configured
PUSH_PATH = "/push/{token}"
PUSH_PARAMETERS = [{"name": "token", "in": "path", "required": True,
                    "schema": {"type": "string"},
                    "description": "The check's secret token (16 to 200 letters, digits, "
                                   "`-_.~`)."}]
PUSH: dict[str, dict[str, Any]] = {
    "get": {
        "tags": ["heartbeats"], "operationId": "heartbeat.get",
        "summary": "A job says it ran (for a bare `curl` or `wget`; `HEAD` works too).",
        "parameters": [{"name": name, "in": "query", "required": False, "schema": schema}
                       for name, schema in _BEAT_FIELDS.items()],
        "responses": _BEAT_ANSWERS,
    },
    "post": {
        "tags": ["heartbeats"], "operationId": "heartbeat.post",
        "summary": "A job says it ran, optionally that it failed and why (form fields, or "
                   "the same query parameters as GET).",
        "requestBody": {"required": False, "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": _BEAT_FIELDS}}}},
        "responses": _BEAT_ANSWERS,
    },
}
