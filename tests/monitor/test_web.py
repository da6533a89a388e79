"""Vigie's listener (monitor.web) over real HTTP: WSGI apps in worker threads, cached
answers from the listener's loop, proxy headers, bodies, errors, headers."""

from __future__ import annotations

import http.client
import json
import logging
import threading

import pytest

from monitor.router import Router
from monitor.web import WebServer


def echo(environ, start_response):
    """A WSGI app saying what it was given."""
    body = json.dumps({
        "method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
        "script": environ["SCRIPT_NAME"], "query": environ["QUERY_STRING"],
        "remote": environ["REMOTE_ADDR"], "scheme": environ["wsgi.url_scheme"],
        "body": environ["wsgi.input"].read().decode(),
        "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
        "thread": threading.current_thread().name,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body))),
                              ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    return [body]


def request(port, method="GET", path="/", body=None, headers=None):
    """``(status, headers, body)`` of one request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


@pytest.fixture
def serve():
    """``serve(app, **options)``: a started :class:`WebServer` on a free port, stopped after."""
    servers = []

    def start(app, threads=2, **options):
        server = WebServer(app, "127.0.0.1", 0, threads=threads, **options)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def router_with(app, prefix="/"):
    router = Router(metrics=lambda: b"# metrics\n", health=lambda: {"ok": True},
                    metrics_content_type="text/plain; version=0.0.4")
    router.mount(prefix, app)
    return router


def test_wsgi_app_runs_in_a_worker_thread_with_its_request(serve):
    server = serve(router_with(echo, "/push"))
    status, headers, body = request(server.port, "POST", "/push/beat%20one?x=1", body=b"hello",
                                    headers={"X-Thing": "yes", "X_Forged": "no",
                                             "Content-Type": "text/plain"})
    assert status == 200
    seen = json.loads(body)
    assert seen["method"] == "POST" and seen["body"] == "hello" and seen["query"] == "x=1"
    assert seen["script"] == "/push" and seen["path"] == "/beat one"
    assert seen["thread"].startswith("vigie-web")
    assert seen["headers"]["HTTP_X_THING"] == "yes"
    # a header name with "_" could pose as another variable: dropped, as waitress did
    assert "HTTP_X_FORGED" not in seen["headers"]
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert headers["Server"] == "vigie"
    # the built-in paths still answer
    assert request(server.port, path="/metrics")[2] == b"# metrics\n"
    assert json.loads(request(server.port, path="/healthz")[2]) == {"ok": True}
    assert request(server.port, path="/elsewhere")[0] == 404


def test_head_keeps_the_length_and_sends_no_body(serve):
    server = serve(router_with(echo))
    status, headers, body = request(server.port, "HEAD", "/")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


class Blocking:
    """A WSGI app whose requests wait until released, with answers from memory for
    ``/cached`` (never waiting)."""

    def __init__(self):
        self.release = threading.Event()
        self.entered = threading.Event()

    def __call__(self, environ, start_response):
        self.entered.set()
        self.release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slow"]

    def cached_answer(self, environ):
        if environ["PATH_INFO"] != "/cached":
            return None
        return "200 OK", [("Content-Type", "text/plain"), ("X-From", "memory")], b"fast"


def test_cached_answers_need_no_worker_thread(serve):
    app = Blocking()
    server = serve(router_with(app, "/status"), threads=1)
    slow = threading.Thread(target=request, args=(server.port, "GET", "/status/slow"))
    slow.start()
    try:
        assert app.entered.wait(10)
        # the only worker is busy: a cached answer comes anyway, from the loop
        status, headers, body = request(server.port, path="/status/cached")
        assert (status, body, headers["X-From"]) == (200, b"fast", "memory")
    finally:
        app.release.set()
        slow.join(10)


def test_cached_answer_sees_the_proxy_headers_processed(serve):
    seen = []

    class App:
        def __call__(self, environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"from the app"]

        def cached_answer(self, environ):
            seen.append((environ["REMOTE_ADDR"], environ["wsgi.url_scheme"],
                         "HTTP_X_FORWARDED_FOR" in environ))
            return None

    trusted = serve(router_with(App()), trusted_proxy="127.0.0.1",
                    trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"})
    untrusted = serve(router_with(App()))
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    assert request(trusted.port, headers=forwarded)[2] == b"from the app"
    assert request(untrusted.port, headers=forwarded)[2] == b"from the app"
    # as with waitress: the trusted proxy's headers are applied (and kept), anyone else's
    # are removed before the cache is even asked
    assert seen == [("203.0.113.7", "https", True), ("127.0.0.1", "http", False)]


def test_untrusted_proxy_headers_never_reach_the_app(serve):
    server = serve(router_with(echo))
    seen = json.loads(request(server.port, headers={"X-Forwarded-For": "203.0.113.7",
                                                    "X-Forwarded-Proto": "https"})[2])
    assert seen["remote"] == "127.0.0.1" and seen["scheme"] == "http"
    assert "HTTP_X_FORWARDED_FOR" not in seen["headers"]


def test_a_failing_app_gives_a_500_and_a_log(serve, caplog):
    def broken(environ, start_response):
        raise RuntimeError("secret detail")

    server = serve(router_with(broken))
    with caplog.at_level(logging.ERROR, logger="monitor.wsgi"):
        status, _, body = request(server.port, path="/x")
    assert status == 500 and b"secret" not in body
    assert "error while serving GET /x" in caplog.text


def test_stop_before_start_frees_the_port():
    server = WebServer(router_with(echo), "127.0.0.1", 0)
    port = server.port
    server.stop()
    again = WebServer(router_with(echo), "127.0.0.1", port)
    again.stop()


def test_a_large_body_arrives_whole_with_its_length(serve):
    """Bodies over STREAM_ABOVE (a large /metrics) are sent in slices: every byte arrives,
    in order, under the announced Content-Length; HEAD still sends none."""
    from monitor import wsgi

    payload = bytes(range(256)) * ((3 * wsgi.STREAM_ABOVE) // 256 + 7)  # not a whole slice
    router = Router(metrics=lambda: payload, health=lambda: {"ok": True},
                    metrics_content_type="text/plain; version=0.0.4")
    server = serve(router)
    status, headers, body = request(server.port, path="/metrics")
    assert status == 200
    assert int(headers["Content-Length"]) == len(payload)
    assert "chunked" not in headers.get("Transfer-Encoding", "")
    assert body == payload
    assert headers["Server"] == "vigie" and headers["Cache-Control"] == "no-store"
    status, headers, body = request(server.port, "HEAD", "/metrics")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(payload)


def test_metrics_in_pieces_are_streamed_whole_and_in_order(serve):
    """With ``metrics_chunks``, GET /metrics is sent piece by piece (chunked), each piece
    made by a worker thread: the body is every piece, in order."""
    made = []

    def pieces():
        for i in range(40):
            made.append(threading.current_thread().name)
            yield f"piece {i}\n".encode() * 20_000

    router = Router(metrics=lambda: b"unused", health=lambda: {"ok": True},
                    metrics_content_type="text/plain; version=0.0.4", metrics_chunks=pieces)
    server = serve(router)
    status, headers, body = request(server.port, path="/metrics")
    assert status == 200
    assert headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in headers
    assert headers["Content-Type"] == "text/plain; version=0.0.4"
    assert headers["Cache-Control"] == "no-store" and headers["Server"] == "vigie"
    assert body == b"".join(f"piece {i}\n".encode() * 20_000 for i in range(40))
    assert len(made) == 40 and all(name.startswith("vigie-web") for name in made)
    # HEAD is not streamed: the whole-body path still gives its length
    status, headers, body = request(server.port, "HEAD", "/metrics")
    assert status == 200 and body == b"" and headers["Content-Length"] == str(len(b"unused"))


def test_metrics_failing_before_the_first_piece_is_a_500(serve, caplog):
    def pieces():
        raise RuntimeError("state unreadable")
        yield b""  # a generator

    router = Router(metrics=lambda: b"", health=lambda: {"ok": True},
                    metrics_content_type="text/plain", metrics_chunks=pieces)
    server = serve(router)
    with caplog.at_level(logging.ERROR, logger="monitor.web"):
        status, _, body = request(server.port, path="/metrics")
    assert status == 500 and b"state unreadable" not in body
    assert "error while rendering /metrics" in caplog.text


# Point 7 of issue 12: /metrics and /healthz never queue behind slow WSGI work ----------


class Gated:
    """A WSGI app whose requests all wait on one event, counting those waiting."""

    def __init__(self):
        self.release = threading.Event()
        self.waiting = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.waiting += 1
        self.release.wait(30)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]


def wait_until(predicate, timeout=10.0):
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not predicate():
            assert not deadline.wait(0.01), "condition not met in time"
    finally:
        timer.cancel()


def test_metrics_and_healthz_answer_while_every_worker_thread_is_blocked(serve):
    """16 concurrent logins (argon2 on every WSGI thread) made /metrics take 26-34 s: the
    scrape and the health check have their own threads now."""
    app = Gated()
    router = Router(metrics=lambda: b"whole\n", health=lambda: {"ok": True},
                    metrics_content_type="text/plain; version=0.0.4",
                    metrics_chunks=lambda: iter([b"in ", b"pieces\n"]))
    router.mount("/", app)
    server = serve(router, threads=2)
    blocked = [threading.Thread(target=request, args=(server.port, "POST", f"/login{i}"))
               for i in range(4)]
    for thread in blocked:
        thread.start()
    try:
        wait_until(lambda: app.waiting == 2)  # both workers taken, two more requests queued
        assert request(server.port, path="/metrics")[2] == b"in pieces\n"
        status, headers, _ = request(server.port, "HEAD", "/metrics")
        assert status == 200 and headers["Content-Length"] == str(len(b"whole\n"))
        assert json.loads(request(server.port, path="/healthz")[2]) == {"ok": True}
    finally:
        app.release.set()
        for thread in blocked:
            thread.join(10)


def test_a_path_with_its_own_threads_cannot_starve_the_others(serve):
    """The admin area (logins hash passwords) gets its own threads: blocked, the public
    pages' cache misses still find a worker."""
    from monitor.config import PathSettings

    app = Gated()

    def public(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"public page"]

    router = router_with(public)
    router.mount("/admin", app)
    server = serve(router, threads=1, paths={"/admin": PathSettings(threads=1)})
    blocked = [threading.Thread(target=request, args=(server.port, "POST", "/admin/login"))
               for _ in range(3)]
    for thread in blocked:
        thread.start()
    try:
        wait_until(lambda: app.waiting == 1)
        assert request(server.port, path="/")[2] == b"public page"
    finally:
        app.release.set()
        for thread in blocked:
            thread.join(10)


