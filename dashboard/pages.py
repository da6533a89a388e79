"""Serving what the snapshot caches: one rendering per page, language and snapshot.

A public view calls :func:`cached_response` with a key and a function that renders the
body; the body is made once per snapshot (and gzip-compressed once for the browsers that
accept it), then served to every visitor until the data changes. The "last updated" time
changes more often than the snapshot (every stored result), so it is written into the
cached body at serving time in place of :data:`UPDATED` and :data:`UPDATED_ISO`.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, g, request

from dashboard.i18n import fmt_datetime, iso, select_language
from dashboard.settings import DashboardSettings
from dashboard.snapshot import Snapshot, SnapshotCache

#: stand-ins replaced at serving time by the time of the newest result
UPDATED = "\u2060@@vigie-updated@@\u2060"
UPDATED_ISO = "@@vigie-updated-iso@@"
_UPDATED_B = UPDATED.encode()
_UPDATED_ISO_B = UPDATED_ISO.encode()
#: bodies smaller than this are not worth compressing
GZIP_MIN = 1024


@dataclass
class Body:
    """A cached body, its gzip version and whether it holds the "last updated" stand-ins."""

    raw: bytes
    gzipped: bytes | None
    stamped: bool


@dataclass
class DashboardState:
    """What the dashboard's views share: configuration, store, snapshot cache, settings."""

    config: Any
    store: Any
    cache: SnapshotCache
    settings: DashboardSettings

    @property
    def zone(self):
        """The site's time zone."""
        return self.cache.zone


def state() -> DashboardState:
    """The current app's :class:`DashboardState`."""
    return current_app.extensions["vigie"]


def snapshot() -> Snapshot:
    """The current snapshot (see :class:`dashboard.snapshot.SnapshotCache`)."""
    return state().cache.get()


def detail(key: Any, read: Callable[[Any], Any]) -> Any:
    """A value the snapshot does not hold (see :meth:`SnapshotCache.detail`), or None when
    the database cannot give it now; then the page being rendered is marked incomplete
    (served, but neither cached nor kept by dashboard.fastpath)."""
    st = state()
    value = st.cache.detail(st.cache.get(), key, read)
    if value is None:
        g.vigie_incomplete = True
    return value


def _make_body(text: str | bytes) -> Body:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    stamped = _UPDATED_B in raw or _UPDATED_ISO_B in raw
    compress = len(raw) >= GZIP_MIN and not stamped  # stamped bodies are compressed later
    return Body(raw, gzip.compress(raw, compresslevel=6, mtime=0) if compress else None, stamped)


def _rendered(cache: SnapshotCache, render: Callable[[], str | bytes]) -> Body:
    body = _make_body(render())
    cache.settle()
    return body


def _stamp(raw: bytes, lang: str) -> bytes:
    st = state()
    at = st.cache.last_result_at or st.cache.get().built_at
    return raw.replace(_UPDATED_B, fmt_datetime(at, lang, st.zone, "MMMdHm").encode()).replace(
        _UPDATED_ISO_B, iso(at).encode())


def cached_response(key: tuple, render: Callable[[], str | bytes], mimetype: str = "text/html",
                    *, status: int = 200, max_age: int = 0) -> Response:
    """Serve the body cached under ``key`` (+ language) in the current snapshot.

    Adds a weak ETag (snapshot, language, last result), answers ``304`` to a matching
    ``If-None-Match``, and sends the precompressed body to clients accepting gzip. A body
    rendered without some of its details (see :func:`detail`) is served but not kept.
    """
    st = state()
    snap = st.cache.get()
    lang = select_language()
    body_key = ("body", lang, *key)
    body = snap.cached(body_key, lambda: None)
    if body is None:
        body = _rendered(st.cache, render)
        if g.get("vigie_incomplete"):
            return _incomplete(body, status, mimetype)
        snap.put(body_key, body)
    last = st.cache.last_result_at or 0
    etag = f"{snap.tag}-{lang}-{int(last)}"
    headers = {"Vary": "Accept-Language, Cookie, Accept-Encoding",
               "Cache-Control": f"public, max-age={max_age}, must-revalidate"}
    if status == 200 and request.if_none_match.contains_weak(etag):
        response = Response(status=304, headers=headers)
        response.set_etag(etag, weak=True)
        return response
    if body.stamped:
        # one stamped copy per page and language, replaced when a newer result arrives
        stamped_key = ("stamped", lang, *key)
        found = snap.cached(stamped_key, lambda: None)
        if found is None or found[0] != last:
            raw = _stamp(body.raw, lang)
            gz = gzip.compress(raw, compresslevel=6, mtime=0) if len(raw) >= GZIP_MIN else None
            found = (last, raw, gz)
            snap.put(stamped_key, found)
        raw, gz = found[1], found[2]
    else:
        raw, gz = body.raw, body.gzipped
    if gz is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        response = Response(gz, status=status, mimetype=mimetype, headers=headers)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(raw, status=status, mimetype=mimetype, headers=headers)
    response.set_etag(etag, weak=True)
    if status == 200:
        request.environ["vigie.cacheable"] = True  # dashboard.fastpath may keep it whole
    return response


def _incomplete(body: Body, status: int, mimetype: str) -> Response:
    """A page made without some of its details: served as it is, for this request only."""
    raw = _stamp(body.raw, select_language()) if body.stamped else body.raw
    return Response(raw, status=status, mimetype=mimetype,
                    headers={"Vary": "Accept-Language, Cookie, Accept-Encoding",
                             "Cache-Control": "no-store"})


def page_context(current_url: str) -> dict[str, Any]:
    """Template variables every public page uses."""
    return {
        "UPDATED": UPDATED, "UPDATED_ISO": UPDATED_ISO, "current_url": current_url,
        "refresh_interval": int(current_app.config["REFRESH_INTERVAL"]),
        # durations of open incidents are counted to the snapshot's time
        "now": state().cache.get().built_at,
    }
