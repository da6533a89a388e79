"""The JSON admin API, for scripts: ``/admin/api/v1/…`` with ``Authorization: Bearer``.

Tokens come from ``vigie token add`` and act as their user (who is recorded as the
author), with the user's role or a narrower one of the token's own. The same operations
as the admin pages, with the same rules and the same role checks; see ``docs/admin.md``
for every route. Errors are JSON objects::

    {"error": "invalid_input", "field": "title_fr",
     "message_fr": "Ce champ est obligatoire.", "message_en": "This field is required."}

- 401 ``unauthorized``: no token, an unknown or a revoked one (with ``WWW-Authenticate``);
- 403 ``forbidden``: the token's role does not allow the route;
- 400 ``bad_json``: the body is not JSON; 413 ``too_large``: over 1 MB;
- 404 ``not_found``; 405 ``method_not_allowed``;
- 422 ``invalid_input``: an unknown key, a value of the wrong type (each route's body is
  read by its strict model in :mod:`dashboard.admin.bodies`) or a value the operation
  refuses; nothing is written.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from flask import current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound

from dashboard.admin import bodies, tokens
from dashboard.admin.blueprint import api_bp
from dashboard.admin.context import operations, reading, transaction
from dashboard.admin.roles import current_actor, refusal, requires, set_actor
from dashboard.i18n import select_language
from dashboard.pages import snapshot
from monitor.access import Forbidden, Permission
from monitor.incidents import queries
from monitor.incidents.inputs import InvalidInput, NotFound
from monitor.words import Bilingual, Words, _

log = logging.getLogger(__name__)

#: largest request body accepted
MAX_BODY = 1024 * 1024
_TOO_LARGE = _("Request too large (1 MB at most).")


class ApiError(Exception):
    """An API answer other than success, its message from the catalogues."""

    def __init__(self, status: int, error: str, words: Words,
                 field: str | None = None) -> None:
        super().__init__(words.en)
        self.status, self.error, self.words, self.field = status, error, words, field


def _error(status: int, error: str, words: Words | Bilingual, field: str | None = None):
    """The error body: ``message`` in the request's language (``?lang=``, the cookie,
    ``Accept-Language``, as the pages choose it), and both languages for clients written
    before it (``message_fr``, ``message_en``)."""
    body: dict[str, Any] = {"error": error, "message": words.say(select_language()),
                            "message_fr": words.say("fr"), "message_en": words.say("en")}
    if field is not None:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="vigie-admin"'
    response.headers["Cache-Control"] = "no-store"
    return response


@api_bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return _error(exc.status, exc.error, exc.words, exc.field)


@api_bp.errorhandler(NotFound)
def _not_found(exc: NotFound):
    return _error(404, "not_found", exc.words, exc.field)


@api_bp.errorhandler(InvalidInput)
def _invalid(exc: InvalidInput):
    return _error(422, "invalid_input", exc.words, exc.field)


@api_bp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    said = {404: ("not_found", _("Nothing at this address.")),
            405: ("method_not_allowed", _("Method not allowed here.")),
            413: ("too_large", _TOO_LARGE)}
    error, words = said.get(exc.code or 400, ("bad_request", _("Bad request.")))
    response = _error(exc.code or 400, error, words)
    allow = dict(exc.get_headers()).get("Allow")
    if allow:  # a 405 says which methods the address takes (RFC 9110)
        response.headers["Allow"] = allow
    return response


@api_bp.before_app_request
def _unrouted():
    """An address under the API that matches no route (404) or not with this method (405):
    routing failed before any blueprint was chosen, so decide by the path, and answer with
    the API's error body rather than the status page's."""
    failure = request.routing_exception
    if isinstance(failure, (RouteNotFound, MethodNotAllowed)) and request.path.startswith(
            "/admin/api/"):
        if isinstance(failure, MethodNotAllowed) and not _api_route_matches(failure):
            # only a route outside the API takes this address (an id beyond any row's
            # falls through to the pages' catch-all): nothing of the API is there
            return _http(RouteNotFound())
        return _http(failure)
    return None


def _api_route_matches(failure: MethodNotAllowed) -> bool:
    """Whether a route of the API takes the current address with another method."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    for method in failure.valid_methods or ():
        try:
            endpoint, _args = adapter.match(method=method)
        except HTTPException:
            continue
        if str(endpoint).startswith(f"{api_bp.name}.") or ".api." in str(endpoint):
            return True
    return False


@api_bp.before_request
def _authenticate():
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", _TOO_LARGE)
    scheme, _space, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized",
                       _("Missing token: send “Authorization: Bearer <token>” (create one "
                         "with “vigie token add”)."))
    with transaction(publish=False) as session:
        token = tokens.use_token(session, secret.strip())
        actor = tokens.token_actor(token, request.remote_addr) if token else None
    if actor is None:
        log.warning("API request with an unknown or revoked token from %s", request.remote_addr)
        raise ApiError(401, "unauthorized", _("Unknown or revoked token."))
    set_actor(actor)
    refused = refusal()
    if refused is not None:
        raise refused


