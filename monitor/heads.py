"""Request heads: a deadline and a size cap for each, on aiohttp's low-level server.

:class:`GuardedServer` is aiohttp's low-level server serving the connections the gate
admitted (:mod:`monitor.connections`); each is a :class:`GuardedHandler`, aiohttp's
request handler that closes a connection whose request head is too slow (408) or too
large (431), gives its place back to the gate when it closes, and puts the listener's
headers (:data:`monitor.wsgi.ALWAYS`) on aiohttp's own error answers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from monitor import wsgi
from monitor.connections import Gate

log = logging.getLogger(__name__)

#: largest request head (request line and headers) in bytes; a larger one is answered 431
MAX_HEAD_BYTES = 64 * 1024


class GuardedServer(Server):
    """aiohttp's low-level server whose connections are :class:`GuardedHandler`."""

    def __init__(self, handler: Callable[..., Awaitable[Any]], *, gate: Gate,
                 head_timeout: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.gate = gate
        self.head_timeout = head_timeout
        self._opening: set[asyncio.Task] = set()

    def open(self, conn: socket.socket, key: str | None) -> None:
        """Serve the accepted socket ``conn`` (admitted by the gate with ``key``), set up
        in a task of its own: the accept loop goes on to the next client at once."""
        task = self._loop.create_task(self._open(conn, key))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open(self, conn: socket.socket, key: str | None) -> None:
        handler = GuardedHandler(self, key=key, loop=self._loop, **self._kwargs)
        try:
            await self._loop.connect_accepted_socket(lambda: handler, conn)
        except BaseException as exc:
            if handler.transport is None:  # never set up: nothing else will let go of it
                handler.release_slot()
                conn.close()
            if not isinstance(exc, Exception):
                raise
            log.debug("listener: connection lost while being set up", exc_info=True)

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop the connections being set up, then shut every connection down."""
        for task in list(self._opening):
            task.cancel()
        await asyncio.gather(*self._opening, return_exceptions=True)
        await super().shutdown(timeout)


class GuardedHandler(RequestHandler):
    """aiohttp's request handler with a deadline and a size cap for request heads.

    The deadline (``head_timeout``) starts when the connection opens, or with the first
    byte of the next request on a kept-alive connection; it ends when the head is whole.
    A connection dripping a byte now and then does not push it back. Between requests
    aiohttp's own ``keepalive_timeout`` closes the idle connection. Whether a head was
    completed is read from aiohttp's parser count (``_request_count``) and its queue of
    parsed requests (``_messages``): the tests of this module fail if that changes.
    """

    def __init__(self, manager: GuardedServer, *, key: str | None, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = manager
        self._key = key
        self._holds_slot = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._busy = False

    def release_slot(self) -> None:
        """Give the connection's place back to the gate (once)."""
        if self._holds_slot:
            self._holds_slot = False
            self._guard.gate.release(self._key)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)
        self.release_slot()

    def data_received(self, data: bytes) -> None:
        waiting = not self._busy and not self._messages
        if waiting:
            if self._head_timer is None:
                self._arm()
            self._head_bytes += len(data)
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            self.request_started()
        elif waiting and self._head_bytes > MAX_HEAD_BYTES and self.transport is not None:
            self._guard.gate.stats.requests_refused["head_too_large"] += 1
            self._answer_and_close(431)

    def request_started(self) -> None:
        """A whole head arrived: the head deadline is met."""
        self._busy = True
        self._head_bytes = 0
        self._disarm()

    async def finish_response(self, request: Any, resp: Any, start_time: float | None
                              ) -> tuple[Any, bool]:
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            self._busy = False

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> Any:
        # aiohttp's own answers (a malformed request…) get the headers of every answer,
        # and give no version away either
        response = super().handle_error(request, status, exc, message)
        response.headers.update(wsgi.ALWAYS)
        response.headers["Server"] = wsgi.SERVER_NAME
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # a malformed request is the client's doing: anyone could fill the log with them
        if isinstance(kwargs.get("exc_info"), HttpProcessingError):
            self.logger.debug(*args, **kwargs)
        else:
            super().log_exception(*args, **kwargs)

    def _arm(self) -> None:
        self._head_timer = self._loop.call_later(self._guard.head_timeout, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._busy or self._messages or self.transport is None:
            return
        self._guard.gate.stats.timeouts["head"] += 1
        self._answer_and_close(408)

    def _answer_and_close(self, status: int) -> None:
        self._disarm()
        self.transport.write(wsgi.raw_refusal(status))
        self.force_close()  # the transport sends what it holds, then closes
