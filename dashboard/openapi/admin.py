"""The description of the volunteers' API (``/admin/api/v1``, bearer tokens).

True by construction where the code allows it: request bodies are the JSON Schemas of the
strict models that read them (:mod:`dashboard.admin.bodies`); answers are the schemas of
the frozen dataclasses the routes serialise (:mod:`monitor.incidents.queries`,
``dataclasses.asdict``); the allowed words are the incident model's constants. The error
body is the one documented at the top of :mod:`dashboard.admin.api`.
"""

from __future__ import annotations

from typing import Any

from dashboard.admin import bodies
from dashboard.openapi.schema import (
    REF,
    UNIX_TIME,
    Operation,
    Schema,
    array,
    choice,
    derived,
    header,
    json_body,
    nullable,
    obj,
    ref,
)
from monitor.access import Permission, Role
from monitor.agents import service as agents
from monitor.assistance import records
from monitor.incidents import queries
from monitor.incidents.maintenance import PlannedMaintenance
from monitor.incidents.outbox import Backlog
from monitor.incidents.queries import IMPACTS, NOTICE_LEVELS, OUTBOX_STATUSES, PHASES
from monitor.probe import Status
from monitor.subscriptions import records as subscriber_records
from monitor.webhooks import service as webhooks

TEXT: Schema = {"type": "string"}
#: the request bodies, one strict model per route
BODIES = (bodies.NoticeCreate, bodies.NoticeChange, bodies.MaintenanceCreate,
          bodies.MaintenanceChange, bodies.IncidentCreate, bodies.IncidentUpdate,
          bodies.IncidentImpact, bodies.IncidentResolve, bodies.Postmortem,
          bodies.WebhookCreate, bodies.WebhookRotate, bodies.WebhookDisable)
#: ``error`` of each refusal, as dashboard/admin/api.py writes it
#: (a body over 1 MB, ``too_large``, is one of the listener's answers: it may be refused
#: before the API sees it)
ERRORS = {400: ("bad_json", "bad_request"), 401: ("unauthorized",), 403: ("forbidden",),
          404: ("not_found",), 422: ("invalid_input",)}


def components() -> dict[str, Schema]:
    """Request bodies, answers and the error body of the admin API."""
    out: dict[str, Schema] = {}
    for model in BODIES:
        out[model.__name__] = model.model_json_schema(ref_template=REF)
    answers = derived(
        queries.IncidentSummary, queries.IncidentDetail, queries.NoticeView,
        queries.WindowView, queries.OutboxView, PlannedMaintenance, Backlog,
        records.RequestView, webhooks.EndpointRecord, webhooks.PingResult,
        agents.AgentRecord,
        enums={"IncidentSummary": {"impact": IMPACTS, "worst_impact": IMPACTS,
                                   "phase": PHASES},
               "UpdateView": {"phase": PHASES, "impact": (*IMPACTS, None)},
               "NoticeView": {"level": NOTICE_LEVELS},
               "OutboxView": {"status": OUTBOX_STATUSES},
               "RequestView": {"state": records.STATES,
                               "delivery": (*OUTBOX_STATUSES, None)},
               "AgentRecord": {"state": agents.STATES}})
    if out.keys() & answers.keys():
        raise ValueError(f"bodies and answers share names: {out.keys() & answers.keys()}")
    out.update(answers)
    out["Whoami"] = obj(
        {"user": TEXT, "role": choice([r.value for r in Role]),
         "permissions": array(choice([p.value for p in Permission]))},
        description="The user the token acts as, the role it acts with and what that allows.")
    texts = nullable(obj({"fr": TEXT, "en": TEXT}))
    out["CheckState"] = obj(
        {"id": TEXT, "service": TEXT, "kind": TEXT, "name": texts,
         "status": choice([*(s.label for s in Status), None]), "since": nullable(UNIX_TIME),
         "reason": texts, "detail": texts},
        description="A check as the status page last read it: ``reason`` is what members "
                    "read (plain words, no address, port, code or counter), ``detail`` the "
                    "probe's own sentence for volunteers.")
    out["Outbox"] = obj({"backlog": ref("Backlog"), "entries": array(ref("OutboxView"))})
    out["OutboxRetried"] = obj({"id": {"type": "integer"}, "status": choice(OUTBOX_STATUSES),
                                "attempts": {"type": "integer", "minimum": 0},
                                "next_attempt_at": UNIX_TIME})
    out["Assistance"] = obj(
        {"counts": obj({state: {"type": "integer", "minimum": 0} for state in records.STATES}),
         "requests": array(ref("RequestView"))},
        description="Members' requests for help, newest first, and how many are in each "
                    "state; no name, no e-mail address.")
    by_state = obj({state: {"type": "integer", "minimum": 0}
                    for state in subscriber_records.STATES})
    out["Subscribers"] = obj(
        {"states": by_state,
         "services": {"type": "object", "additionalProperties": by_state,
                      "description": "Per configured service (its id), the subscribers whose "
                                     "choice covers it (everything, the service or its "
                                     "group), by state."}},
        description="How many members subscribe by e-mail, by state and per service; never "
                    "an address.")
    out["WebhookSecret"] = obj(
        {"endpoint": ref("EndpointRecord"), "secret": {"type": "string", "pattern": "^whsec_"}},
        description="An endpoint and its signing secret, in this answer only: it is never "
                    "shown again.")
    out["WebhookDetail"] = obj(
        {"endpoint": ref("EndpointRecord"), "deliveries": array(ref("OutboxView"))},
        description="An endpoint and its last deliveries, newest first.")
    out["WebhookRemoved"] = obj({"removed": {"type": "integer"}})
    out["AdminError"] = obj(
        {"error": TEXT, "field": TEXT, "message": TEXT, "message_fr": TEXT,
         "message_en": TEXT},
        optional=("field",),
        description="Every refusal of the admin API: a word for programs, a sentence for "
                    "people in the request's language (message) and in French and English, "
                    "and the field at fault if any.")
    return out


