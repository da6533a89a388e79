"""The volunteers' admin area: blueprint ``bp``, mounted at ``/admin`` by ``create_app``.

- :mod:`~dashboard.admin.auth` — login and logout, who is signed in; with
  :mod:`~dashboard.admin.sessions` (server-side sessions),
  :mod:`~dashboard.admin.ratelimit` and :mod:`~dashboard.admin.devices` (login limits),
  :mod:`~dashboard.admin.hashslots` (bounded password hashing),
  :mod:`~dashboard.admin.network` (client address, ``Secure`` cookies);
- :mod:`~dashboard.admin.account_views` — the volunteer's own sessions, "sign out
  everywhere";
- :mod:`~dashboard.admin.audit_views` — the audit log and its export (administrators);
- :mod:`~dashboard.admin.assistance_views` — the members' requests for help and where
  their delivery stands (administrators and the desk);
- :mod:`~dashboard.admin.subscriber_views` — the members' e-mail subscriptions: counts for
  every role, the addresses (and forget) for administrators;
- :mod:`~dashboard.admin.webhook_views` — signed webhook endpoints (administrators);
- :mod:`~dashboard.admin.agent_views` — the remote agents' tokens (administrators);
- :mod:`~dashboard.admin.cluster_views` — the nodes of a cluster and its leader (every
  role; only when ``cluster.enabled``);
- :mod:`~dashboard.admin.location_views` — the check × location grid (every role; only
  when some check runs from several locations);
- :mod:`~dashboard.admin.csrf` — the CSRF token every form carries;
- :mod:`~dashboard.admin.views`, :mod:`~dashboard.admin.incident_views` — the pages:
  notices, maintenance, incidents, failed deliveries;
- :mod:`~dashboard.admin.api` — the bearer-token JSON API at ``/admin/api/v1``;
- :mod:`~dashboard.admin.accounts`, :mod:`~dashboard.admin.tokens` — users (with their
  role) and API tokens; :mod:`~dashboard.admin.user_views` — their page, for
  administrators;
- :mod:`~dashboard.admin.cli` — ``vigie user`` and ``vigie token`` (registered by
  :mod:`~dashboard.admin.plugin`).

Every page except the login form needs a signed-in volunteer whose role allows it
(:mod:`~dashboard.admin.roles`: each view declares what it needs, a refusal is a 403 in
the volunteer's language); every ``POST`` (login included) needs the CSRF token; nothing
of the admin area is ever cached.
"""

from __future__ import annotations

import json

from flask import render_template, request
from flask_babel import gettext as _

from dashboard import locations
from dashboard.admin import (  # noqa: F401 (routes)
    account_views,
    accounts,
    agent_views,
    api,
    assistance_views,
    audit_views,
    cluster_views,
    auth,
    csrf,
    incident_views,
    location_views,
    roles,
    subscriber_views,
    user_views,
    views,
    webhook_views,
)
from dashboard.admin.blueprint import api_bp, bp
from dashboard.admin.context import setup_passwords
from dashboard.admin.pages import lang
from dashboard.i18n import PHASES
from monitor.access import Actor, Forbidden

bp.register_blueprint(api_bp)
# each application gets its own password hasher, from its settings, when it mounts the area
bp.record_once(lambda setup: setup_passwords(setup.app))

#: largest form accepted (a post-mortem is long, but not that long)
MAX_FORM = 1024 * 1024


def _is_api() -> bool:
    return request.blueprint == "admin.api"


@bp.before_request
def _guard():
    """Size limit, CSRF, login, then the role, for every page of the admin area (the API
    has its own guard)."""
    if _is_api():
        return None
    if request.content_length is not None and request.content_length > MAX_FORM:
        return _error_page(413, _("The form is too large (1 MB at most)."))
    csrf.protect()
    signed_out = auth.require_login()
    if signed_out is not None:
        return signed_out
    user = auth.current_user()
    if user is not None:
        roles.set_actor(Actor.user(user.username, user.role, "web",
                                   address=request.remote_addr))
    refused = roles.refusal()
    return _forbidden(refused) if refused is not None else None


@bp.after_request
def _no_store(response):
    """Admin pages and API answers hold private data: never cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


@bp.context_processor
def _template_globals():
    impacts = {"major_outage": _("Outage"), "partial_outage": _("Partial outage"),
               "degraded": _("Slowed down")}
    # the phases in the words members, alerts, forum and tickets read (monitor.terms)
    phases = {label: PHASES[label] for label in ("investigating", "identified", "monitoring",
                                                  "resolved")}
    levels = {"info": _("Information"), "warning": _("Warning")}
    recurrences = [("none", _("Once")), ("daily", _("Every day")),
                   ("weekly", _("Every week")), ("monthly", _("Every month")),
                   ("cron", _("Cron rule")), ("rrule", _("RRULE (RFC 5545)"))]
    return {"csrf_token": csrf.token, "current_user": auth.current_user,
            "may": roles.may, "role_name": accounts.role_name, "pretty_json": _pretty_json,
            "cluster_enabled": cluster_views.cluster_enabled,
            "locations_configured": locations.configured,
            "IMPACTS": impacts, "IMPACT_CHOICES": list(impacts.items()),
            "PHASE_CHOICES": list(phases.items()), "LEVELS": levels,
            "LEVEL_CHOICES": list(levels.items()), "RECURRENCE_CHOICES": recurrences}


def _pretty_json(value) -> str:
    """A snapshot of the audit log as indented JSON text (escaped by the template)."""
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)


def _error_page(code: int, message: str):
    body = render_template("admin/error.html", code=code, message=message,
                           user=auth.current_user())
    return body, code


def _forbidden(exc: Forbidden):
    return _error_page(403, exc.message(lang()))


@bp.errorhandler(Forbidden)
def _refused(exc: Forbidden):
    # raised by the service layer inside a page (the API has its own handler)
    return _forbidden(exc)


@bp.errorhandler(csrf.CSRFFailed)
def _csrf_failed(_exc):
    return _error_page(400, _("This form has expired or did not come from this site. Go back, "
                              "reload the page and send it again."))


@bp.errorhandler(404)
def _not_found(_exc):
    if _is_api():
        return api._http(_exc)
    return _error_page(404, _("There is nothing at this address."))


__all__ = ["bp"]
