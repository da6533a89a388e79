"""The plain-HTTP fast path against its library twin, aiohttp's client, over one table.

Every case is a local server (127.0.0.1) answering raw bytes. The same ``http`` check runs
once with ``fast_client: true`` (Vigie's lean HTTP/1.1 client, :mod:`plugins.http.fastpath`)
and once with ``fast_client: false`` (aiohttp's client); the results must be equal: status,
reason code and the status code sample. Where the twins legitimately differ, the case says
why and gives each one's outcome.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from dataclasses import dataclass, field

import aiohttp
import pytest

from monitor.config import Check, LocalizedText
from monitor.probe import CheckRef, ProbeResult
from monitor.runner import run_check
from plugins.http import HttpConfig, HttpProbe

PROBE = HttpProbe()
#: what a server does after its answer: close the connection, or keep it open until the
#: client closes it (an HTTP/1.1 server honouring keep-alive)
CLOSE, KEEP_OPEN = "close", "keep-open"


def ok(body: bytes = b"vigie-ok", *headers: bytes, status: bytes = b"200 OK") -> bytes:
    """An answer with a Content-Length."""
    head = b"".join(h + b"\r\n" for h in headers)
    return b"HTTP/1.1 %s\r\n%sContent-Length: %d\r\n\r\n%s" % (status, head, len(body), body)


def chunked(*chunks: bytes, end: bytes = b"0\r\n\r\n") -> bytes:
    """A chunked answer of ``chunks``, then ``end``."""
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + end


@dataclass(frozen=True)
class Case:
    """One row of the table: what the server answers, and what the check asks."""

    #: the answer by request path (``/`` is the check's URL); a list is sent piece by
    #: piece, each in its own write (a slow sender)
    answers: dict[str, bytes | list[bytes]]
    #: the check's keys besides ``url`` (``keyword`` makes the body read matter)
    options: dict = field(default_factory=lambda: {"keyword": "vigie-ok"})
    after: str = CLOSE
    #: why the twins differ, when they do (then ``fast`` and ``library`` are each one's
    #: outcome: ``(status, reason code, http_status_code sample)``)
    differs: str = ""
    fast: tuple[str, str | None, int | None] | None = None
    library: tuple[str, str | None, int | None] | None = None


GZIPPED = gzip.compress(b"<p>vigie-ok</p>")
DEFLATED = zlib.compress(b"<p>vigie-ok</p>")
MANY_HEADERS = tuple(b"X-Filler-%d: %s" % (i, b"v" * 60) for i in range(100))

CASES: dict[str, Case] = {
    "content-length": Case({"/": ok()}),
    "no length, read until close": Case({"/": b"HTTP/1.0 200 OK\r\n\r\nvigie-ok"}),
    "chunked": Case({"/": chunked(b"vigie", b"-ok", b" and more")}),
    "chunked with extensions and trailers": Case(
        {"/": chunked(b"vigie-ok", end=b"0;last=1\r\nX-Trailer: 1\r\n\r\n")}),
    "gzip": Case({"/": ok(GZIPPED, b"Content-Encoding: gzip")}),
    "deflate": Case({"/": ok(DEFLATED, b"Content-Encoding: deflate")}),
    "gzip, chunked": Case({"/": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n"
                                + b"%x\r\n%s\r\n0\r\n\r\n" % (len(GZIPPED), GZIPPED)}),
    "invalid gzip": Case({"/": ok(b"not gzip at all", b"Content-Encoding: gzip")},
                         options={}),
    "charset of the page": Case(
        {"/": ok("vigie-ok à côté".encode("iso-8859-1"),
                 b"Content-Type: text/html; charset=ISO-8859-1")},
        options={"keyword": "à côté"}),
    "keep-alive, server keeps the connection": Case(
        {"/": ok(b"vigie-ok", b"Connection: keep-alive")}, after=KEEP_OPEN),
    "keep-alive, chunked": Case({"/": chunked(b"vigie-ok")}, after=KEEP_OPEN),
    "HEAD with a Content-Length and no body": Case(
        {"/": b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"},
        options={"method": "HEAD"}, after=KEEP_OPEN),
    "204 without body": Case({"/": b"HTTP/1.1 204 No Content\r\n\r\n"}, options={},
                             after=KEEP_OPEN),
    "304 with a Content-Length": Case(
        {"/": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"}, options={},
        after=KEEP_OPEN),
    "100 Continue before the answer": Case(
        {"/": b"HTTP/1.1 100 Continue\r\n\r\n" + ok()}),
    "103 Early Hints before the answer": Case(
        {"/": b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + ok()}),
    "error status": Case({"/": ok(b"oops", status=b"503 Service Unavailable")}),
    "unexpected status": Case({"/": ok(status=b"418 I'm a teapot")}),
    "redirect 302 to a path": Case(
        {"/": ok(b"", b"Location: /next", status=b"302 Found"), "/next": ok()}),
    "redirect 301, then 307, relative": Case(
        {"/": ok(b"", b"Location: /a/b", status=b"301 Moved Permanently"),
         "/a/b": ok(b"", b"Location: c", status=b"307 Temporary Redirect"),
         "/a/c": ok()}),
    "redirect not followed": Case(
        {"/": ok(b"", b"Location: /next", status=b"302 Found")},
        options={"follow_redirects": False}),
    "redirect loop": Case({"/": ok(b"", b"Location: /", status=b"302 Found")},
                          options={"max_redirects": 3}),
    "redirect without Location": Case({"/": ok(b"moved", status=b"302 Found")}, options={}),
    "redirect to another scheme": Case(
        {"/": ok(b"", b"Location: ftp://files.test/", status=b"302 Found")}, options={}),
    "truncated body (Content-Length)": Case(
        {"/": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nvigie-ok"}),
    "truncated chunked body": Case(
        {"/": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\nvigie-ok"}),
    "truncated head": Case({"/": b"HTTP/1.1 200 OK\r\nContent-Le"}),
    "closed without an answer": Case({"/": b""}),
    "not HTTP at all": Case({"/": b"SSH-2.0-OpenSSH_9.2\r\n\r\n"}),
    "malformed status code": Case({"/": b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"}),
    "malformed header line": Case({"/": b"HTTP/1.1 200 OK\r\nno colon here\r\n"
                                        b"Content-Length: 8\r\n\r\nvigie-ok"}),
    "malformed chunk size": Case(
        {"/": chunked(b"vigie-ok").replace(b"8\r\n", b"zz\r\n")},
        differs="same verdict; the fast path has read the status line when the body fails, "
                "aiohttp's client raises before it hands over the response (no status)",
        fast=("down", "http.protocol", 200), library=("down", "http.protocol", None)),
    "many headers (6 KB)": Case({"/": ok(b"vigie-ok", *MANY_HEADERS)}),
    "one long header line (8,000 bytes)": Case({"/": ok(b"vigie-ok",
                                                        b"Set-Cookie: " + b"c" * 8000)}),
    "one header line over aiohttp's limit (20,000 bytes)": Case(
        {"/": ok(b"vigie-ok", b"Set-Cookie: " + b"c" * 20_000)},
        differs="aiohttp's client refuses a header line over 8,190 bytes (its "
                "max_field_size); the fast path takes any head up to 64 KiB (fastpath.MAX_HEAD)",
        fast=("up", None, 200), library=("down", "http.protocol", None)),
    "head over 64 KiB in short lines": Case(
        {"/": ok(b"vigie-ok", *(b"X-F-%d: %s" % (i, b"v" * 4000) for i in range(20)))},
        differs="aiohttp's client bounds each line, not the whole head; the fast path "
                "refuses a head over 64 KiB (fastpath.MAX_HEAD), whatever its lines",
        fast=("down", "http.protocol", None), library=("up", None, 200)),
    "slow sender, byte by byte": Case({"/": list(bytes([b]) for b in ok())}),
    "slow sender, chunked in pieces": Case(
        {"/": [b"HTTP/1.1 200 OK\r\nTransfer-", b"Encoding: chunked\r\n\r\n5\r\nvig",
               b"ie\r\n3\r", b"\n-ok\r\n0\r\n", b"\r\n"]}, after=KEEP_OPEN),
    "body larger than max_body_bytes": Case(
        {"/": ok(b"vigie-ok" + b"x" * 5000)}, options={"keyword": "vigie-ok",
                                                       "max_body_bytes": 1000}),
    "keyword beyond max_body_bytes": Case(
        {"/": ok(b"x" * 5000 + b"vigie-ok")}, options={"keyword": "vigie-ok",
                                                       "max_body_bytes": 1000}),
}


async def serve(case: Case) -> asyncio.Server:
    """A server answering each request with the case's bytes for its path."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            answer = case.answers.get(path, ok(b"no such page", status=b"404 Not Found"))
            for piece in [answer] if isinstance(answer, bytes) else answer:
                writer.write(piece)
                await writer.drain()
                if not isinstance(answer, bytes):
                    await asyncio.sleep(0.001)  # slow peer: its own segment: the client reads it alone
            if case.after == KEEP_OPEN:
                while await reader.read(4096):
                    pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def run(port: int, case: Case, fast_client: bool) -> ProbeResult:
    """The case's check, run once through the runner, as the scheduler runs it."""
    config = HttpConfig.model_validate({"url": f"http://127.0.0.1:{port}/",
                                        "fast_client": fast_client, **case.options})
    assert (config.plan.target is not None) is fast_client  # the path asked is the one taken
    check = Check(ref=CheckRef("site", "web", "http"), name=LocalizedText(fr="Site"),
                  interval=60.0, timeout=5.0, confirm=1, retry_interval=30.0, options=config)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector,
                                     headers={"User-Agent": "Vigie/test"}) as http:
        return await run_check(check, PROBE, http)


