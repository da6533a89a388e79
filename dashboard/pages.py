"""Serving what the snapshot caches: one rendering per page, language and snapshot.

A public view calls :func:`cached_response` with a key and a function that renders the
body; the body is made once per snapshot (and gzip-compressed once for the browsers that
accept it), then served to every visitor until the data changes. The "last updated" time
changes more often than the snapshot (every stored result), so it is written into the
cached body at serving time in place of :data:`UPDATED` and :data:`UPDATED_ISO`.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
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
#: documents whose first sight is remembered for ``Last-Modified`` (see :class:`Versions`)
MAX_VERSIONS = 512


@dataclass
class Body:
    """A cached body, its gzip version and whether it holds the "last updated" stand-ins."""

    raw: bytes
    gzipped: bytes | None
    stamped: bool
    #: a digest of ``raw`` (made when first asked)
    digest: str | None = None

    def content_tag(self) -> str:
        """A digest of the body: the same bytes, the same tag, whatever the snapshot."""
        if self.digest is None:
            self.digest = hashlib.blake2b(self.raw, digest_size=12).hexdigest()
        return self.digest


class Versions:
    """When each document served by its content (calendars, a service's feed) was first
    seen with its current content: its ``Last-Modified``.

    A new content gets the current second, and always a later second than the content
    it replaces, so a client's ``If-Modified-Since`` never hides a change. Kept in memory
    (a restart dates every document anew: clients fetch it once more), for at most
    :data:`MAX_VERSIONS` documents (the oldest forgotten first).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._seen: OrderedDict[tuple, tuple[str, int]] = OrderedDict()
        self._lock = threading.Lock()

    def last_modified(self, key: tuple, tag: str) -> int:
        """The second the document ``key`` got its content ``tag``."""
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and seen[0] == tag:
                self._seen.move_to_end(key)
                return seen[1]
            at = int(self.clock())
            if seen is not None:
                at = max(at, seen[1] + 1)
            self._seen[key] = (tag, at)
            self._seen.move_to_end(key)
            while len(self._seen) > MAX_VERSIONS:
                self._seen.popitem(last=False)
            return at


@dataclass
class DashboardState:
    """What the dashboard's views share: configuration, store, snapshot cache, settings."""

    config: Any
    store: Any
    cache: SnapshotCache
    settings: DashboardSettings
    #: ``Last-Modified`` of the documents served by their content
    versions: Versions = field(init=False)

    def __post_init__(self) -> None:
        self.versions = Versions(self.cache.clock)

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
                    *, status: int = 200, max_age: int = 0,
                    by_content: bool = False) -> Response:
    """Serve the body cached under ``key`` (+ language) in the current snapshot.

    Adds a weak ETag (snapshot, language, last result), answers ``304`` to a matching
    ``If-None-Match``, and sends the precompressed body to clients accepting gzip. A body
    rendered without some of its details (see :func:`detail`) is served but not kept.

    :param by_content: the ETag is a digest of the body, and ``Last-Modified`` the time
        that body was first served (:class:`Versions`; ``If-Modified-Since`` answered
        too): for documents apps poll (calendars, feeds), which then stay ``304`` while
        only other parts of the page change. Not for bodies holding the "last updated"
        time.
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
    modified: int | None = None
    if by_content and not body.stamped:
        etag = f"{lang}-{body.content_tag()}"
        modified = st.versions.last_modified(body_key, etag)
    if status == 200 and _not_modified(etag, modified):
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
    if modified is not None:
        response.last_modified = modified
    if status == 200:
        request.environ["vigie.cacheable"] = True  # dashboard.fastpath may keep it whole
    return response


def _not_modified(etag: str, modified: int | None) -> bool:
    """The client has this version: its ``If-None-Match`` names the ETag, or (only when
    it sends none) its ``If-Modified-Since`` is not older than ``modified``."""
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag)
    since = request.if_modified_since
    return modified is not None and since is not None and modified <= since.timestamp()


def _incomplete(body: Body, status: int, mimetype: str) -> Response:
    """A page made without some of its details: served as it is, for this request only."""
    raw = _stamp(body.raw, select_language()) if body.stamped else body.raw
    return Response(raw, status=status, mimetype=mimetype,
                    headers={"Vary": "Accept-Language, Cookie, Accept-Encoding",
                             "Cache-Control": "no-store"})


def private_response(render: Callable[[], str | bytes]) -> Response:
    """A page rendered for this visitor alone (a signed-in volunteer sees more than
    members): served for this request only, never kept here, by dashboard.fastpath or by
    a shared cache."""
    response = _incomplete(_rendered(state().cache, render), 200, "text/html")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def page_context(current_url: str) -> dict[str, Any]:
    """Template variables every public page uses."""
    return {
        "UPDATED": UPDATED, "UPDATED_ISO": UPDATED_ISO, "current_url": current_url,
        "refresh_interval": int(current_app.config["REFRESH_INTERVAL"]),
        # durations of open incidents are counted to the snapshot's time
        "now": state().cache.get().built_at,
    }