def forbidden(exc: Forbidden):
    """The JSON answer to a refusal by the role rules (403 ``forbidden``)."""
    return _error(403, "forbidden", exc.words)


api_bp.register_error_handler(Forbidden, forbidden)


def _body(model: type[bodies.Body]) -> dict[str, Any]:
    """The operation's arguments from the JSON body, read with the route's ``model``."""
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "bad_json",
                       _("The body must be JSON (Content-Type: application/json)."))
    return model.read(data)


def _json(value: Any, status: int = 200):
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    elif isinstance(value, list):
        value = [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
    response = jsonify(value)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _now() -> float:
    return current_app.config["CLOCK"]()


@api_bp.route("/whoami")
@requires(Permission.READ)
def whoami():
    """The user the token acts as, the role it acts with and what that allows."""
    actor = current_actor()
    return _json({"user": actor.name, "role": actor.role,
                  "permissions": sorted(p.value for p in actor.permissions)})


# Notices --------------------------------------------------------------------------------


def _notice_json(n: Any) -> dict[str, Any]:
    return {"id": n.id, "level": n.level, "title_fr": n.title_fr, "title_en": n.title_en,
            "text_fr": n.text_fr, "text_en": n.text_en, "starts_at": n.starts_at,
            "ends_at": n.ends_at, "created_at": n.created_at, "created_by": n.created_by}


@api_bp.route("/notices")
@requires(Permission.READ)
def notices():
    """Every notice, newest first (``?active=1``: only those shown now)."""
    with reading() as session:
        if request.args.get("active") in ("1", "true"):
            return _json(queries.active_notices(session, _now()))
        return _json(queries.all_notices(session))


@api_bp.route("/notices", methods=["POST"])
@requires(Permission.NOTICES)
def notice_create():
    """Post a notice: ``title_fr`` (required), ``text_fr``, ``title_en``, ``text_en``,
    ``level`` (info/warning), ``starts_at``, ``ends_at``."""
    args = _body(bodies.NoticeCreate)
    with transaction() as session:
        notice = operations().post_notice(session, actor=current_actor(), **args)
        out = _notice_json(notice)
    return _json(out, 201)


@api_bp.route("/notices/<int:notice_id>", methods=["PATCH"])
@requires(Permission.NOTICES)
def notice_edit(notice_id: int):
    """Change some fields of a notice."""
    args = _body(bodies.NoticeChange)
    with transaction() as session:
        out = _notice_json(operations().edit_notice(session, notice_id, actor=current_actor(),
                                                   **args))
    return _json(out)


@api_bp.route("/notices/<int:notice_id>/end", methods=["POST"])
@requires(Permission.NOTICES)
def notice_end(notice_id: int):
    """Take a notice off the page now."""
    with transaction() as session:
        out = _notice_json(operations().end_notice(session, notice_id,
                                                  actor=current_actor()))
    return _json(out)


# Maintenance ----------------------------------------------------------------------------


def _window_json(window_id: int) -> dict[str, Any]:
    with reading() as session:
        for w in queries.maintenance_windows(session, _now(), include_cancelled=True):
            if w.id == window_id:
                return dataclasses.asdict(w)
    raise ApiError(404, "not_found", _("Maintenance not found."))


@api_bp.route("/maintenance")
@requires(Permission.READ)
def maintenance():
    """Windows as defined (``?upcoming=1``: the occurrences of the next 14 days)."""
    with reading() as session:
        if request.args.get("upcoming") in ("1", "true"):
            return _json(queries.upcoming_maintenance(session, _now()))
        return _json(queries.maintenance_windows(session, _now()))


@api_bp.route("/maintenance", methods=["POST"])
@requires(Permission.MAINTENANCE)
def maintenance_create():
    """Plan a window (same fields as ``vigie maintenance add``, see docs/admin.md)."""
    args = _body(bodies.MaintenanceCreate)
    with transaction() as session:
        window = operations().create_maintenance(
            session, actor=current_actor(), **args)
        window_id = window.id
    return _json(_window_json(window_id), 201)


@api_bp.route("/maintenance/<int:window_id>", methods=["PATCH"])
@requires(Permission.MAINTENANCE)
def maintenance_edit(window_id: int):
    """Change some fields of a window created at run time."""
    args = _body(bodies.MaintenanceChange)
    with transaction() as session:
        operations().edit_maintenance(session, window_id, actor=current_actor(), **args)
    return _json(_window_json(window_id))


@api_bp.route("/maintenance/<int:window_id>/cancel", methods=["POST"])
@requires(Permission.MAINTENANCE)
def maintenance_cancel(window_id: int):
    """Cancel a window."""
    with transaction() as session:
        operations().cancel_maintenance(session, window_id, actor=current_actor())
    return _json(_window_json(window_id))


@api_bp.route("/maintenance/<int:window_id>/end", methods=["POST"])
@requires(Permission.MAINTENANCE)
def maintenance_end(window_id: int):
    """End a running window now."""
    with transaction() as session:
        operations().end_maintenance_now(session, window_id, actor=current_actor())
    return _json(_window_json(window_id))


# Incidents ------------------------------------------------------------------------------


def _incident_json(incident_id: int, status: int = 200):
    with reading() as session:
        detail = queries.incident_detail(session, incident_id, public_only=False)
    if detail is None:
        raise ApiError(404, "not_found", _("Incident not found."))
    return _json(detail, status)


def _texts(text: Any) -> dict[str, str] | None:
    return {"fr": text.fr, "en": text.en or text.fr} if text else None


@api_bp.route("/checks")
@requires(Permission.READ)
def checks():
    """Every check as the status page last read it, with the members' words for its
    reason (``reason``) and the probe's own sentence for volunteers (``detail``:
    addresses, ports, codes, counters, which public places never show)."""
    out = []
    for service in snapshot().data.services.values():
        for check in service.checks:
            out.append({
                "id": check.key, "service": service.id, "kind": check.kind,
                "name": _texts(check.name),
                "status": check.status.label if check.status is not None else None,
                "since": check.since, "reason": _texts(check.reason),
                "detail": _texts(check.detail)})
    return _json(out)


@api_bp.route("/incidents")
@requires(Permission.READ)
def incidents():
    """Open incidents (``?all=1``: the 50 latest, resolved too), private notes included."""
    with reading() as session:
        if request.args.get("all") in ("1", "true"):
            return _json(queries.incident_history(session, public_only=False))
        return _json(queries.open_incidents(session, public_only=False))


@api_bp.route("/incidents/<int:incident_id>")
@requires(Permission.READ)
def incident(incident_id: int):
    """One incident with its whole timeline and every link (private ones too)."""
    return _incident_json(incident_id)


@api_bp.route("/incidents", methods=["POST"])
@requires(Permission.INCIDENTS)
def incident_create():
    """Open an incident by hand: ``services`` (list), ``title_fr``, ``message_fr``,
    ``impact``, ``phase``, and the English texts."""
    args = _body(bodies.IncidentCreate)
    with transaction() as session:
        incident_id = operations().open_incident(session, actor=current_actor(), **args).id
    return _incident_json(incident_id, 201)


@api_bp.route("/incidents/<int:incident_id>/updates", methods=["POST"])
@requires(Permission.INCIDENTS)
def incident_update(incident_id: int):
    """Post an update: ``phase``, ``message_fr``, optional ``message_en``, ``impact``,
    ``public`` (default true)."""
    args = _body(bodies.IncidentUpdate)
    with transaction() as session:
        operations().post_update(session, incident_id, actor=current_actor(), **args)
    return _incident_json(incident_id, 201)


@api_bp.route("/incidents/<int:incident_id>/impact", methods=["POST"])
@requires(Permission.INCIDENTS)
def incident_impact(incident_id: int):
    """Change the impact: ``impact``, optional messages."""
    args = _body(bodies.IncidentImpact)
    impact = args.pop("impact")
    with transaction() as session:
        operations().change_impact(session, incident_id, impact, actor=current_actor(), **args)
    return _incident_json(incident_id)


@api_bp.route("/incidents/<int:incident_id>/resolve", methods=["POST"])
@requires(Permission.INCIDENTS)
def incident_resolve(incident_id: int):
    """Resolve now, with optional messages."""
    args = _body(bodies.IncidentResolve) if request.content_length else {}
    with transaction() as session:
        operations().resolve_incident(session, incident_id, actor=current_actor(), **args)
    return _incident_json(incident_id)


@api_bp.route("/incidents/<int:incident_id>/postmortem", methods=["PUT"])
@requires(Permission.INCIDENTS)
def incident_postmortem(incident_id: int):
    """Publish or replace the post-mortem: ``text_fr``, optional ``text_en``."""
    args = _body(bodies.Postmortem)
    with transaction() as session:
        operations().set_postmortem(session, incident_id, actor=current_actor(), **args)
    return _incident_json(incident_id)


# Outbox ---------------------------------------------------------------------------------


@api_bp.route("/outbox")
@requires(Permission.READ)
def outbox():
    """Deliveries (``?status=dead|pending|delivered``) and the backlog."""
    status = request.args.get("status")
    if status not in (None, "dead", "pending", "delivered"):
        raise ApiError(422, "invalid_input", _("Unknown status (dead, pending, delivered)."),
                       "status")
    with reading() as session:
        entries = queries.outbox_entries(session, status=status)
        backlog = queries.outbox_backlog(session)
    return _json({"backlog": dataclasses.asdict(backlog),
                  "entries": [dataclasses.asdict(e) for e in entries]})


@api_bp.route("/outbox/<int:outbox_id>/retry", methods=["POST"])
@requires(Permission.DELIVERIES)
def outbox_retry(outbox_id: int):
    """Queue a failed delivery again, now."""
    with transaction() as session:
        entry = operations().retry_outbox(session, outbox_id, actor=current_actor())
        out = {"id": entry.id, "status": entry.status, "attempts": entry.attempts,
               "next_attempt_at": entry.next_attempt_at}
    return _json(out)