def outcome(result: ProbeResult) -> tuple[str, str | None, float | None]:
    """What both twins can tell: status, reason code, the answer's status code."""
    code = result.samples.get("http_status_code")
    assert not isinstance(code, dict)
    return (result.status.name.lower(), result.reason.code if result.reason else None, code)


@pytest.mark.parametrize("name", list(CASES))
async def test_fast_path_and_aiohttp_client_agree(name):
    case = CASES[name]
    server = await serve(case)
    port = server.sockets[0].getsockname()[1]
    async with server:
        fast = await run(port, case, fast_client=True)
        library = await run(port, case, fast_client=False)
    if case.differs:
        assert (outcome(fast), outcome(library)) == (case.fast, case.library), case.differs
        return
    assert outcome(fast) == outcome(library)
    assert ("http_response_seconds" in fast.samples) == ("http_response_seconds" in
                                                         library.samples)


def test_the_table_covers_what_the_fast_path_must_survive():
    """The kinds of answers the issue names each have at least one row."""
    names = " ".join(CASES).lower()
    for kind in ("chunked", "gzip", "keep-alive", "head", "100 continue", "redirect",
                 "truncated", "malformed", "header", "slow sender"):
        assert kind in names, kind
    assert all(c.fast and c.library for c in CASES.values() if c.differs)
