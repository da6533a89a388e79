"""Vigie's listener against its library twin, waitress, over one table of raw requests.

The same Router (``/metrics``, ``/healthz`` and a Flask app at ``/``) is served by
``server.engine: vigie`` (aiohttp's server parts, :class:`monitor.web.WebServer`) and by
``server.engine: waitress`` (:class:`monitor.web_waitress.WaitressServer`). Each case writes
the same bytes to both on a raw socket; the status lines, the key headers and the bodies
must be equal. Where the twins legitimately differ, the case says why and what each answers.
"""

from __future__ import annotations

import gzip
import socket
import time
from dataclasses import dataclass

import pytest
from flask import Flask, Response, redirect, request

from monitor.config import ListenerLimits
from monitor.router import Router
from monitor.web import make_listener

#: the headers compared (lower-case); Date and the like differ by nature
KEY_HEADERS = ("content-type", "content-length", "location", "allow", "cache-control",
               "server", "x-content-type-options", "retry-after")
MAX_BODY = 4096
BIG = b"0123456789abcdef" * (2 * 65536)  # 2 MiB: the listener sends it in slices


def flask_app() -> Flask:
    """The app both engines serve at ``/``."""
    app = Flask("twins")

    @app.route("/page")
    def page():
        return "<p>Vigie</p>"

    @app.route("/echo", methods=["POST", "PUT"])
    def echo():
        data = request.get_data()
        return Response(b"%d:%s" % (len(data), data[:64]), content_type="text/plain")

    @app.route("/go")
    def go():
        return redirect("/page", 302)

    @app.route("/big")
    def big():
        return Response(BIG, content_type="application/octet-stream")

    @app.route("/query")
    def query():
        return f"{request.path}?{request.query_string.decode()}|{request.args.get('q', '')}"

    @app.route("/fails")
    def fails():
        raise RuntimeError("boom")

    return app


@pytest.fixture(scope="module")
def ports():
    """``{engine: port}``, both engines serving the same router."""
    router = Router(lambda: b"# TYPE vigie_up gauge\nvigie_up 1\n", lambda: {"ok": True},
                    "text/plain; version=0.0.4; charset=utf-8")
    router.mount("/", flask_app())
    limits = ListenerLimits(max_body=MAX_BODY)
    servers = {engine: make_listener(router, "127.0.0.1", 0, 2, engine=engine, limits=limits,
                                     paths={})
               for engine in ("vigie", "waitress")}
    for server in servers.values():
        server.start()
    yield {engine: server.port for engine, server in servers.items()}
    for server in servers.values():
        server.stop()


@dataclass(frozen=True)
class Answer:
    """One response as a client reads it."""

    status: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def key(self) -> tuple[str, dict[str, str], bytes]:
        """What is compared: status line, key headers, body."""
        headers = {n: v for n, v in self.headers if n in KEY_HEADERS}
        return self.status, headers, self.body


