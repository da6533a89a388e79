"""The ``assistance`` blueprint (``/assistance/``) and what its views share.

:func:`register` mounts it on the dashboard when the app holds the core's assistance
service (``app.extensions["vigie.assistance"]``, set by :func:`dashboard.create_app` when
``assistance.enabled``): the only thing the pages call (suggestions, rate limits, counts,
submission). The views find it and its settings with :func:`assistance`.

Every answer is private to its visitor (``no-store``: a page holds what the member
wrote), carries the CSRF cookie when a form was signed, and an ``X-Robots-Tag`` keeping
the forms out of search engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, current_app, render_template, request

from dashboard import visitor_csrf
from dashboard.assistance import csrf
from dashboard.i18n import gettext

bp = Blueprint("assistance", __name__, url_prefix="/assistance", static_folder="static",
               static_url_path="/static")

#: largest body of the forms without files (steps 1 and 2: a description and its state)
MAX_FORM = 512 * 1024


@dataclass(frozen=True, slots=True)
class Assistance:
    """What the views need: the core's service and the ``assistance:`` settings."""

    service: Any
    settings: Any


def register(app: Flask) -> None:
    """Offer ``/assistance/`` on ``app``, served by its assistance service."""
    from dashboard.assistance import send, views  # noqa: F401 (routes)

    app.register_blueprint(bp)


def assistance() -> Assistance:
    """The current app's assistance service and its settings."""
    service = current_app.extensions["vigie.assistance"]
    return Assistance(service, service.settings)


def count(outcome: str) -> None:
    """Count one member's outcome (``vigie_assistance_requests_total{outcome}``)."""
    assistance().service.count(outcome)


def page(template: str, status: int = 200, **values: Any):
    """A page of the assistance path."""
    return render_template(template, settings=assistance().settings, **values), status


@bp.before_request
def _bounded():
    """Bodies of the forms without files are small: a larger one is refused before it is
    read (the request form has its own limits: :mod:`dashboard.assistance.send`)."""
    if request.method == "POST" and request.endpoint != "assistance.send":
        if request.content_length is None:
            return refusal(411, gettext("This form was sent without its length. Send it "
                                        "again from the page."))
        if request.content_length > MAX_FORM:
            return refusal(413, gettext("This form is too large. Shorten your text and send "
                                        "it again."))
    return None


@bp.after_request
def _private(response):
    if request.endpoint == "assistance.static":  # the proof of work's script: cacheable
        return response
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return csrf.send_cookie(response)


@bp.app_template_global("assistance_csrf")
def _csrf_token() -> str:
    return csrf.token()


def refusal(code: int, message: str, back: str | None = None):
    """A page saying why the member's form was refused, with a way back."""
    return page("assistance/refused.html", code, code=code, message=message, back=back)


def csrf_message(problem: str) -> str:
    """What to tell the member whose form failed the CSRF check (see
    :func:`dashboard.visitor_csrf.message`)."""
    return visitor_csrf.message(problem)


#: how members know the image formats
FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}
MB = 1024 * 1024


def size_words(size: int, lang: str) -> str:
    """A file size in megabytes, the language's way (``5 Mo``, ``5 MB``, ``0,5 Mo``)."""
    from babel.units import format_unit

    value = round(size / MB, 1)
    return format_unit(int(value) if value == int(value) else value, "digital-megabyte",
                       length="short", locale=lang)


@bp.app_template_global("screenshot_limits")
def _screenshot_limits(limits) -> str:
    """The screenshot limits in one sentence (the file field's hint)."""
    from babel.lists import format_list

    from dashboard.i18n import ngettext, select_language

    lang = select_language()
    formats = format_list([FORMAT_NAMES.get(f, f.upper()) for f in limits.formats],
                          style="or", locale=lang)
    return ngettext("At most %(num)d image (%(formats)s), of %(size)s at most.",
                    "Up to %(num)d images (%(formats)s), %(size)s each at most, %(total)s "
                    "in all.", limits.max_files, formats=formats,
                    size=size_words(limits.max_file_size, lang),
                    total=size_words(limits.max_total_size, lang))
