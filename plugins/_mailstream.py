"""A TCP (then possibly TLS) connection to a mail server, read line by line.

:class:`LineStream` bounds every read and write by the run's deadline
(``ctx.remaining()``) and is always closed, also when the run is cancelled at its hard
deadline; the reasons of a failed connection, a timeout or an answer the protocol does
not allow are built here. The protocols' dialogs are in :mod:`plugins._mailproto`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from monitor.api import (
    Number,
    ProbeContext,
    ProbeFailed,
    Reason,
    Words,
    _,
    clean_line,
    reason,
)

#: what the probe was waiting for (named in timeout reasons): catalogue words
Step = Words

CONNECT = _("the connection")
GREETING = _("the server greeting")
HANDSHAKE = _("the TLS handshake")


def timeout_reason(ctx: ProbeContext, step: Step) -> Reason:
    """Reason of a run that ran out of time while waiting for ``step``; it names the
    check's timeout, which people configured."""
    return reason("timeout", _("No answer within {s} s (waiting for {step})",
                               s=Number(ctx.timeout, ".3g"), step=step))


def connect_failure_reason(host: str, port: int, exc: OSError) -> Reason:
    """Plain reason for a failed TCP connection to ``host:port``."""
    if isinstance(exc, socket.gaierror):
        return reason("dns.error", _("Server name not found: {host}", host=host))
    if isinstance(exc, ConnectionRefusedError):
        where = f"{host}:{port}"
        return reason("connection.refused", _("Connection refused by {where}", where=where))
    return reason("connection.error", _("Could not connect to {host}:{port}", host=host,
                                        port=port))


def shown(line: str, limit: int = 80) -> str:
    """A server line made safe to quote in a reason: printable and short."""
    return clean_line(line, limit)


def unexpected(protocol: str, line: str, step: Step) -> ProbeFailed:
    """The server answered something the protocol does not allow at ``step``."""
    return ProbeFailed(reason(
        "mail.protocol", _("Unexpected {protocol} answer (while waiting for {step}): “{line}”",
                           protocol=protocol, step=step, line=shown(line)), public=False))


class LineStream:
    """A TCP (then possibly TLS) connection read line by line, every step bounded by the
    run's deadline (``ctx``'s)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 ctx: ProbeContext, host: str, port: int) -> None:
        self.reader = reader
        self.writer = writer
        self.ctx = ctx
        self.host = host
        self.port = port

    @classmethod
    async def open(cls, host: str, port: int, ctx: ProbeContext) -> LineStream:
        """Connect to ``host:port``; raise :class:`ProbeFailed` when that fails."""
        try:
            async with asyncio.timeout(ctx.remaining()):
                reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            raise ProbeFailed(timeout_reason(ctx, CONNECT)) from None
        except OSError as exc:
            raise ProbeFailed(connect_failure_reason(host, port, exc)) from None
        return cls(reader, writer, ctx, host, port)

    def _closed(self, step: Step) -> ProbeFailed:
        return ProbeFailed(reason(
            "connection.closed", _("The server closed the connection (while waiting for {step})",
                                   step=step)))

    async def read_line(self, step: Step) -> str:
        """The next line without its end of line; raise on timeout, close or garbage."""
        try:
            async with asyncio.timeout(self.ctx.remaining()):
                raw = await self.reader.readline()
        except TimeoutError:
            raise ProbeFailed(timeout_reason(self.ctx, step)) from None
        except (ValueError, asyncio.LimitOverrunError):
            raise ProbeFailed(reason(
                "mail.protocol", _("Overlong line received from the server ({step})",
                                   step=step))) from None
        except OSError:
            raise self._closed(step) from None
        if not raw.endswith(b"\n"):
            raise self._closed(step)
        return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")

    async def read_exactly(self, size: int, step: Step) -> bytes:
        """Exactly ``size`` bytes (an IMAP literal)."""
        try:
            async with asyncio.timeout(self.ctx.remaining()):
                return await self.reader.readexactly(size)
        except TimeoutError:
            raise ProbeFailed(timeout_reason(self.ctx, step)) from None
        except (asyncio.IncompleteReadError, OSError):
            raise self._closed(step) from None

    async def send(self, data: str | bytes, step: Step) -> None:
        """Send ``data`` (a str gets CRLF appended) and wait until it is handed to the OS."""
        payload = data if isinstance(data, bytes) else data.encode("utf-8") + b"\r\n"
        try:
            async with asyncio.timeout(self.ctx.remaining()):
                self.writer.write(payload)
                await self.writer.drain()
        except TimeoutError:
            raise ProbeFailed(timeout_reason(self.ctx, step)) from None
        except OSError:
            raise self._closed(step) from None

    async def start_tls(self, context: ssl.SSLContext, server_name: str) -> ssl.SSLObject:
        """Upgrade to TLS. SSL and socket errors are left to the caller, timeouts are not."""
        raw = self.writer.transport
        try:
            async with asyncio.timeout(self.ctx.remaining()):
                await self.writer.start_tls(context, server_hostname=server_name)
        except TimeoutError:
            raise ProbeFailed(timeout_reason(self.ctx, HANDSHAKE)) from None
        except AttributeError:
            # Python 3.11: when the peer hangs up right after the handshake, loop.start_tls
            # returns None and StreamWriter.start_tls fails on it. Put the old transport
            # back so the stream can still be closed, and report the lost connection.
            # (A private attribute, for want of a public way: the writer's own __del__
            # reads it too, so keeping the old transport aside is not enough. Goes with
            # Python 3.11; tests/plugins/test_mailproto.py shows the case.)
            self.writer._transport = raw
            raise ConnectionResetError("connection lost right after the TLS handshake") from None
        return self.writer.get_extra_info("ssl_object")

    async def close(self) -> None:
        """Close the connection; never waits long and never raises (cancellation aside)."""
        transport = self.writer.transport
        if transport.is_closing():
            transport.abort()  # a failed start_tls leaves the old transport half-closed
            return
        try:
            self.writer.close()
            # a TLS close waits for the peer's close_notify: do not let a mute peer hold us
            async with asyncio.timeout(0.5):
                await self.writer.wait_closed()
        except BaseException as exc:
            transport.abort()
            if isinstance(exc, asyncio.CancelledError):
                raise
