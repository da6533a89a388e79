"""The Atom feed of incidents and maintenance (``/feed.atom``, also ``/history.atom``).

One entry per incident (updated with each timeline entry) and one per maintenance
occurrence; feed readers and forum bots follow the status page through it. Addresses are
absolute: the site's ``public_url`` when configured, else the address the request used.

Texts are made safe when they are written (:mod:`monitor.safetext`); the feed still drops
every character XML 1.0 forbids when it is rendered, so a row stored by an older version
cannot make the feed unreadable for every subscriber.
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, render_template, request

from dashboard.i18n import select_language
from dashboard.pages import cached_response, snapshot

bp = Blueprint("feeds", __name__)

#: entries of each kind in the feed
MAX_ENTRIES = 50
#: a character XML 1.0 forbids (one of them breaks the whole document)
NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@bp.route("/feed.atom")
@bp.route("/history.atom")
def atom():
    """Incidents and maintenance, newest change first."""
    base = current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")

    def render():
        data = snapshot().data
        incidents = sorted((*data.open_incidents, *data.recent_incidents),
                           key=lambda i: i.updated_at, reverse=True)[:MAX_ENTRIES]
        windows = [*data.active_maintenance, *data.upcoming_maintenance,
                   *data.past_maintenance][:MAX_ENTRIES]
        stamps = [i.updated_at for i in incidents]
        stamps += [w.starts_at for w in windows if w.starts_at <= data.built_at]
        updated = max(stamps, default=data.built_at)
        return NOT_XML.sub("", render_template(
            "feeds/atom.xml", data=data, base=base, incidents=incidents, windows=windows,
            updated=updated, lang=select_language()))
    return cached_response(("atom", base), render, "application/atom+xml")
