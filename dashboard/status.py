"""The public pages: overview, service, incidents, incident, maintenance.

Each view renders from the snapshot through :func:`dashboard.pages.cached_response`, so a
page is rendered once per language and data version, whoever asks. A service's chart and
history, and incidents older than the snapshot's list, are read when first asked for and
cached on the snapshot too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, abort, render_template, request, url_for
from dashboard.i18n import gettext
from markupsafe import Markup

from dashboard import bars, charts, locations, reads, rulewords
from dashboard.banner import banner
from dashboard.i18n import fmt_datetime, fmt_day, select_language
from dashboard.pages import (
    cached_response,
    detail,
    page_context,
    private_response,
    snapshot,
    state,
)
from monitor.markup import stored

bp = Blueprint("status", __name__)

#: chart ranges: (seconds shown, bucket seconds or None for daily rollups)
RANGES = {"24h": (86400, 900), "7d": (7 * 86400, 3600), "90d": (90 * 86400, None)}


@bp.app_template_filter("html")
def _html(html, text=None):
    """Stored safe HTML (a :class:`~dashboard.views.Html` pair in the page's language, or
    one string), made safe when the text was saved: never rendered here. A row stored
    without its HTML (None) shows its ``text`` escaped."""
    if hasattr(html, "text"):
        html = html.text(select_language())
    return Markup(stored(html, text))


@bp.app_template_global("bar_segments")
def _bar_segments(days):
    return bars.bar_segments(days, select_language())


@bp.app_template_global("bar_summary")
def _bar_summary(days):
    return bars.bar_summary(days, select_language())


@bp.app_template_global("banner")
def _banner(data):
    return banner(data, select_language())


@bp.app_template_global("bar_labels")
def _bar_labels(days):
    return bars.bar_labels(days, select_language())


@bp.app_template_global("same_day")
def _same_day(a: float, b: float) -> bool:
    """Two moments fall on the same day in the site's time zone (the second then needs
    no date: "5 avr. 2026, 06:00 → 06:30")."""
    zone = state().zone
    return datetime.fromtimestamp(a, zone).date() == datetime.fromtimestamp(b, zone).date()


@bp.app_template_global("rule_words")
def _rule_words(window):
    """A recurring window's rule in words (empty for a one-off window)."""
    if window.rule is None:
        return ""
    return rulewords.rule_words(window.rule, select_language(), window.timezone)


@bp.route("/")
def overview():
    """Banner, notices, open incidents, maintenance, services with their 90-day bars."""
    def render():
        data = snapshot().data
        return render_template("status/overview.html", data=data,
                               **page_context(url_for("status.overview")))
    return cached_response(("overview",), render)


@bp.route("/services/<service_id>")
def service(service_id: str):
    """A service: its checks, a response-time chart, its incidents and maintenance."""
    snap = snapshot()
    view = snap.data.services.get(service_id)
    if view is None:
        abort(404)
    selected = request.args.get("range", "24h")
    if selected not in RANGES:
        selected = "24h"
    # a signed-in volunteer also sees where each check fails (members: the consensus)
    places = None
    if locations.has_located_checks(service_id) and locations.volunteer_signed_in():
        grid = locations.grid()
        places = grid.for_service(service_id) if grid is not None else False

    def render():
        lang = select_language()
        # the reads run on another thread: what they need of the app is taken here
        zone, with_incidents = state().zone, state().cache.incidents_available
        chart_series = detail(("series", service_id, selected),
                              lambda conn: _series(conn, view, selected, snap.built_at, zone))
        incidents = detail(("service-incidents", service_id),
                           lambda conn: service_incidents(conn, service_id, with_incidents))
        chart = (_chart(view, chart_series, selected, snap.built_at, lang)
                 if chart_series is not None else (None, None))
        maintenance = [m for m in (*snap.data.active_maintenance,
                                   *snap.data.upcoming_maintenance,
                                   *snap.data.past_maintenance[:10]) if m.covers(service_id)]
        return render_template(
            "status/service.html", data=snap.data, service=view, chart=chart[0],
            legend=chart[1], ranges=list(RANGES), selected=selected, incidents=incidents,
            maintenance=maintenance, places=places,
            **page_context(url_for("status.service", service_id=service_id, range=selected)))
    if places is not None:
        return private_response(render)
    return cached_response(("service", service_id, selected), render)


@bp.route("/incidents")
def incidents():
    """Open incidents, then the recent history."""
    def render():
        return render_template("status/incidents.html", data=snapshot().data,
                               **page_context(url_for("status.incidents")))
    return cached_response(("incidents",), render)