def exchange(port: int, pieces: list[bytes], half_close: bool = False) -> list[Answer]:
    """Write ``pieces`` (each its own write) and read every answer until the server closes.

    1xx answers are kept in the list like the others.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for piece in pieces:
            sock.sendall(piece)
            if len(pieces) > 1:
                time.sleep(0.001)  # slow peer: its own segment: the server reads it alone
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    heads = [p.split(b" ", 2)[0] for p in pieces]
    return parse(data, head_requests=sum(1 for h in heads if h == b"HEAD"))


def parse(data: bytes, head_requests: int = 0) -> list[Answer]:
    """The answers in ``data`` (bodies by Content-Length, chunked, or until the end)."""
    answers = []
    while data:
        end = data.find(b"\r\n\r\n")
        assert end >= 0, data[:200]
        lines = data[:end].decode("latin-1").split("\r\n")
        headers = tuple((n.strip().lower(), v.strip()) for n, _, v in
                        (line.partition(":") for line in lines[1:]))
        fields = dict(headers)
        data = data[end + 4:]
        status = lines[0]
        code = int(status.split(" ")[1])
        if 100 <= code < 200 or code in (204, 304) or head_requests:
            body = b""
            head_requests -= code >= 200 and head_requests > 0
        elif "chunked" in fields.get("transfer-encoding", ""):
            body = b""
            while True:
                size_end = data.find(b"\r\n")
                size = int(data[:size_end].split(b";")[0], 16)
                body += data[size_end + 2:size_end + 2 + size]
                data = data[size_end + 2 + size + 2:]
                if size == 0:
                    break
        elif "content-length" in fields:
            length = int(fields["content-length"])
            body, data = data[:length], data[length:]
        else:
            body, data = data, b""
        answers.append(Answer(status, headers, body))
    return answers


def get(path: str, *headers: str, method: str = "GET", version: str = "1.1",
        body: bytes = b"", close: bool = True) -> bytes:
    """A request's bytes (``Connection: close`` unless ``close`` is false)."""
    lines = [f"{method} {path} HTTP/{version}", "Host: status.example", *headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


GZIPPED = gzip.compress(b"vigie")


@dataclass(frozen=True)
class Case:
    """What is sent; and, when the twins differ, why and each one's status lines."""

    pieces: list[bytes]
    half_close: bool = False
    #: false when no answer is right (the request never arrived whole)
    answered: bool = True
    differs: str = ""
    vigie: tuple[str, ...] = ()
    waitress: tuple[str, ...] = ()


CASES: dict[str, Case] = {
    "page": Case([get("/page")]),
    "HEAD of a page": Case([get("/page", method="HEAD")]),
    "metrics": Case([get("/metrics")]),
    "healthz": Case([get("/healthz")]),
    "metrics refuses POST": Case([get("/metrics", "Content-Length: 0", method="POST")]),
    "not found": Case([get("/nowhere")]),
    "redirect": Case([get("/go")]),
    "query string and double slash": Case([get("//query?q=%C3%A9t%C3%A9&x=1")]),
    "2 MiB answer": Case([get("/big")]),
    "keep-alive: two requests on one connection": Case(
        [get("/page", close=False) + get("/healthz")]),
    "keep-alive: pipelined HEAD then GET": Case(
        [get("/page", method="HEAD", close=False) + get("/page")]),
    "HTTP/1.0 without Host, closed after the answer": Case(
        [b"GET /page HTTP/1.0\r\n\r\n"]),
    "POST with a body": Case([get("/echo", "Content-Length: 5", method="POST", body=b"vigie")]),
    "chunked request body": Case(
        [get("/echo", "Transfer-Encoding: chunked", method="POST",
             body=b"3\r\nvig\r\n2\r\nie\r\n0\r\n\r\n")]),
    "gzip request body": Case(
        [get("/echo", "Content-Encoding: gzip", f"Content-Length: {len(GZIPPED)}",
             method="POST", body=GZIPPED)],
        differs="Vigie's listener hands the app the body decoded (aiohttp's parser "
                "undoes Content-Encoding), waitress the bytes as sent (the app echoes 5 "
                "bytes on one, 25 on the other); no app of Vigie reads encoded bodies",
        vigie=("HTTP/1.1 200 OK",), waitress=("HTTP/1.1 200 OK",)),
    "body over the limit": Case(
        [get("/echo", f"Content-Length: {MAX_BODY + 1}", method="POST")],
        differs="both refuse with 413; the bodies are each server's own words",
        vigie=("HTTP/1.1 413 Request Entity Too Large",),
        waitress=("HTTP/1.1 413 Request Entity Too Large",)),
    "Expect: 100-continue": Case(
        [get("/echo", "Expect: 100-continue", "Content-Length: 5", method="POST"), b"vigie"],
        differs="the same final answer; only waitress sends the interim 100 Continue: "
                "Vigie's listener (aiohttp's low-level server, no expect handler) lets the "
                "client send its body when it stops waiting (RFC 9110 allows both)",
        vigie=("HTTP/1.1 200 OK",), waitress=("HTTP/1.1 100 Continue", "HTTP/1.1 200 OK")),
    "slow sender, byte by byte": Case(list(bytes([b]) for b in get("/page"))),
    "slow sender, body in pieces": Case(
        [get("/echo", "Content-Length: 10", method="POST"), b"vig", b"ie-o", b"k!!"]),
    "many headers (6 KB)": Case([get("/page", *(f"X-Filler-{i}: {'v' * 60}" for i in range(100)))]),
    "one header line of 20,000 bytes": Case(
        [get("/page", "Cookie: " + "c" * 20_000)],
        differs="Vigie's listener refuses a header line over 8,190 bytes (aiohttp's "
                "limit, a 400 from its parser); waitress takes heads up to 256 KiB",
        vigie=("HTTP/1.0 400 Bad Request",), waitress=("HTTP/1.1 200 OK",)),
    "truncated body, then the client stops sending": Case(
        [get("/echo", "Content-Length: 100", method="POST", body=b"vigie")], half_close=True,
        answered=False),
    "truncated head": Case([b"GET /page HTTP/1.1\r\nHost: x"], half_close=True,
                           answered=False),
    "malformed request line": Case(
        [b"GARBAGE\r\n\r\n"],
        differs="both refuse with 400 and close; the bodies are each server's own words "
                "(with no version to answer in, both say HTTP/1.0)",
        vigie=("HTTP/1.0 400 Bad Request",), waitress=("HTTP/1.0 400 Bad Request",)),
    "malformed chunk size": Case(
        [get("/echo", "Transfer-Encoding: chunked", method="POST", body=b"zz\r\nvigie\r\n0\r\n\r\n")],
        differs="both refuse with 400; the bodies are each server's own words "
                "(aiohttp's parser answers in HTTP/1.0)",
        vigie=("HTTP/1.0 400 Bad Request",), waitress=("HTTP/1.1 400 Bad Request",)),
    "an app that fails": Case([get("/fails")]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_vigie_listener_and_waitress_agree(ports, name):
    case = CASES[name]
    vigie = exchange(ports["vigie"], case.pieces, case.half_close)
    waitress = exchange(ports["waitress"], case.pieces, case.half_close)
    if case.differs:
        got = (tuple(a.status for a in vigie), tuple(a.status for a in waitress))
        assert got == (case.vigie, case.waitress), case.differs
        return
    assert [a.key() for a in vigie] == [a.key() for a in waitress]
    assert bool(vigie) is case.answered


def test_the_table_covers_what_the_listener_must_survive():
    names = " ".join(CASES).lower()
    for kind in ("chunked", "gzip", "keep-alive", "head", "100-continue", "redirect",
                 "truncated", "malformed", "header", "slow sender"):
        assert kind in names, kind
