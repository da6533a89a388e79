"""The volunteers' admin area: blueprint ``bp``, mounted at ``/admin`` by ``create_app``.

- :mod:`~dashboard.admin.auth` — login (argon2, rate limit), logout, sessions;
- :mod:`~dashboard.admin.csrf` — the CSRF token every form carries;
- :mod:`~dashboard.admin.views`, :mod:`~dashboard.admin.incident_views` — the pages:
  notices, maintenance, incidents, failed deliveries;
- :mod:`~dashboard.admin.api` — the bearer-token JSON API at ``/admin/api/v1``;
- :mod:`~dashboard.admin.accounts` — users and API tokens;
- :mod:`~dashboard.admin.cli` — ``vigie user`` and ``vigie token`` (registered by
  :mod:`~dashboard.admin.plugin`).

Every page except the login form needs a signed-in volunteer; every ``POST`` (login
included) needs the CSRF token; nothing of the admin area is ever cached.
"""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from dashboard.admin import api, auth, csrf, incident_views, views  # noqa: F401 (routes)
from dashboard.admin.blueprint import api_bp, bp

bp.register_blueprint(api_bp)

#: largest form accepted (a post-mortem is long, but not that long)
MAX_FORM = 1024 * 1024


def _is_api() -> bool:
    return request.blueprint == "admin.api"


@bp.before_request
def _guard():
    """Size limit, CSRF, then login, for every page of the admin area (not the API)."""
    if _is_api():
        return None
    if request.content_length is not None and request.content_length > MAX_FORM:
        return _error_page(413, _("The form is too large (1 MB at most)."))
    csrf.protect()
    return auth.require_login()


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
    phases = {"investigating": _("Investigating"), "identified": _("Identified"),
              "monitoring": _("Monitoring"), "resolved": _("Resolved")}
    levels = {"info": _("Information"), "warning": _("Warning")}
    recurrences = [("none", _("Once")), ("daily", _("Every day")),
                   ("weekly", _("Every week")), ("monthly", _("Every month")),
                   ("cron", _("Cron rule")), ("rrule", _("RRULE (RFC 5545)"))]
    return {"csrf_token": csrf.token, "current_user": auth.current_user,
            "IMPACTS": impacts, "IMPACT_CHOICES": list(impacts.items()),
            "PHASE_CHOICES": list(phases.items()), "LEVELS": levels,
            "LEVEL_CHOICES": list(levels.items()), "RECURRENCE_CHOICES": recurrences}


def _error_page(code: int, message: str):
    body = render_template("admin/error.html", code=code, message=message,
                           user=auth.current_user())
    return body, code


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
