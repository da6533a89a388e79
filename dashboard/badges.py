"""SVG badges: a service's status or uptime (``/badges/<service>/status.svg``,
``/badges/<service>/uptime.svg``) and the overall status (``/badges/status.svg``).

Flat two-part badges in the style READMEs and wikis use; the text is in the request's
language, and the SVG names itself (``role="img"``, ``<title>``) for screen readers.
"""

from __future__ import annotations

from flask import Blueprint, abort
from dashboard.i18n import gettext
from markupsafe import escape

from dashboard.banner import overall_words
from dashboard.i18n import STATUS_LABELS, fmt_percent, select_language
from dashboard.pages import cached_response, snapshot

bp = Blueprint("badges", __name__, url_prefix="/badges")

#: right-hand colours with white text at 4.5:1 contrast or more
COLOURS = {
    "operational": "#1a7f37", "degraded": "#8a5a00", "partial_outage": "#b35900",
    "major_outage": "#c21f1f", "maintenance": "#1f5fbf", "unknown": "#5a5a5a",
}
BANNER_COLOURS = {"operational": "#1a7f37", "disturbed": "#b35900", "major": "#c21f1f",
                  "maintenance": "#1f5fbf", "unknown": "#5a5a5a"}
_NARROW = set("fijlrt.,:;!|'ï ")
_WIDE = set("mwMW%@")


def text_width(text: str) -> int:
    """Approximate width in pixels of ``text`` in 11 px Verdana/DejaVu Sans (the badge font)."""
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 3.6
        elif char in _WIDE:
            width += 10.0
        elif char.isupper() or char.isdigit():
            width += 7.6
        else:
            width += 6.6
    return int(width + 0.5)


def badge(label: str, value: str, colour: str) -> str:
    """A flat badge ``label | value`` as an SVG document."""
    left, right = text_width(label) + 12, text_width(value) + 12
    total = left + right
    label_e, value_e = escape(label), escape(value)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{label_e} : {value_e}">'
        f"<title>{label_e} : {value_e}</title>"
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        '<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2:.1f}" y="14" text-anchor="middle">{label_e}</text>'
        f'<text x="{left + right / 2:.1f}" y="14" text-anchor="middle">{value_e}</text>'
        "</g></svg>\n")


def _service(service_id: str):
    view = snapshot().data.services.get(service_id)
    if view is None:
        abort(404)
    return view


@bp.route("/<service_id>/status.svg")
def status(service_id: str):
    """The service's name and status."""
    view = _service(service_id)
    return cached_response(
        ("badge-status", service_id),
        lambda: badge(view.name.text(select_language()), str(STATUS_LABELS[view.status]),
                      COLOURS[view.status.label]),
        "image/svg+xml", max_age=60)


@bp.route("/<service_id>/uptime.svg")
def uptime(service_id: str):
    """The service's uptime over 90 days."""
    view = _service(service_id)

    def render():
        lang = select_language()
        value = fmt_percent(view.uptime, lang)
        colour = ("#5a5a5a" if view.uptime is None else "#1a7f37" if view.uptime >= 0.999
                  else "#8a5a00" if view.uptime >= 0.99 else "#c21f1f")
        return badge(gettext("uptime 90 days"), value, colour)
    return cached_response(("badge-uptime", service_id), render, "image/svg+xml", max_age=60)


@bp.route("/status.svg")
def overall():
    """The overall status of the page."""
    def render():
        data = snapshot().data
        words = overall_words(list(data.services.values()))
        return badge(gettext("status"), words, BANNER_COLOURS[data.banner])
    return cached_response(("badge-overall",), render, "image/svg+xml", max_age=60)
