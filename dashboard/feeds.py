"""Feeds and calendars: the Atom feed of incidents and maintenance (``/feed.atom``, also
``/history.atom``), one per service (``/services/<id>.atom``), and the maintenance
calendars (``/maintenance.ics``, ``/services/<id>.ics``).

Feed: one entry per incident (updated with each timeline entry) and one per maintenance
occurrence; feed readers and forum bots follow the status page through it. Addresses are
absolute: the site's ``public_url`` when configured, else the address the request used.

Texts are made safe when they are written (:mod:`monitor.safetext`); the feed still drops
every character XML 1.0 forbids when it is rendered, so a row stored by an older version
cannot make the feed unreadable for every subscriber.

Calendars (:mod:`dashboard.calendars`): in the site's language (French) unless
``?lang=`` says otherwise (a subscription's address says its language: an app's own
language or cookies never change it). They are
read when asked for, off the request path, and never served empty or partial: when the
database cannot say now, the answer is ``503`` and the app keeps its copy. A service's
feed and calendars, like the calendars, are served by content (``ETag`` a digest,
``Last-Modified`` when that content was first served), so apps polling them get ``304``
until what they show changes.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, g, render_template, request

from dashboard import calendars, reads
from dashboard.i18n import LANGUAGES, gettext, select_language
from dashboard.pages import cached_response, detail, snapshot, state
from dashboard.status import service_incidents

bp = Blueprint("feeds", __name__)

#: entries of each kind in the feed
MAX_ENTRIES = 50
#: a character XML 1.0 forbids (one of them breaks the whole document)
NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: seconds a calendar app is asked to wait when the calendar cannot be read now
RETRY_AFTER = 300


@bp.app_template_global("calendar_address")
def calendar_address(service_id: str | None = None, *, webcal: bool = False) -> str | None:
    """A calendar's address in the page's language: a path on this site, or with
    ``webcal`` the ``webcal://`` address that opens the visitor's calendar app (only with
    ``site.public_url``: a cached page never holds the host a request named)."""
    path = "/maintenance.ics" if service_id is None else f"/services/{service_id}.ics"
    path += _lang_query(select_language())
    if not webcal:
        return path
    public = current_app.config.get("PUBLIC_URL")
    if not public or not public.startswith(("https://", "http://")):
        return None
    return "webcal://" + public.split("://", 1)[1] + path


def _lang_query(lang: str) -> str:
    """``?lang=…`` when ``lang`` is not the site's language (a calendar's address says
    its language)."""
    return "" if lang == current_app.config["DEFAULT_LANGUAGE"] else f"?lang={lang}"


def _base() -> str:
    return current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")


@bp.route("/feed.atom")
@bp.route("/history.atom")
def atom():
    """Incidents and maintenance, newest change first."""
    base = _base()

    def render():
        data = snapshot().data
        incidents = sorted((*data.open_incidents, *data.recent_incidents),
                           key=lambda i: i.updated_at, reverse=True)[:MAX_ENTRIES]
        windows = [*data.active_maintenance, *data.upcoming_maintenance,
                   *data.past_maintenance][:MAX_ENTRIES]
        return _feed(data, base, incidents, windows, "/feed.atom", "/", None)
    return cached_response(("atom", base), render, "application/atom+xml")


@bp.route("/services/<service_id>.atom")
def service_atom(service_id: str):
    """One service's incidents and maintenance, newest change first."""
    snap = snapshot()
    service = snap.data.services.get(service_id)
    if service is None:
        abort(404)
    base = _base()

    def render():
        data = snap.data
        with_incidents = state().cache.incidents_available
        found = detail(("service-incidents", service_id),
                       lambda conn: service_incidents(conn, service_id, with_incidents))
        # the snapshot's open incidents carry their whole public timeline
        incidents = {i.id: i for i in (found if found is not None else data.recent_incidents)
                     if service_id in i.service_ids}
        incidents.update({i.id: i for i in data.open_incidents if service_id in i.service_ids})
        ordered = sorted(incidents.values(), key=lambda i: i.updated_at,
                         reverse=True)[:MAX_ENTRIES]
        windows = [w for w in (*data.active_maintenance, *data.upcoming_maintenance,
                               *data.past_maintenance) if w.covers(service_id)][:MAX_ENTRIES]
        return _feed(data, base, ordered, windows, f"/services/{service_id}.atom",
                     f"/services/{service_id}", service.name.text(select_language()))
    return cached_response(("service-atom", service_id, base), render,
                           "application/atom+xml", by_content=True)


def _feed(data, base: str, incidents, windows, path: str, page: str,
          service: str | None) -> str:
    stamps = [i.updated_at for i in incidents]
    stamps += [w.starts_at for w in windows if w.starts_at <= data.built_at]
    updated = max(stamps, default=data.built_at)
    return NOT_XML.sub("", render_template(
        "feeds/atom.xml", data=data, base=base, incidents=incidents, windows=windows,
        updated=updated, lang=select_language(), feed_path=path, page_path=page,
        service=service))


@bp.route("/maintenance.ics")
def maintenance_calendar():
    """Every planned maintenance window of every service, as a calendar."""
    return _calendar(None)


@bp.route("/services/<service_id>.ics")
def service_calendar(service_id: str):
    """The maintenance windows covering one service, as a calendar."""
    if service_id not in snapshot().data.services:
        abort(404)
    return _calendar(service_id)


def _calendar(service_id: str | None) -> Response:
    asked = request.args.get("lang")
    # the address alone says the language: never the app's Accept-Language or a cookie
    g.vigie_lang = asked if asked in LANGUAGES else current_app.config["DEFAULT_LANGUAGE"]
    base, snap = _base(), snapshot()
    now = snap.built_at
    if state().cache.incidents_available:
        windows = detail(("calendar",), lambda conn: reads.calendar_windows(conn, now))
        if windows is None:
            # an empty calendar would make every app delete the member's events
            return Response(gettext("The calendar cannot be read right now. Please try "
                                    "again in a few minutes."), status=503,
                            mimetype="text/plain", headers={"Retry-After": str(RETRY_AFTER),
                                                            "Cache-Control": "no-store"})
    else:
        windows = []
    data = snap.data
    lang = select_language()
    site = current_app.config["SITE_TITLE"].text(lang)
    names = {sid: s.name.text(lang) for sid, s in data.services.items()}
    if service_id is None:
        shown = windows
        name = gettext("%(site)s: planned maintenance", site=site)
        description = gettext("Planned maintenance of every service of %(site)s.", site=site)
        path = "/maintenance.ics"
    else:
        shown = [w for w in windows if w.covers(service_id)]
        name = gettext("%(service)s: planned maintenance (%(site)s)",
                       service=names[service_id], site=site)
        description = gettext("Planned maintenance of %(service)s (%(site)s).",
                              service=names[service_id], site=site)
        path = f"/services/{service_id}.ics"
    source = base + path + _lang_query(lang)

    def render() -> bytes:
        return calendars.render(shown, lang=lang, name=name, description=description,
                                base=base, source=source, service_names=names, now=now)
    return cached_response(("ics", service_id, base), render, "text/calendar",
                           by_content=True)
