"""``server.engine: waitress``: the same apps served by waitress instead of Vigie's listener.

Vigie's own listener (:class:`monitor.web.WebServer`, aiohttp's server parts) is the
default because it is faster and guards more (head and body timeouts, connections per
address, body memory, descriptor reserve, per-path threads, answers from memory). This
engine is its library twin: the Router (``/metrics``, ``/healthz``, the dashboard and the
plugins' routes) served by waitress, for an operator who wants to rule the listener out.
``tests/monitor/test_listener_twins.py`` sends the same requests to both.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

from monitor import wsgi
from monitor.config import ListenerLimits, PathSettings
from monitor.connections import ListenerStats

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def _always(app: WSGIApp) -> WSGIApp:
    """``app`` with the headers every answer of Vigie's listener carries
    (:data:`monitor.wsgi.ALWAYS`), unless the app set them itself."""

    def with_headers(environ: dict, start_response: Callable) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            given = {name.lower() for name, _ in headers}
            extra = [(k, v) for k, v in wsgi.ALWAYS.items() if k.lower() not in given]
            return start_response(status, [*headers, *extra], exc_info)

        return app(environ, start)

    return with_headers


class WaitressServer:
    """waitress serving ``router`` in a background thread, started and stopped like
    :class:`monitor.web.WebServer` (same arguments; those waitress has no use for are
    accepted and left aside, see docs/configuration.md)."""

    def __init__(self, router: WSGIApp, host: str, port: int, threads: int = 8, *,
                 trusted_proxy: str | None = None,
                 trusted_proxy_headers: Iterable[str] = (),
                 limits: ListenerLimits | None = None,
                 paths: Mapping[str, PathSettings] | None = None,
                 stats: ListenerStats | None = None,
                 **_unused: Any) -> None:
        self.limits = limits or ListenerLimits()
        self.stats = stats or ListenerStats()
        # one body limit for every path: the largest, so what a path accepts on Vigie's
        # listener (e.g. the admin's forms) is not refused here
        max_body = max([self.limits.max_body,
                        *(p.max_body for p in (paths or {}).values() if p.max_body is not None)])
        proxy: dict[str, Any] = {}
        if trusted_proxy is not None:
            proxy = {"trusted_proxy": trusted_proxy, "trusted_proxy_count": 1,
                     "trusted_proxy_headers": set(trusted_proxy_headers) or {"x-forwarded-for"}}
        self._map: dict[int, Any] = {}
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._server = create_server(
            _always(router), map=self._map, listen=listen, threads=max(1, threads),
            ident=wsgi.SERVER_NAME, clear_untrusted_proxy_headers=True,
            log_untrusted_proxy_headers=False, max_request_body_size=max_body,
            connection_limit=self.limits.max_connections, backlog=1024,
            channel_timeout=max(1, math.ceil(self.limits.keepalive_timeout)), **proxy)
        self._thread = threading.Thread(target=self._server.run, name="vigie-web", daemon=True)

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 was asked)."""
        return int(self._server.effective_port)

    def start(self) -> None:
        """Start serving in the background."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting requests, close every connection and wait for the threads."""
        if self._thread.is_alive():
            # closed from waitress's own loop (its map is not thread-safe); the loop ends
            # once nothing is left in it
            self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._map))
            self._thread.join(timeout)
        else:
            wasyncore.close_all(self._map)
        self._server.task_dispatcher.shutdown(timeout=timeout)