_NO_STORE = {"Cache-Control": header({"const": "no-store"}, "Never cached.")}
#: the refusals, shared by the operations as ``#/components/responses/<name>``
_REFUSALS = {
    "BadJson": (400, "The body is not JSON."),
    "Unauthorized": (401, "No token, or an unknown or revoked one."),
    "Forbidden": (403, "The token's user lacks the role this needs."),
    "NotFound": (404, "No such object."),
    "Refused": (422, "A value the operation refuses (see docs/admin.md), a value of the "
                     "wrong type, a missing or an unknown key; nothing is written."),
}


def responses() -> dict[str, Any]:
    """The admin API's refusals, as response components."""
    out = {}
    for name, (status, description) in _REFUSALS.items():
        headers = dict(_NO_STORE)
        if status == 401:
            headers["WWW-Authenticate"] = header({"type": "string", "pattern": "^Bearer "},
                                                 "How to authenticate.")
        schema = {"allOf": [ref("AdminError"),
                            {"properties": {"error": {"enum": list(ERRORS[status])}}}]}
        out[name] = json_body(schema, description, headers)
    return out


def _refusal(name: str) -> dict[str, Any]:
    return {str(_REFUSALS[name][0]): {"$ref": f"#/components/responses/{name}"}}


def _answer(status: int, schema: Schema, description: str) -> dict[str, Any]:
    return {str(status): json_body(schema, description, _NO_STORE)}


def _flag(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"},
            "description": description}


#: what every operation may answer besides its success
COMMON = {**_refusal("Unauthorized"), **_refusal("Forbidden")}
_NOT_FOUND = _refusal("NotFound")
_REFUSED = _refusal("Refused")
_WITH_BODY = {**_refusal("BadJson"), **_REFUSED}


def _op(success: dict[str, Any], *refusals: dict[str, Any],
        body: type[bodies.Body] | None = None, optional_body: bool = False,
        query: tuple[dict[str, Any], ...] = ()) -> Operation:
    """An operation answering ``success``, the ``refusals`` and those :data:`COMMON` to all;
    a JSON ``body`` read by that model."""
    answers = {**success, **(_WITH_BODY if body else {}), **COMMON}
    for refusal in refusals:
        answers.update(refusal)
    request = None
    if body is not None:
        request = {"required": not optional_body,
                   "content": {"application/json": {"schema": ref(body.__name__)}}}
    return Operation("admin", answers, list(query), request, bearer=True)


INCIDENT = ref("IncidentDetail")
NOTICE = ref("NoticeView")
WINDOW = ref("WindowView")

