"""A lean HTTP/1.1 exchange for the most common check: plain ``http://``, one connection.

aiohttp's client machinery (connector, happy eyeballs, response objects) costs about
200 µs of CPU per request on this project's reference machine, more than the whole rest of
the pipeline; a monitoring probe that opens one connection, sends one request with
``Connection: close`` and reads a bounded body needs little of it. This module does just
that on asyncio streams, and raises the same exception types as aiohttp so reasons stay
identical. HTTPS, phases tracing, ``backend``/``host_header``/``ip_version`` routing keep
using aiohttp (see :func:`plugins.http._fetch`).
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


async def read_chunked(reader: asyncio.StreamReader, limit: int) -> bytes:
    """De-chunk a ``Transfer-Encoding: chunked`` body, keeping at most ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        line = await reader.readline()
        if not line:
            raise aiohttp.ClientPayloadError("chunked body ended early")
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise aiohttp.ClientPayloadError("malformed chunk size") from None
        if length == 0:
            break
        data = await reader.readexactly(length + 2)  # the chunk and its CRLF
        chunks.append(data[:-2])
        size += length
    return b"".join(chunks)[:limit]


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str], limit: int) -> bytes:
    """At most ``limit`` bytes of the body, whatever its framing."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await read_chunked(reader, limit)
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        wanted = min(int(length), limit)
        try:
            return await reader.readexactly(wanted)
        except asyncio.IncompleteReadError:
            raise aiohttp.ClientPayloadError("body shorter than its Content-Length") from None
    return await reader.read(limit) if limit else b""


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

    Same errors as :func:`exchange`.
    """
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEAD)
    try:
        writer.write(request)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise aiohttp.ServerDisconnectedError() from None
            raise aiohttp.ClientPayloadError("answer ended inside its headers") from None
        except asyncio.LimitOverrunError:
            raise aiohttp.ClientPayloadError("answer headers are too long") from None
        status, answer_headers = parse_head(head[:-4])
        if progress is not None:
            progress.status, progress.reading_body = status, True
        data = b""
        if (read_body_limit and method != "HEAD" and status not in _NO_BODY_STATUS
                and status >= 200):
            data = await read_body(reader, answer_headers, read_body_limit)
            data = decode_content(data, answer_headers.get("content-encoding"), read_body_limit)
        return Answer(status, answer_headers.get("location"),
                      charset_of(answer_headers.get("content-type")), data)
    finally:
        writer.close()
