"""A WSGI layer in front of Flask that answers repeated public requests from the snapshot.

A public page's body is already rendered once per snapshot and language
(:mod:`dashboard.pages`); this layer also keeps the whole finished response (status,
headers, body) per path, query, language and compression, so the next identical request
is answered without entering Flask at all: a dictionary look-up and a check of the
snapshot's freshness. Only responses that :func:`dashboard.pages.cached_response` marked
cacheable (public, no cookie) are kept; everything else (admin area, language switch,
errors, static files) always goes through Flask.

:meth:`FastPath.cached_answer` gives the same answers without calling Flask or waiting
for anything, so that Vigie's listener (:mod:`monitor.web`) can send them from its event
loop without a hop to a worker thread; it answers ``None`` (and the request goes to a
worker, through :meth:`FastPath.__call__`) when the response is not cached yet. A
snapshot due for its database check is still answered from: the check runs on the
snapshot's own thread (see :mod:`dashboard.snapshot`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from werkzeug.http import parse_date

from dashboard.i18n import COOKIE, choose_language
from dashboard.snapshot import Snapshot, SnapshotCache

log = logging.getLogger(__name__)

#: the environ key cached_response sets on responses this layer may keep
CACHEABLE = "vigie.cacheable"
#: path prefixes never answered from here
PASS_THROUGH = ("/admin", "/lang/", "/static/", "/healthz")


def _cookie_language(header: str) -> str | None:
    if COOKIE + "=" not in header:
        return None
    try:
        morsel = SimpleCookie(header).get(COOKIE)
    except Exception:  # a malformed cookie header is the client's problem, not ours
        return None
    return morsel.value if morsel else None


def _not_modified(environ: dict, etag: str, headers: list) -> bool:
    """The client has this response: its ``If-None-Match`` names the ETag, or (only when
    it sends none) its ``If-Modified-Since`` is not older than the ``Last-Modified`` of
    a response served by content (dashboard.pages.cached_response)."""
    asked = environ.get("HTTP_IF_NONE_MATCH")
    if asked:
        return bool(etag) and etag in asked
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if not since:
        return False
    modified = next((value for name, value in headers if name == "Last-Modified"), None)
    if modified is None:
        return False
    since_at, modified_at = parse_date(since), parse_date(modified)
    return since_at is not None and modified_at is not None and modified_at <= since_at


class FastPath:
    """WSGI middleware answering from the snapshot's response cache."""

    def __init__(self, app: Callable, cache: SnapshotCache, default_language: str, *,
                 personal_paths: tuple[str, ...] = (), session_cookie: str = "session"
                 ) -> None:
        self.app = app
        self.cache = cache
        self.default_language = default_language
        #: path prefixes whose page differs for a signed-in volunteer: a request carrying
        #: the volunteers' session cookie there always goes through Flask
        self.personal_paths = personal_paths
        self._session_cookie = session_cookie + "="

    def _key(self, environ: dict) -> tuple:
        """The cache key of a request: language, compression, host and scheme, path, query."""
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        asked = parse_qs(query).get("lang", [None])[0] if "lang=" in query else None
        lang = choose_language(asked, _cookie_language(environ.get("HTTP_COOKIE", "")),
                               environ.get("HTTP_ACCEPT_LANGUAGE"), self.default_language)
        gzipped = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        # the host and scheme too: the feed's absolute links use them when no public_url is set
        return ("response", lang, gzipped, environ.get("wsgi.url_scheme"),
                environ.get("HTTP_HOST"), environ.get("SCRIPT_NAME", ""), path, query)

    def _answerable(self, environ: dict) -> bool:
        path = environ.get("PATH_INFO", "")
        if self.personal_paths and path.startswith(self.personal_paths) and \
                self._session_cookie in environ.get("HTTP_COOKIE", ""):
            return False
        return environ.get("REQUEST_METHOD") == "GET" and not path.startswith(PASS_THROUGH)

    @staticmethod
    def _found(snap: Snapshot, key: tuple, environ: dict, last: float | None) -> tuple | None:
        """``(status, headers, body)`` kept for ``key`` and made with the newest result at
        ``last`` (a 304 when the client already has it), else ``None``."""
        found = snap.cached(key, lambda: None)
        if found is None or found[0] != last:
            return None
        _, status, headers, body, etag = found
        if _not_modified(environ, etag, headers):
            return ("304 Not Modified",
                    [h for h in headers if h[0] in ("ETag", "Vary", "Cache-Control")], b"")
        return status, headers, body

    def cached_answer(self, environ: dict) -> tuple[str, list, bytes] | None:
        """The whole response from memory, or ``None``; never blocks (see the module)."""
        if not self._answerable(environ):
            return None
        snap = self.cache.peek()
        if snap is None:
            return None
        return self._found(snap, self._key(environ), environ, self.cache.last_result_at)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not self._answerable(environ):
            return self.app(environ, start_response)
        try:
            snap = self.cache.get()
        except Exception:  # the database is down and nothing was ever built: Flask says so
            return self.app(environ, start_response)
        key, last = self._key(environ), self.cache.last_result_at
        found = self._found(snap, key, environ, last)
        if found is not None:
            status, headers, body = found
            start_response(status, headers)
            return [body] if body else []
        return self._through(environ, start_response, snap, key, last)

    def _through(self, environ, start_response, snap, key, last) -> Iterable[bytes]:
        """Let Flask answer; keep the response when it is a cacheable 200."""
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info) if exc_info else (lambda data: None)

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = captured["status"], captured["headers"]
        names = {name.lower() for name, _ in headers}
        if environ.get(CACHEABLE) and status.startswith("200") and "set-cookie" not in names:
            etag = next((value for name, value in headers if name == "ETag"), "")
            snap.put(key, (last, status, headers, body, etag))
        start_response(status, headers)
        return [body]
