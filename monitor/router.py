"""The requests Vigie's listener dispatches: ``/metrics``, ``/healthz`` and the mounted apps.

:class:`Router` is one WSGI application in front of the WSGI apps plugins mount under a
path prefix (the dashboard at ``/`` catching the rest); whichever server runs it
(:mod:`monitor.web`, or its waitress twin) sees one app. A mounted app may also answer
some requests straight from memory (:data:`CachedAnswer`), which the server asks first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from monitor import wsgi

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
#: ``cached_answer(environ)``: a whole response from memory, or ``None``. Called on the
#: listener's event loop, so it must never block (no database, no file, no lock held long)
CachedAnswer = Callable[[dict], "wsgi.Answer | None"]
#: the paths answered by the router itself (the server gives them threads of their own)
OPS_PATHS = frozenset({"/metrics", "/healthz"})


_ONLY_GET = b"Only GET and HEAD are answered here\n"


def _plain(status: str, body: bytes, content_type: str, start_response: Callable) -> list[bytes]:
    start_response(status, [("Content-Type", content_type),
                            ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store")])
    return [body]


class Router:
    """Dispatches requests by path prefix, longest prefix first.

    ``/metrics`` and ``/healthz`` are built in; everything else goes to mounted apps, the
    app mounted at ``/`` (the dashboard) catching the rest. A mounted app with a
    ``cached_answer`` attribute (:data:`CachedAnswer`) is asked first, on the listener's
    loop, whether it can answer from memory.
    """

    def __init__(self, metrics: Callable[[], bytes], health: Callable[[], dict[str, Any]],
                 metrics_content_type: str, *,
                 metrics_chunks: Callable[[], Iterable[bytes]] | None = None) -> None:
        self._metrics = metrics
        self._health = health
        self._metrics_type = metrics_content_type
        #: the exposition in pieces, for a server that can send each before the next is
        #: made (:class:`WebServer` does, for ``GET /metrics``)
        self.metrics_chunks = metrics_chunks
        self._mounts: list[tuple[str, WSGIApp]] = []

    @property
    def metrics_content_type(self) -> str:
        """The ``Content-Type`` of ``/metrics``."""
        return self._metrics_type

    def mount(self, prefix: str, app: WSGIApp) -> None:
        """Serve ``app`` for every path under ``prefix`` (``/`` for the catch-all)."""
        prefix = "/" + prefix.strip("/")
        if prefix in {"/metrics", "/healthz"} or any(p == prefix for p, _ in self._mounts):
            raise ValueError(f"path prefix {prefix!r} is already taken")
        self._mounts.append((prefix, app))
        self._mounts.sort(key=lambda m: len(m[0]), reverse=True)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path in OPS_PATHS and environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [
                ("Content-Type", "text/plain; charset=utf-8"), ("Allow", "GET, HEAD"),
                ("Content-Length", str(len(_ONLY_GET))), ("Cache-Control", "no-store")])
            return [_ONLY_GET]
        if path == "/metrics":
            return _plain("200 OK", self._metrics(), self._metrics_type, start_response)
        if path == "/healthz":
            health = self._health()
            status = "200 OK" if health.get("ok") else "503 Service Unavailable"
            return _plain(status, json.dumps(health).encode(), "application/json", start_response)
        for prefix, app in self._mounts:
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                if prefix != "/":
                    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                    environ["PATH_INFO"] = path[len(prefix):]
                return app(environ, start_response)
        return _plain("404 Not Found", b"Not found\n", "text/plain; charset=utf-8", start_response)

    def cached_answer(self, environ: dict) -> wsgi.Answer | None:
        """The mounted app's answer from memory, if it has one (never blocks)."""
        path = environ.get("PATH_INFO", "") or "/"
        if path in ("/metrics", "/healthz"):
            return None
        for prefix, app in self._mounts:
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                answer = getattr(app, "cached_answer", None)
                if answer is None:
                    return None
                if prefix != "/":
                    # a copy: on a miss, __call__ adjusts the original itself
                    environ = {**environ, "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + prefix,
                               "PATH_INFO": path[len(prefix):]}
                return answer(environ)
        return None
