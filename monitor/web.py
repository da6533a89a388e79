"""Vigie's HTTP listener: ``/metrics``, ``/healthz`` and the WSGI apps plugins mount.

An aiohttp server runs on its own event loop in its own thread, so a slow client or a
slow page never touches the event loop that runs the checks. Plugins (the dashboard, the
heartbeat receiver…) mount their WSGI applications under a path prefix
(:class:`~monitor.router.Router` dispatches them); their requests run in a pool of worker
threads. A mounted app may also answer some requests straight from memory on the
listener's loop (``cached_answer``): the status page's cached responses then cost no
thread hop, which is what keeps its tail latency low under many connections
(docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, Protocol

# the server parts only: all of aiohttp.web (router, application…) costs memory for
# nothing used here (import costs: docs/performance.md)
from aiohttp.web_protocol import RequestPayloadError
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from waitress.proxy_headers import proxy_headers_middleware

from monitor import wsgi
from monitor.bodies import Body, BodyBudget, BodyRefused, read_body, release, spool_body
from monitor.config import DEFAULT_PATHS, ListenerLimits, PathSettings
from monitor.connections import FloodTrim, Gate, ListenerStats, accept_loop
from monitor.heads import GuardedHandler, GuardedServer
from monitor.resources import Descriptors, raise_nofile_limit
from monitor.router import OPS_PATHS, CachedAnswer, WSGIApp

log = logging.getLogger(__name__)

#: the environ key set when no cached answer was found
_MISS = "vigie.cache_miss"
#: worker threads of their own for the router's paths (:data:`~monitor.router.OPS_PATHS`)
OPS_THREADS = 2
#: free file descriptors kept when nothing says how many (``vigie dashboard``)
DEFAULT_RESERVE = 64
#: seconds a refused request's unread body is read and dropped before the connection
#: closes, so the client can read the refusal instead of a reset connection
LINGER = 2.0


class WebServer:
    """An aiohttp server running ``app`` (usually the :class:`~monitor.router.Router`) in a
    background thread, with ``threads`` worker threads for the WSGI calls.

    Behind a reverse proxy, give its address as ``trusted_proxy`` (and the headers it sets
    as ``trusted_proxy_headers``, see ``server.trusted_proxy`` in the configuration): the
    visitor's address is then taken from ``X-Forwarded-For`` and the scheme from
    ``X-Forwarded-Proto`` for that peer only. Proxy headers from any other peer are
    removed, so nobody can pose as a proxy. (This is waitress's own proxy middleware, as
    when waitress served these apps.)

    ``limits`` (``server.limits``) bound what clients may hold: see
    :mod:`monitor.connections` for connections, :mod:`monitor.heads` for request heads,
    :mod:`monitor.bodies`
    for bodies. ``paths`` (``server.paths``) give a path prefix its own body limit and
    worker threads, and may have its bodies written to temporary files in ``spool_dir``
    (the data folder's ``spool``; the system's temporary folder when None) rather than
    held in memory. ``/metrics`` and ``/healthz`` always have threads of their own
    (:data:`OPS_THREADS`): no slow page or login can make a scrape wait. ``reserve``
    overrides ``limits.descriptor_reserve``; ``on_shortage`` is called (from the
    listener's thread) when the listener stops accepting for want of descriptors.
    """

    def __init__(self, router: WSGIApp, host: str, port: int, threads: int = 8, *,
                 trusted_proxy: str | None = None,
                 trusted_proxy_headers: Iterable[str] = (),
                 limits: ListenerLimits | None = None,
                 paths: Mapping[str, PathSettings] | None = None,
                 reserve: int | None = None, descriptors: Descriptors | None = None,
                 stats: ListenerStats | None = None,
                 on_shortage: Callable[[], None] | None = None,
                 spool_dir: Path | None = None) -> None:
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
        self.limits = limits or ListenerLimits()
        self.stats = stats or ListenerStats()
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="vigie-web")
        self._ops_pool = ThreadPoolExecutor(OPS_THREADS, thread_name_prefix="vigie-web-ops")
        #: writes (and closes) the spooled bodies' files, in order, off the loop
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="vigie-web-spool")
        self._spool_dir = spool_dir
        if spool_dir is not None:
            Path(spool_dir).mkdir(parents=True, exist_ok=True)
        self._routes = self._make_routes(DEFAULT_PATHS if paths is None else paths)
        self._trim = FloodTrim(self.stats)
        if reserve is None:
            reserve = self.limits.descriptor_reserve
        self._gate = Gate(self.limits, self.stats, trusted_proxy=trusted_proxy,
                          descriptors=descriptors,
                          reserve=DEFAULT_RESERVE if reserve is None else reserve,
                          on_pause=on_shortage, on_release=self._trim.check)
        self._on_shortage = on_shortage
        self._budget = BodyBudget(self.limits.body_memory, self.stats)
        self._loop = _new_loop()
        self._stop_requested = False
        self._stopped: asyncio.Future | None = None
        self._thread = threading.Thread(target=self._serve, name="vigie-web", daemon=True)

    def _make_routes(self, paths: Mapping[str, PathSettings]) -> list[_Route]:
        """One route per configured prefix (longest first), each with its body limit and
        its pool (its own threads, or the shared ones)."""
        routes = []
        for prefix, settings in paths.items():
            pool = self._pool
            if settings.threads:
                name = "vigie-web-" + (prefix.strip("/").replace("/", "-") or "root")
                pool = ThreadPoolExecutor(settings.threads, thread_name_prefix=name)
            max_body = self.limits.max_body if settings.max_body is None else settings.max_body
            routes.append(_Route("/" + prefix.strip("/"), max_body, pool, settings.spool))
        return sorted(routes, key=lambda r: len(r.prefix), reverse=True)

    def _route(self, path: str) -> tuple[int, ThreadPoolExecutor, bool]:
        """The body limit, the worker pool, and whether bodies are spooled, of a request
        for ``path``."""
        if path in OPS_PATHS:
            return self.limits.max_body, self._ops_pool, False
        for route in self._routes:
            if route.prefix == "/" or path == route.prefix or path.startswith(
                    route.prefix + "/"):
                return route.max_body, route.pool, route.spool
        return self.limits.max_body, self._pool, False

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
        if isinstance(request.protocol, GuardedHandler):
            request.protocol.request_started()  # a queued (pipelined) request starts now
        if (request.method == "GET" and request.path == "/metrics"
                and getattr(self._app, "metrics_chunks", None) is not None):
            return await self._stream_metrics(request)
        environ = wsgi.environ_of(request, self._server_name, self.port)
        answer = self._front_answer(environ)
        if answer is None:
            max_body, pool, spool = self._route(environ.get("PATH_INFO") or "/")
            body = None
            if request.body_exists:
                body = await self._read_body(request, max_body, spool)
                if isinstance(body, StreamResponse):
                    return body
            try:
                if body is not None:
                    wsgi.set_body(environ, body.stream, body.size)
                answer = await self._loop.run_in_executor(pool, wsgi.call, self._app, environ)
            finally:
                if body is not None:
                    release(body, self._budget, self._writer)
                    self._trim.check()
        return await wsgi.respond(request, answer)

    async def _read_body(self, request: BaseRequest, limit: int,
                         spool: bool) -> Body | StreamResponse:
        """The request's body (in memory, or ``spool``ed to a file), or the response
        refusing it (the connection then closes; in JSON for a client that accepts it)."""
        as_json = wsgi.accepts_json(request.headers.get("Accept"))

        def refuse(status: int, limit: int = 0) -> StreamResponse:
            return _refusal(status, limit, as_json)

        try:
            async with asyncio.timeout(self.limits.body_timeout):
                if spool:
                    try:
                        return await spool_body(request, limit, self._budget,
                                                folder=self._spool_dir, writer=self._writer)
                    except ConnectionError:
                        raise
                    except OSError as exc:  # the spool folder: full, gone, not writable
                        log.warning("a request body could not be written to %s: %s",
                                    self._spool_dir or "the temporary folder", exc)
                        # the rest of the body read and dropped (it is within the limit):
                        # a client still sending would otherwise lose the 503 to a reset
                        await _drain(request, limit)
                        return refuse(503)
                return await read_body(request, limit, self._budget)
        except TimeoutError:
            self.stats.timeouts["body"] += 1
            return refuse(408)
        except BodyRefused as refused:
            self.stats.requests_refused[refused.kind] += 1
            return refuse(refused.status, refused.limit)
        except (ConnectionError, RequestPayloadError):
            return refuse(400)  # the client left, or sent a malformed chunked body

    async def _stream_metrics(self, request: BaseRequest) -> StreamResponse:
        """``/metrics`` sent piece by piece as the worker threads make them (chunked), so
        a large exposition is never held whole: each piece is made once the socket took
        the previous one."""
        pieces = iter(self._app.metrics_chunks())  # type: ignore[attr-defined]  # the metrics app
        run = self._loop.run_in_executor
        try:
            first = await run(self._ops_pool, next, pieces, None)
        except Exception:
            log.exception("error while rendering /metrics")
            return wsgi.to_response(wsgi.error_answer())
        response = StreamResponse(headers={
            "Content-Type": self._app.metrics_content_type,  # type: ignore[attr-defined]  # the metrics app
            "Cache-Control": "no-store", "Server": wsgi.SERVER_NAME, **wsgi.ALWAYS})
        await response.prepare(request)
        piece = first
        while piece is not None:
            if piece:
                await response.write(piece)
            piece = await run(self._ops_pool, next, pieces, None)  # an error aborts the reply
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
        limits = self.limits
        server = GuardedServer(self._handle, gate=self._gate, head_timeout=limits.head_timeout,
                               access_log=None, keepalive_timeout=limits.keepalive_timeout,
                               lingering_time=min(LINGER, limits.body_timeout))
        accepting = self._loop.create_task(
            accept_loop(self._socket, self._gate, server, self._on_shortage),
            name="vigie-web-accept")
        try:
            await self._stopped
        finally:
            accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await accepting
            self._socket.close()
            await server.shutdown(timeout=2.0)

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
        for pool in {self._pool, self._ops_pool, *(r.pool for r in self._routes)}:
            pool.shutdown(wait=False, cancel_futures=True)
        self._writer.shutdown(wait=False)  # the spooled files still open get closed


class _Route(NamedTuple):
    prefix: str
    max_body: int
    pool: ThreadPoolExecutor
    spool: bool = False



async def _drain(request: BaseRequest, limit: int) -> None:
    """Read and drop what is left of ``request``'s body, ``limit`` bytes at most."""
    seen = 0
    while seen <= limit and (chunk := await request.content.readany()):
        seen += len(chunk)

def _refusal(status: int, limit: int = 0, as_json: bool = False) -> StreamResponse:
    """The listener's refusal as a response that closes the connection."""
    response = wsgi.to_response(wsgi.refusal(status, limit, as_json))
    response.force_close()
    return response


class Listener(Protocol):
    """What :func:`make_listener` returns: a server bound at creation, serving in the
    background between :meth:`start` and :meth:`stop`."""

    stats: ListenerStats

    @property
    def port(self) -> int:
        """The port actually bound."""

    def start(self) -> None:
        """Start serving in the background."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and wait for the server's threads."""


def make_listener(app: WSGIApp, host: str, port: int, threads: int = 8, *,
                  engine: str = "vigie", **options: Any) -> Listener:
    """The listener of ``server.engine``, bound to ``host:port``: Vigie's own
    (:class:`WebServer`), or waitress serving the same ``app``
    (:class:`monitor.web_waitress.WaitressServer`). ``options``: the keyword arguments of
    :class:`WebServer` (proxy, limits, paths, reserve…).

    :raises OSError: the address cannot be bound.
    """
    if engine == "waitress":
        from monitor.web_waitress import WaitressServer

        return WaitressServer(app, host, port, threads, **options)
    if engine != "vigie":
        raise ValueError(f"unknown server engine {engine!r} (vigie or waitress)")
    return WebServer(app, host, port, threads, **options)


def serve(app: WSGIApp, host: str, port: int, threads: int = 8, *,
          on_ready: Callable[[], None] | None = None, **options: Any) -> None:
    """Serve ``app`` in the foreground until Ctrl-C or SIGTERM (``vigie dashboard``);
    ``on_ready`` is called once the listener takes connections (to say so: a line
    printed then is one a supervisor or a test can wait for); ``options``: the keyword
    arguments of :func:`make_listener` (engine, proxy, limits, paths)."""
    raise_nofile_limit()
    server = make_listener(app, host, port, threads, **options)
    server.start()
    if on_ready is not None:
        on_ready()
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

