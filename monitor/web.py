"""Vigie's HTTP listener: ``/metrics``, ``/healthz`` and the WSGI apps plugins mount.

An aiohttp server runs on its own event loop in its own thread, so a slow client or a
slow page never touches the event loop that runs the checks. Plugins (the dashboard, the
heartbeat receiver…) mount their WSGI applications under a path prefix; their requests run
in a pool of worker threads. A mounted app may also answer some requests straight from
memory on the listener's loop (``cached_answer``, see :class:`Router`): the status page's
cached responses then cost no thread hop, which is what keeps its tail latency low under
many connections (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# the server parts only: all of aiohttp.web (router, application…) is 1.3 MB more memory
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from aiohttp.web_server import Server
from waitress.proxy_headers import proxy_headers_middleware

from monitor import wsgi

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
#: ``cached_answer(environ)``: a whole response from memory, or ``None``. Called on the
#: listener's event loop, so it must never block (no database, no file, no lock held long)
CachedAnswer = Callable[[dict], "wsgi.Answer | None"]
#: the environ key set when no cached answer was found
_MISS = "vigie.cache_miss"


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


class WebServer:
    """An aiohttp server running ``app`` (usually the :class:`Router`) in a background
    thread, with ``threads`` worker threads for the WSGI calls.

    Behind a reverse proxy, give its address as ``trusted_proxy`` (and the headers it sets
    as ``trusted_proxy_headers``, see ``server.trusted_proxy`` in the configuration): the
    visitor's address is then taken from ``X-Forwarded-For`` and the scheme from
    ``X-Forwarded-Proto`` for that peer only. Proxy headers from any other peer are
    removed, so nobody can pose as a proxy. (This is waitress's own proxy middleware, as
    when waitress served these apps.)
    """

    def __init__(self, router: WSGIApp, host: str, port: int, threads: int = 8, *,
                 trusted_proxy: str | None = None,
                 trusted_proxy_headers: Iterable[str] = ()) -> None:
        self._app = router
        self._lookup: CachedAnswer | None = getattr(router, "cached_answer", None)
        # the proxy headers are read (or removed) before anything else sees the request,
        # the cached answers included (their key holds the scheme and host)
        self._front = proxy_headers_middleware(
            self._dispatch, trusted_proxy=trusted_proxy, trusted_proxy_count=1,
            trusted_proxy_headers=(set(trusted_proxy_headers) or {"x-forwarded-for"})
            if trusted_proxy else None,
            clear_untrusted=True, log_untrusted=False, logger=log)
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        self._socket = socket.create_server((host, port), family=family, backlog=1024)
        self._socket.setblocking(False)
        self._server_name = host or socket.gethostname()
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="vigie-web")
        self._loop = _new_loop()
        self._stop_requested = False
        self._stopped: asyncio.Future | None = None
        self._thread = threading.Thread(target=self._serve, name="vigie-web", daemon=True)

    @property
    def port(self) -> int:
        """The port actually bound (useful when 0 was asked)."""
        return int(self._socket.getsockname()[1])

    # Requests -------------------------------------------------------------------------

    def _dispatch(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """Behind the proxy middleware: a cached answer, or mark the request for a worker."""
        answer = self._lookup(environ) if self._lookup is not None else None
        if answer is None:
            environ[_MISS] = True
            return []
        status, headers, body = answer
        start_response(status, headers)
        return [body]

    def _front_answer(self, environ: dict) -> wsgi.Answer | None:
        """The proxy middleware's or the cache's answer, or ``None`` for a worker."""
        started: list = []
        body = b"".join(self._front(environ, lambda status, headers, exc_info=None:
                                    started.append((status, headers))))
        if environ.get(_MISS) or not started:
            return None
        status, headers = started[-1]
        return status, headers, body

    async def _handle(self, request: BaseRequest) -> StreamResponse:
        if (request.method == "GET" and request.path == "/metrics"
                and getattr(self._app, "metrics_chunks", None) is not None):
            return await self._stream_metrics(request)
        environ = wsgi.environ_of(request, self._server_name, self.port)
        answer = self._front_answer(environ)
        if answer is None:
            body = await request.read()
            if body:
                wsgi.set_body(environ, body)
            answer = await self._loop.run_in_executor(self._pool, wsgi.call, self._app, environ)
        return await wsgi.respond(request, answer)

    async def _stream_metrics(self, request: BaseRequest) -> StreamResponse:
        """``/metrics`` sent piece by piece as the worker threads make them (chunked), so
        a large exposition is never held whole: each piece is made once the socket took
        the previous one."""
        pieces = iter(self._app.metrics_chunks())  # type: ignore[attr-defined]
        run = self._loop.run_in_executor
        try:
            first = await run(self._pool, next, pieces, None)
        except Exception:
            log.exception("error while rendering /metrics")
            return wsgi.to_response(wsgi.error_answer())
        response = StreamResponse(headers={
            "Content-Type": self._app.metrics_content_type,  # type: ignore[attr-defined]
            "Cache-Control": "no-store", "Server": wsgi.SERVER_NAME})
        await response.prepare(request)
        piece = first
        while piece is not None:
            if piece:
                await response.write(piece)
            piece = await run(self._pool, next, pieces, None)  # an error aborts the reply
        await response.write_eof()
        return response

    # Running --------------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except Exception:
            log.exception("the web server stopped on an error")
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopped = self._loop.create_future()
        if self._stop_requested:
            self._stopped.set_result(None)
        handler = Server(self._handle, access_log=None)
        server = await self._loop.create_server(handler, sock=self._socket, backlog=1024)
        try:
            await self._stopped
        finally:
            server.close()
            await handler.shutdown(timeout=2.0)
            await server.wait_closed()

    def _request_stop(self) -> None:
        self._stop_requested = True
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    def start(self) -> None:
        """Start serving in the background."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting requests and wait for the server thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._request_stop)
            self._thread.join(timeout)
        else:
            self._socket.close()
            if not self._loop.is_closed():
                self._loop.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def serve(app: WSGIApp, host: str, port: int, threads: int = 8, **proxy: Any) -> None:
    """Serve ``app`` in the foreground until Ctrl-C or SIGTERM (``vigie dashboard``);
    ``proxy``: ``trusted_proxy`` and ``trusted_proxy_headers`` (see :class:`WebServer`)."""
    server = WebServer(app, host, port, threads, **proxy)
    server.start()
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (and not turned off, see :mod:`monitor.loop`)."""
    from monitor.loop import loop_name

    if loop_name() == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()

