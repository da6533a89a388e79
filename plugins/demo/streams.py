"""A small asyncio stream server for the demo's line protocols (SMTP, IMAP, echo, DNS/TCP).

:class:`StreamTarget` remembers its clients so that :meth:`StreamTarget.close` ends at once
even when a client is still connected (asyncio's own ``wait_closed`` would not abort them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

#: a client silent this long is hung up on (a demo target must not keep dead sessions)
IDLE_TIMEOUT = 60.0


async def read_line(reader: asyncio.StreamReader, timeout: float = IDLE_TIMEOUT) -> bytes:
    """The next line, or ``b""`` at the end of the stream, after ``timeout`` seconds of
    silence, or for a line longer than the reader's limit."""
    try:
        async with asyncio.timeout(timeout):
            return await reader.readline()
    except (TimeoutError, ValueError):
        return b""


async def send(writer: asyncio.StreamWriter, *lines: bytes | str) -> None:
    """Write ``lines``, each ended by CRLF, and wait until they are sent."""
    writer.write(b"".join((ln.encode() if isinstance(ln, str) else ln) + b"\r\n"
                          for ln in lines))
    await writer.drain()


class StreamTarget:
    """An asyncio stream server running ``handler`` for each client."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, asyncio.Task] = {}

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port``.

        :raises OSError: the port is taken.
        """
        self._server = await asyncio.start_server(self._serve, host, port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients[writer] = asyncio.current_task()  # type: ignore[assignment]  # called inside a task
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # a probe hangs up as soon as it has what it expects
        finally:
            self._clients.pop(writer, None)
            writer.close()

    async def close(self) -> None:
        """Stop listening and hang up on every client."""
        if self._server is None:
            return
        self._server.close()
        clients = list(self._clients.items())
        for writer, _task in clients:
            writer.transport.abort()  # the handler then reads the end of stream and ends
        await asyncio.gather(*(task for _w, task in clients), return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