# Point 14 of issue 12: nosniff on every response ------------------------------------


def test_every_response_says_nosniff(serve):
    def plain(environ, start_response):
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("broken")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"no header of its own"]

    router = Router(metrics=lambda: b"m\n", health=lambda: {"ok": False},
                    metrics_content_type="text/plain; version=0.0.4",
                    metrics_chunks=lambda: iter([b"m\n"]))
    router.mount("/push", plain)
    app = Blocking()
    router.mount("/status", app)
    server = serve(router)
    for method, path in (("GET", "/metrics"), ("HEAD", "/metrics"), ("GET", "/healthz"),
                         ("GET", "/push/x"), ("POST", "/push/x"), ("GET", "/push/boom"),
                         ("GET", "/status/cached"), ("GET", "/nowhere")):
        _, headers, _ = request(server.port, method, path)
        assert headers.get_all("X-Content-Type-Options") == ["nosniff"], (method, path)
    # aiohttp's own answer to a malformed request too
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.split(b" ", 2)[1] == b"400" and b"X-Content-Type-Options: nosniff" in answer
    assert b"\r\nServer: vigie\r\n" in answer  # no version given away


def test_an_app_setting_nosniff_itself_gets_it_once(serve):
    def careful(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-Content-Type-Options", "nosniff")])
        return [b"x"]

    server = serve(router_with(careful))
    assert request(server.port)[1].get_all("X-Content-Type-Options") == ["nosniff"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "TRACE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/metrics", "/healthz"])
def test_metrics_and_healthz_answer_only_get_and_head(serve, method, path):
    """``TRACE /healthz`` was a 200: the built-in paths say which methods they take."""
    server = serve(router_with(lambda environ, start_response: []))
    status, headers, _ = request(server.port, method, path)
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert request(server.port, "GET", path)[0] == 200
    assert request(server.port, "HEAD", path)[0] == 200
