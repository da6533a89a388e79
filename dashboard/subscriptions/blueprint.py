"""The ``subscriptions`` blueprint (``/abonnement/``) and what its views share.

:func:`register` mounts it on every dashboard. The views find the core's service with
:func:`service`: ``app.extensions["vigie.subscriptions"]``, set by
:func:`dashboard.create_app` whatever the settings (the subscribers stay in the store
when sending stops). Subscriptions are offered when it is there and can send mail
(:func:`offered_service`: ``subscriptions.enabled`` and ``mail.host``). When they are
not, signing up is not offered: no page links to ``/abonnement/``, and its addresses
answer one page saying so, with a 404; but the links of the mails members already hold
keep working for a subscriber the store still has (:data:`KEPT`): the manage page (its
unsubscribe button, not the change of services) and the one-click unsubscribe.

Every answer is private to its visitor (``no-store``: a page holds an address or a secret
link), carries no ``Referer`` onwards (the addresses of the confirmation and manage pages
are secrets), stays out of search engines, and carries the CSRF cookie when a form was
signed. The pages keep the language a mail's link asked for (``?lang=en``) in their forms'
addresses (:func:`keep_language`).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request

from dashboard import visitor_csrf
from dashboard.i18n import LANGUAGES, gettext
from dashboard.visitor_csrf import VisitorCsrf

bp = Blueprint("subscriptions", __name__, url_prefix="/abonnement")

#: the protection of the path's forms (its own cookie: a value signed for /assistance is
#: worth nothing here)
CSRF = VisitorCsrf(cookie="vigie_subscriptions", path="/abonnement",
                   salt="vigie.subscriptions.csrf")
#: largest body of the path's forms (a choice among a thousand services fits)
MAX_FORM = 64 * 1024
#: what a link's secret may look like (anything else is an unknown link at once)
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
#: the pages that answer when subscriptions are not offered: the links of the mails
#: already sent (leaving must always work)
KEPT = frozenset({"subscriptions.manage", "subscriptions.unsubscribe"})


def offered_service(app: Flask) -> Any:
    """The subscription service of ``app`` when subscriptions are offered: the service is
    there (``subscriptions.enabled``) and says it can send mail (``available``: a
    ``mail.host``); else None."""
    found = app.extensions.get("vigie.subscriptions")
    return found if found is not None and found.available else None


def register(app: Flask) -> None:
    """Offer ``/abonnement/`` on ``app`` (a page saying "not offered" when it has no
    service)."""
    from dashboard.subscriptions import views  # noqa: F401 (routes)

    app.register_blueprint(bp)


def service() -> Any:
    """The current app's subscription service (there whenever the views run: offered, or
    one of :data:`KEPT`)."""
    return current_app.extensions["vigie.subscriptions"]


def offered() -> bool:
    """Whether the current app offers subscriptions (sign-up, changes)."""
    return offered_service(current_app) is not None


def not_offered():
    """The page saying this site sends no e-mails about the services (404)."""
    return page("subscriptions/unavailable.html", 404)


def settings() -> Any:
    """The ``subscriptions:`` settings."""
    return service().settings


def keep_language() -> dict[str, str]:
    """``{"lang": …}`` when the page was asked in a language by its address (a mail's
    link), so that its forms answer in that language too; else nothing (the cookie or
    the browser choose)."""
    asked = request.args.get("lang")
    return {"lang": asked} if asked in LANGUAGES else {}


def page(template: str, status: int = 200, **values: Any):
    """A page of the subscription path."""
    return render_template(template, **values), status


@bp.before_request
def _available():
    """Not offered: one page saying so, except the links of the mails already sent (when
    the store can be read). Then bodies are bounded before they are read."""
    if not offered() and (request.endpoint not in KEPT
                          or current_app.extensions.get("vigie.subscriptions") is None):
        return not_offered()
    if request.method == "POST":
        # a body sent without its length (chunked) is read no further than the same size
        request.max_content_length = MAX_FORM
        if request.content_length is not None and request.content_length > MAX_FORM:
            return too_large()
    return None


@bp.errorhandler(413)
def too_large(_error=None):
    """A body declared larger than :data:`MAX_FORM`: refused with a page before it is read."""
    return refusal(413, gettext("This form is too large. Send it again from the page."))


@bp.after_request
def _private(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    return CSRF.send_cookie(response)


@bp.context_processor
def _offered() -> dict[str, bool]:
    return {"subscriptions_offered": offered()}


@bp.app_template_global("subscriptions_csrf")
def _csrf_token() -> str:
    return CSRF.token()


@bp.app_template_global("said_duration")
def _said_duration(seconds: float) -> str:
    """A delay in words, in the page's language (``2 jours``, ``2 days``)."""
    from dashboard.i18n import select_language
    from monitor.words import duration

    return duration(seconds).say(select_language())


def refusal(code: int, message: str, back: str | None = None):
    """A page saying why the member's form was refused, with a way back."""
    return page("subscriptions/refused.html", code, code=code, message=message, back=back)


def csrf_refusal(problem: str, back: str | None = None):
    """The refusal of a form that failed the CSRF check."""
    return refusal(visitor_csrf.status_of(problem), visitor_csrf.message(problem), back)
