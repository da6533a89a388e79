"""A lean HTTP/1.1 exchange for the most common check: plain ``http://``, one connection.

aiohttp's client machinery (connector, happy eyeballs, response objects) costs more CPU
per request than the whole rest of the pipeline (figures in docs/performance.md); a
monitoring probe that opens one connection, sends one request with ``Connection: close``
and reads a bounded body needs little of it. This module does just
that with a plain asyncio protocol (not even asyncio's streams, which cost more), and
raises the same exception types as aiohttp so reasons stay identical. HTTPS, phases
tracing, ``backend``/``host_header``/``ip_version`` routing keep using aiohttp (see
:func:`plugins.http._fetch`).
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import aiohttp
from yarl import URL

#: longest status line plus headers accepted (aiohttp's default limit is 8 KiB per line)
MAX_HEAD = 64 * 1024
_NO_BODY_STATUS = frozenset({204, 304})


class Answer:
    """What the server answered: status, the headers the probe uses, and the body read."""

    __slots__ = ("body", "charset", "location", "status")

    def __init__(self, status: int, location: str | None, charset: str | None,
                 body: bytes) -> None:
        self.status = status
        self.location = location
        self.charset = charset
        self.body = body


def build_request(method: str, url: URL, headers: dict[str, str], body: bytes | None,
                  user_agent: str) -> bytes:
    """The request bytes: request line, Host, the check's headers, optional body."""
    return b"".join((f"{method} ".encode("latin-1"), request_target(url),
                     request_rest(url.host_port_subcomponent, headers, body, user_agent)))


def request_target(url: URL) -> bytes:
    """What the request line asks for: path and query, as sent."""
    return (url.raw_path_qs or "/").encode("latin-1")


def request_rest(host_port: str, headers: dict[str, str], body: bytes | None,
                 user_agent: str) -> bytes:
    """Everything after the request target: `` HTTP/1.1``, the headers, the body.

    The same for every check of a host with the same headers, so it can be shared.
    """
    lines = [" HTTP/1.1", f"Host: {host_port}"]
    names = {name.lower() for name in headers}
    if "user-agent" not in names:
        lines.append(f"User-Agent: {user_agent}")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")
    if "accept" not in names:
        lines.append("Accept: */*")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of a response head (last value wins).

    :raises aiohttp.ClientPayloadError: not an HTTP/1.x response.
    """
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit() \
            or len(parts[1]) != 3:
        raise aiohttp.ClientPayloadError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise aiohttp.ClientPayloadError(f"malformed header line: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if any."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


def decode_content(data: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo a gzip or deflate Content-Encoding (servers may ignore ``identity``)."""
    encoding = (encoding or "").strip().lower()
    if not data or encoding not in ("gzip", "x-gzip", "deflate"):
        return data
    wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
    try:
        return zlib.decompressobj(wbits).decompress(data, limit)
    except zlib.error:
        raise aiohttp.ClientPayloadError(f"invalid {encoding} body") from None


async def exchange(url: URL, method: str, headers: dict[str, str], body: bytes | None,
                   read_body_limit: int | None, user_agent: str,
                   progress: Any = None) -> Answer:
    """One request on a new connection to a plain ``http://`` URL.

    :param read_body_limit: bytes of body to read, None to read none.
    :param progress: an object whose ``status`` and ``reading_body`` attributes are set
        once the head arrived (to explain a timeout while the body is read).
    :raises OSError: the connection failed (refused, reset, unreachable).
    :raises aiohttp.ServerDisconnectedError: closed before any answer.
    :raises aiohttp.ClientPayloadError: not a valid HTTP answer.
    """
    return await exchange_prepared(url.raw_host, url.port,
                                   build_request(method, url, headers, body, user_agent),
                                   method, read_body_limit, progress)


async def exchange_prepared(host: str, port: int, request: bytes, method: str,
                            read_body_limit: int | None, progress: Any = None) -> Answer:
    """:func:`exchange` with the request already made (:func:`build_request`'s bytes).

    Same errors as :func:`exchange`. The answer is gathered by a plain protocol as its
    bytes arrive (asyncio's stream reader and writer cost more per check).
    """
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Answer] = loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: _Exchange(request, method, read_body_limit, progress, answer), host, port)
    try:
        return await answer
    finally:
        transport.close()


