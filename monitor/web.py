"""Vigie's HTTP listener: ``/metrics``, ``/healthz`` and the WSGI apps plugins mount.

A production WSGI server (waitress) runs in its own threads, so a slow client or a slow
page never touches the event loop that runs the checks. Plugins (the dashboard, the
heartbeat receiver…) mount their WSGI applications under a path prefix.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from waitress.server import create_server

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def _plain(status: str, body: bytes, content_type: str, start_response: Callable) -> list[bytes]:
    start_response(status, [("Content-Type", content_type),
                            ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store")])
    return [body]


class Router:
    """Dispatches requests by path prefix, longest prefix first.

    ``/metrics`` and ``/healthz`` are built in; everything else goes to mounted apps, the
    app mounted at ``/`` (the dashboard) catching the rest.
    """

    def __init__(self, metrics: Callable[[], bytes], health: Callable[[], dict[str, Any]],
                 metrics_content_type: str) -> None:
        self._metrics = metrics
        self._health = health
        self._metrics_type = metrics_content_type
        self._mounts: list[tuple[str, WSGIApp]] = []

    def mount(self, prefix: str, app: WSGIApp) -> None:
        """Serve ``app`` for every path under ``prefix`` (``/`` for the catch-all)."""
        prefix = "/" + prefix.strip("/")
        if prefix in {"/metrics", "/healthz"} or any(p == prefix for p, _ in self._mounts):
            raise ValueError(f"path prefix {prefix!r} is already taken")
        self._mounts.append((prefix, app))
        self._mounts.sort(key=lambda m: len(m[0]), reverse=True)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
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


class WebServer:
    """A waitress server running the :class:`Router` in a background thread.

    Behind a reverse proxy, give its address as ``trusted_proxy`` (and the headers it sets
    as ``trusted_proxy_headers``, see ``server.trusted_proxy`` in the configuration):
    waitress then takes the visitor's address from ``X-Forwarded-For`` and the scheme from
    ``X-Forwarded-Proto`` for that peer only. Proxy headers from any other peer are
    removed, so nobody can pose as a proxy.
    """

    def __init__(self, router: Router, host: str, port: int, threads: int = 8, *,
                 trusted_proxy: str | None = None,
                 trusted_proxy_headers: Iterable[str] = ()) -> None:
        proxy: dict[str, Any] = {}
        if trusted_proxy:
            proxy = {"trusted_proxy": trusted_proxy,
                     "trusted_proxy_headers": set(trusted_proxy_headers) or {"x-forwarded-for"}}
        self._server = create_server(router, host=host, port=port, threads=threads,
                                     ident="vigie", clear_untrusted_proxy_headers=True, **proxy)
        self._thread = threading.Thread(target=self._serve, name="vigie-web", daemon=True)
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 was asked)."""
        return int(self._server.effective_port)

    def _serve(self) -> None:
        # waitress's own run() loops until its socket map is empty; we loop until asked to
        # stop and then close every socket from this thread, so no other thread ever closes
        # a descriptor the loop is polling (which gives EBADF tracebacks).
        server = self._server
        socket_map = server._map
        while not self._stopping.is_set():
            server.asyncore.loop(timeout=0.5, map=socket_map, use_poll=True, count=1)
        for channel in list(socket_map.values()):
            try:
                channel.close()
            except OSError:
                pass
        server.task_dispatcher.shutdown()

    def start(self) -> None:
        """Start serving in the background."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting requests and wait for the server thread."""
        self._stopping.set()
        if self._thread.is_alive():
            self._server.trigger.pull_trigger()  # wake the loop at once
            self._thread.join(timeout)
        else:
            self._server.close()
