"""The plain-HTTP fast path, against raw local servers sending exact bytes."""

from __future__ import annotations

import asyncio
import gzip

import aiohttp
import pytest
from yarl import URL

from plugins.http import fastpath


async def serve_bytes(answer: bytes, seen: list[bytes] | None = None, close: bool = True):
    """A server that reads the request head, records it, writes ``answer`` and closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if seen is not None:
            seen.append(head)
        writer.write(answer)
        await writer.drain()
        if close:
            writer.close()
        else:
            await asyncio.sleep(5)  # hung peer: keeps the connection open

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def fetch(port: int, method: str = "GET", limit: int | None = 1024, headers=None):
    return await fastpath.exchange(URL(f"http://127.0.0.1:{port}/a/b?x=1"), method,
                                   headers or {"Connection": "close"}, None, limit, "Vigie/test")


async def test_request_line_host_and_headers_are_sent():
    seen: list[bytes] = []
    server, port = await serve_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", seen)
    async with server:
        answer = await fetch(port, headers={"Connection": "close", "X-Probe": "1"})
    request = seen[0].decode()
    assert request.startswith("GET /a/b?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}\r\n" in request
    assert "User-Agent: Vigie/test\r\n" in request and "X-Probe: 1\r\n" in request
    assert (answer.status, answer.body) == (200, b"ok")


async def test_content_length_body_is_read_exactly_and_charset_parsed():
    body = "Bienvenue à la coopérative".encode("iso-8859-1")
    raw = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=ISO-8859-1\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body
    server, port = await serve_bytes(raw)
    async with server:
        answer = await fetch(port)
    assert answer.body == body and answer.charset == "ISO-8859-1"


async def test_chunked_body_is_dechunked():
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n")
    server, port = await serve_bytes(raw)
    async with server:
        answer = await fetch(port)
    assert answer.body == b"Wikipedia in \r\n\r\nchunks."


async def test_gzip_body_is_decoded():
    payload = gzip.compress(b"status: ok " * 10)
    raw = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
           % len(payload)) + payload
    server, port = await serve_bytes(raw)
    async with server:
        answer = await fetch(port)
    assert answer.body == b"status: ok " * 10


async def test_body_without_length_is_read_until_close_and_capped():
    server, port = await serve_bytes(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 5000)
    async with server:
        answer = await fetch(port, limit=100)
    assert answer.body == b"x" * 100


async def test_head_and_204_read_no_body_and_location_is_kept():
    server, port = await serve_bytes(b"HTTP/1.1 301 Moved\r\nLocation: /next\r\n"
                                     b"Content-Length: 0\r\n\r\n")
    async with server:
        answer = await fetch(port, method="HEAD")
    assert (answer.status, answer.location, answer.body) == (301, "/next", b"")
    server, port = await serve_bytes(b"HTTP/1.1 204 No Content\r\n\r\n", close=False)
    async with server:
        answer = await asyncio.wait_for(fetch(port), 2)
    assert answer.status == 204


@pytest.mark.parametrize("raw", [b"SSH-2.0-OpenSSH_9.2\r\n\r\n", b"HTTP/1.1 2OO OK\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"])
async def test_garbage_is_a_payload_error(raw):
    server, port = await serve_bytes(raw)
    async with server:
        with pytest.raises(aiohttp.ClientPayloadError):
            await fetch(port)


async def test_short_body_and_early_close():
    server, port = await serve_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    async with server:
        with pytest.raises(aiohttp.ClientPayloadError):
            await fetch(port)
    server, port = await serve_bytes(b"")
    async with server:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await fetch(port)


async def test_refused_connection_raises_oserror(unused_tcp_port):
    with pytest.raises(ConnectionRefusedError):
        await fetch(unused_tcp_port)