class _Exchange(asyncio.Protocol):
    """One request and its answer on one connection; ``answer`` gets the :class:`Answer`
    or the error, once (a cancelled ``answer`` is left alone)."""

    __slots__ = ("_body_from", "_buffer", "_headers", "_limit", "_method", "_progress",
                 "_request", "_status", "answer")

    def __init__(self, request: bytes, method: str, limit: int | None, progress: Any,
                 answer: asyncio.Future[Answer]) -> None:
        self._request = request
        self._method = method
        self._limit = limit
        self._progress = progress
        self.answer = answer
        self._buffer = bytearray()
        #: where the body starts in the buffer, once the head has arrived (-1 before)
        self._body_from = -1
        self._status = 0
        self._headers: dict[str, str] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the request."""
        transport.write(self._request)  # type: ignore[attr-defined]  # a stream transport

    def data_received(self, data: bytes) -> None:
        """Keep the bytes; answer once the head and the wanted body are there."""
        if self.answer.done():
            return
        self._buffer += data
        try:
            if self._body_from < 0 and not self._read_head():
                return
            body = self._body(eof=False)
            if body is not None:
                self._answer(body)
        except aiohttp.ClientPayloadError as exc:
            self.answer.set_exception(exc)

    def eof_received(self) -> bool:
        """The server finished sending (Connection: close): answer with what came."""
        self._end(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed or reset: answer with what came, or the error."""
        self._end(exc)

    def _end(self, exc: Exception | None) -> None:
        if self.answer.done():
            return
        try:
            if exc is not None:
                raise exc
            if self._body_from < 0:
                if not self._buffer:
                    raise aiohttp.ServerDisconnectedError()
                if not self._read_head():  # closed inside the head: no answer, as aiohttp says
                    raise aiohttp.ServerDisconnectedError()
            self._answer(self._body(eof=True) or b"")
        except Exception as error:  # noqa: BLE001 - handed to the awaiting coroutine
            self.answer.set_exception(error)

    def _read_head(self) -> bool:
        """Parse the final head if it is complete; False while it is not.

        Interim answers (``100 Continue``, ``103 Early Hints``: any 1xx but ``101``) are
        skipped, as aiohttp's client skips them.
        """
        buffer = self._buffer
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0 or end + 4 > MAX_HEAD:
                if end >= 0 or len(buffer) > MAX_HEAD:
                    raise aiohttp.ClientPayloadError("answer headers are too long")
                return False
            self._status, self._headers = parse_head(bytes(buffer[:end]))
            if not 100 <= self._status < 200 or self._status == 101:
                break
            del buffer[:end + 4]
        self._body_from = end + 4
        if self._progress is not None:
            self._progress.status, self._progress.reading_body = self._status, True
        return True

    def _body(self, eof: bool) -> bytes | None:
        """The body once complete (at most ``limit`` bytes), None while more is to come."""
        limit, status = self._limit, self._status
        if not (limit and self._method != "HEAD" and status not in _NO_BODY_STATUS
                and status >= 200):
            return b""
        buffer, start, headers = self._buffer, self._body_from, self._headers
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return dechunk(buffer, start, limit, eof)
        length = headers.get("content-length")
        available = len(buffer) - start
        if length is not None and length.isdigit():
            wanted = min(int(length), limit)
            if available >= wanted:
                return bytes(buffer[start:start + wanted])
            if eof:
                raise aiohttp.ClientPayloadError("body shorter than its Content-Length")
            return None
        if available >= limit or eof:  # no length: until the server closes
            return bytes(buffer[start:start + limit])
        return None

    def _answer(self, body: bytes) -> None:
        headers = self._headers
        data = decode_content(body, headers.get("content-encoding"), self._limit or 0)
        self.answer.set_result(Answer(self._status, headers.get("location"),
                                      charset_of(headers.get("content-type")), data))


def dechunk(buffer: bytes | bytearray, start: int, limit: int, eof: bool) -> bytes | None:
    """De-chunk a ``Transfer-Encoding: chunked`` body from ``buffer[start:]``, keeping at most
    ``limit`` bytes; None while incomplete (unless ``eof``).

    :raises aiohttp.ClientPayloadError: a malformed chunk size, or the connection ended
        before the last chunk.
    """
    chunks: list[bytes] = []
    size, pos = 0, start
    while size < limit:
        line_end = buffer.find(b"\n", pos)
        if line_end < 0:
            if eof:
                raise aiohttp.ClientPayloadError("chunked body ended early")
            return None
        try:
            length = int(bytes(buffer[pos:line_end]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise aiohttp.ClientPayloadError("malformed chunk size") from None
        if length == 0:
            break
        data_start, data_end = line_end + 1, line_end + 1 + length
        if len(buffer) < data_end + 2:  # the chunk and its CRLF
            if eof:
                raise aiohttp.ClientPayloadError("chunked body ended inside a chunk")
            return None
        chunks.append(bytes(buffer[data_start:data_end]))
        size += length
        pos = data_end + 2
    return b"".join(chunks)[:limit]