@bp.route("/incidents/<int:incident_id>")
def incident(incident_id: int):
    """One incident: timeline, affected services, duration, links, post-mortem."""
    snap = snapshot()
    found = find_incident(incident_id)

    def render():
        return render_template("status/incident.html", data=snap.data, incident=found,
                               **page_context(url_for("status.incident",
                                                      incident_id=incident_id)))
    return cached_response(("incident", incident_id), render)


@bp.route("/maintenance")
def maintenance():
    """Maintenance in progress (windows, and services announcing it themselves), upcoming
    and past; a recurring window once, with its rule in words."""
    def render():
        return render_template("status/maintenance.html", data=snapshot().data,
                               **page_context(url_for("status.maintenance")))
    return cached_response(("maintenance",), render)


# Helpers -------------------------------------------------------------------------------------


def find_incident(incident_id: int):
    """An incident's full public view: from the snapshot when it is open, else read (a
    404 when there is none; a 503 when the database cannot say now)."""
    snap = snapshot()
    if not state().cache.incidents_available:
        abort(404)
    found = next((i for i in snap.data.open_incidents if i.id == incident_id), None)
    if found is None:
        # False: cached "no such incident"
        found = detail(("incident", incident_id),
                       lambda conn: reads.incident(conn, incident_id) or False)
    if found is None:
        abort(503)
    if not found:
        abort(404)
    return found


def service_incidents(conn, service_id: str, with_incidents: bool):
    """The 20 latest incidents of a service (its page, its feed), newest first."""
    if not with_incidents:
        return []
    return reads.incident_history(conn, service_id=service_id, limit=20)


def _series(conn, view, selected: str, now: float, zone) -> list[charts.Series]:
    """Median response time per bucket for each check over the selected range (seconds)."""
    span, bucket = RANGES[selected]
    keys = [c.key for c in view.checks]
    if bucket is None:
        first = datetime.fromtimestamp(now, zone).date() - timedelta(days=89)
        found = reads.daily_latency(conn, keys, first, zone)
    else:
        # buckets aligned on the bucket size, so that a rebuild draws the same points
        start = (now - span) // bucket * bucket
        found = reads.latency_series(conn, keys, start, now, bucket)
    return [charts.Series(c.key, found.get(c.key, [])) for c in view.checks]


def _ms(seconds: float, lang: str) -> str:
    from dashboard.i18n import fmt_number

    if seconds >= 1:
        return f"{fmt_number(seconds, lang, 1)} s"
    return f"{fmt_number(seconds * 1000, lang)} ms"


def _chart(view, series: list[charts.Series], selected: str, now: float, lang: str):
    """The SVG and its legend, with names and texts in ``lang``."""
    span, bucket = RANGES[selected]
    zone = state().zone
    names = {c.key: c.name.text(lang) for c in view.checks}
    named = [charts.Series(names.get(s.name, s.name), s.points) for s in series]
    since = now - span
    ticks = []
    local = datetime.fromtimestamp(since, zone)
    if selected == "24h":
        moment = local.replace(minute=0, second=0, microsecond=0)
        while moment.timestamp() <= now:
            if moment.timestamp() >= since and moment.hour % 4 == 0:
                ticks.append((moment.timestamp(),
                              fmt_datetime(moment.timestamp(), lang, zone, "Hm")))
            moment += timedelta(hours=1)
    else:
        step = 1 if selected == "7d" else 15
        day = local.date() + timedelta(days=1)
        while True:
            at = datetime.combine(day, datetime.min.time(), zone).timestamp()
            if at > now:
                break
            ticks.append((at, fmt_day(day, lang, "MMMd")))
            day += timedelta(days=step)
    range_names = {"24h": gettext("the last 24 hours"), "7d": gettext("the last 7 days"),
                   "90d": gettext("the last 90 days")}
    title = gettext("Response time of %(service)s over %(range)s",
                    service=view.name.text(lang), range=range_names[selected])
    sentences = []
    for line in named:
        values = [v for _, v in line.points]
        if values:
            sentences.append(gettext("%(check)s: median %(median)s, highest %(highest)s.",
                                     check=line.name, median=_ms(charts.median(values), lang),
                                     highest=_ms(max(values), lang)))
        else:
            sentences.append(gettext("%(check)s: no answer measured.", check=line.name))
    svg = charts.line_chart(
        named, since, now, title=title, desc=" ".join(sentences), x_ticks=ticks,
        y_format=lambda v: _ms(v, lang), gap=(bucket or 86400) * 2.5,
        chart_id=f"chart-{view.id}", empty_text=gettext("No measurement over this period"))
    return svg, charts.legend(named)