#: endpoint → its description (the path and the summary come from the Flask route)
OPERATIONS: dict[str, Operation] = {
    "admin.api.whoami": _op(_answer(200, ref("Whoami"), "The user.")),
    # notices
    "admin.api.notices": _op(
        _answer(200, array(NOTICE), "Notices, newest first."),
        query=(_flag("active", "`1` or `true`: only the notices shown now."),)),
    "admin.api.notice_create": _op(_answer(201, NOTICE, "The notice posted."),
                                   body=bodies.NoticeCreate),
    "admin.api.notice_edit": _op(_answer(200, NOTICE, "The notice changed."), _NOT_FOUND,
                                 body=bodies.NoticeChange),
    "admin.api.notice_end": _op(_answer(200, NOTICE, "The notice, ended."), _NOT_FOUND,
                                _REFUSED),
    # maintenance
    "admin.api.maintenance": _op(
        _answer(200, {"anyOf": [array(WINDOW), array(ref("PlannedMaintenance"))]},
                "Windows as defined (or their occurrences)."),
        query=(_flag("upcoming", "`1` or `true`: the occurrences of the next 14 days "
                                 "instead."),)),
    "admin.api.maintenance_create": _op(_answer(201, WINDOW, "The window planned."),
                                        body=bodies.MaintenanceCreate),
    "admin.api.maintenance_edit": _op(_answer(200, WINDOW, "The window changed."),
                                      _NOT_FOUND, body=bodies.MaintenanceChange),
    "admin.api.maintenance_cancel": _op(_answer(200, WINDOW, "The window, cancelled."),
                                        _NOT_FOUND, _REFUSED),
    "admin.api.maintenance_end": _op(_answer(200, WINDOW, "The window, ended."), _NOT_FOUND,
                                     _REFUSED),
    # checks
    "admin.api.checks": _op(_answer(200, array(ref("CheckState")),
                                    "Every check, its members' words and its detail.")),
    # incidents
    "admin.api.incidents": _op(
        _answer(200, array(ref("IncidentSummary")), "Incidents, newest first."),
        query=(_flag("all", "`1` or `true`: the 50 latest, resolved ones too."),)),
    "admin.api.incident": _op(_answer(200, INCIDENT, "The incident."), _NOT_FOUND),
    "admin.api.incident_create": _op(_answer(201, INCIDENT, "The incident opened."),
                                     body=bodies.IncidentCreate),
    "admin.api.incident_update": _op(_answer(201, INCIDENT, "The incident, updated."),
                                     _NOT_FOUND, body=bodies.IncidentUpdate),
    "admin.api.incident_impact": _op(_answer(200, INCIDENT, "The incident."), _NOT_FOUND,
                                     body=bodies.IncidentImpact),
    "admin.api.incident_resolve": _op(_answer(200, INCIDENT, "The incident, resolved."),
                                      _NOT_FOUND, body=bodies.IncidentResolve,
                                      optional_body=True),
    "admin.api.incident_postmortem": _op(
        _answer(200, INCIDENT, "The incident with its post-mortem."), _NOT_FOUND,
        body=bodies.Postmortem),
    # deliveries
    "admin.api.outbox": _op(
        _answer(200, ref("Outbox"), "Deliveries and the backlog."), _REFUSED,
        query=({"name": "status", "in": "query", "required": False,
                "schema": choice(OUTBOX_STATUSES),
                "description": "Only the deliveries in this state."},)),
    "admin.api.outbox_retry": _op(_answer(200, ref("OutboxRetried"), "The delivery, queued "
                                                                     "again."),
                                  _NOT_FOUND, _REFUSED),
    # webhooks
    "admin.api.webhook_list": _op(_answer(200, array(ref("EndpointRecord")),
                                          "Every endpoint (never a secret).")),
    "admin.api.webhook_create": _op(_answer(201, ref("WebhookSecret"),
                                            "The endpoint and its secret (shown once)."),
                                    body=bodies.WebhookCreate),
    "admin.api.webhook_detail": _op(_answer(200, ref("WebhookDetail"), "The endpoint."),
                                    _NOT_FOUND),
    "admin.api.webhook_rotate_api": _op(
        _answer(200, ref("WebhookSecret"), "The endpoint and its new secret (shown once)."),
        _NOT_FOUND, body=bodies.WebhookRotate, optional_body=True),
    "admin.api.webhook_enable_api": _op(_answer(200, ref("EndpointRecord"), "Enabled."),
                                        _NOT_FOUND),
    "admin.api.webhook_disable_api": _op(_answer(200, ref("EndpointRecord"), "Disabled."),
                                         _NOT_FOUND, body=bodies.WebhookDisable,
                                         optional_body=True),
    "admin.api.webhook_delete": _op(_answer(200, ref("WebhookRemoved"), "Removed."),
                                    _NOT_FOUND),
    "admin.api.webhook_test_api": _op(_answer(200, ref("PingResult"),
                                              "What the receiver answered."), _NOT_FOUND),
    # remote agents
    "admin.api.agent_list": _op(_answer(200, array(ref("AgentRecord")),
                                        "Every agent token and its agent's last news (never "
                                        "a token).")),
    "admin.api.agent_revoke_api": _op(_answer(200, ref("AgentRecord"), "The token, revoked."),
                                      _NOT_FOUND),
    # members' subscriptions
    "admin.api.subscribers_counts": _op(
        _answer(200, ref("Subscribers"), "Subscribers by state and per service."), _REFUSED),
    # members' requests for help
    "admin.api.assistance_list": _op(
        _answer(200, ref("Assistance"), "Members' requests and their counts by state."),
        _REFUSED,
        query=({"name": "state", "in": "query", "required": False,
                "schema": choice(records.STATES),
                "description": "Only the requests in this state."},)),
}
