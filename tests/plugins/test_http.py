"""The ``http`` probe against real local servers (aiohttp, raw asyncio, TLS with trustme).

Checks run through :func:`monitor.runner.run_check`, as the scheduler runs them. The client
session is built like the runtime's (a new connection per request) with one difference: a
resolver that only knows ``localhost`` and the ``.test`` names of these tests, so no test
ever asks a real DNS server anything.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import socket
import ssl

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver
from pydantic import ValidationError

from monitor.config import Check, LocalizedText
from monitor.probe import CheckRef, Status
from monitor.runner import probe_context, run_check
from plugins.http import HttpConfig, HttpProbe
from plugins.http.jsonpath import MISSING, compile_path, lookup
from plugins.http.phases import TRACE_CONFIG
from tests.conftest import free_port

PROBE = HttpProbe()


class LocalResolver(AbstractResolver):
    """Resolves the test names to 127.0.0.1; every other name fails like NXDOMAIN."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        if host == "localhost" or host.endswith(".test"):
            return [{"hostname": host, "host": "127.0.0.1", "port": port,
                     "family": socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}]
        raise OSError(socket.EAI_NONAME, f"{host}: name not known")

    async def close(self):
        pass


@pytest.fixture
async def session():
    """A session configured like the runtime's, with the local-only resolver."""
    connector = aiohttp.TCPConnector(limit=0, force_close=True, resolver=LocalResolver())
    async with aiohttp.ClientSession(connector=connector) as http:
        yield http


@pytest.fixture
async def serve():
    """``await serve(app, ssl_context=None, host="127.0.0.1") -> port``; stopped after the test."""
    runners = []

    async def start(app: web.Application, ssl_context=None, host="127.0.0.1") -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1,
                               handler_cancellation=True)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
        await site.start()
        return site._server.sockets[0].getsockname()[1]

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture(scope="module")
def ca():
    """A private certificate authority."""
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path):
    """The CA's certificate as a PEM file, for ``ca_file``."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca, *names, sni: list | None = None, **validity) -> ssl.SSLContext:
    """A server TLS context with a certificate for ``names`` signed by ``ca``.

    The server name each client sends (SNI) is appended to ``sni`` when given.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names, **validity).configure_cert(context)
    if sni is not None:
        context.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    return context


async def run(session, timeout=3.0, **options):
    """Validate ``options`` as an http check and run it once through the runner."""
    config = HttpConfig.model_validate(options)
    check = Check(ref=CheckRef("site", "web", "http"), name=LocalizedText(fr="Site"),
                  interval=60.0, timeout=timeout, confirm=1, retry_interval=30.0,
                  options=config)
    return await run_check(check, PROBE, session)


def app_with(routes: dict) -> web.Application:
    """An application from ``{path: handler}`` (any method)."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    return app


def page(text: str, status: int = 200, **kwargs) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", **kwargs)


def fixed(text: str, status: int = 200):
    """A handler that always answers ``text`` with ``status``."""
    async def handler(_request):
        return page(text, status)
    return handler


# Status, samples, connections ---------------------------------------------------------


async def test_up_reports_status_and_time_on_a_new_connection_each_time(serve):
    peers, connection_headers = [], []

    async def home(request):
        peers.append(request.transport.get_extra_info("peername")[1])
        connection_headers.append(request.headers.get("Connection"))
        return page("ok")

    port = await serve(app_with({"/": home}))
    # a session that keeps connections alive: the probe must not rely on force_close
    async with aiohttp.ClientSession() as keep_alive:
        first = await run(keep_alive, url=f"http://127.0.0.1:{port}/")
        second = await run(keep_alive, url=f"http://127.0.0.1:{port}/")
    assert first.status is Status.UP and first.reason is None
    assert first.samples["http_status_code"] == 200
    assert 0 < first.samples["http_response_seconds"] < 1
    assert "http_phase_seconds" not in first.samples
    assert second.status is Status.UP
    assert len(set(peers)) == 2, "each check must open its own connection"
    assert connection_headers == ["close", "close"]


@pytest.mark.parametrize(("expected", "status", "shown"), [
    (None, Status.DOWN, "200-399"),
    ([404], Status.UP, None),
    ("4xx", Status.UP, None),
    ("400-404", Status.UP, None),
    (["200-299", 500], Status.DOWN, "200-299, 500"),
])
async def test_expected_status(session, serve, expected, status, shown):
    port = await serve(app_with({"/": fixed("absent", status=404)}))
    options = {"url": f"http://127.0.0.1:{port}/"}
    if expected is not None:
        options["expected_status"] = expected
    result = await run(session, **options)
    assert result.status is status
    assert result.samples["http_status_code"] == 404
    if shown:
        assert result.reason.code == "http.status"
        assert result.reason.en == f"The server answered 404 instead of {shown}"
        assert result.reason.fr == f"Le serveur a répondu 404 au lieu de {shown}"


async def test_method_headers_and_body_are_sent(session, serve):
    seen = {}

    async def echo(request):
        seen.update(method=request.method, token=request.headers.get("X-Token"),
                    body=await request.text(), ua=request.headers.get("User-Agent"))
        return page("ok")

    port = await serve(app_with({"/api": echo}))
    result = await run(session, url=f"http://127.0.0.1:{port}/api", method="post",
                       headers={"X-Token": "abc", "User-Agent": "Vigie-test"},
                       body='{"ping": 1}')
    assert result.status is Status.UP
    assert seen == {"method": "POST", "token": "abc", "body": '{"ping": 1}', "ua": "Vigie-test"}


async def test_head_reads_no_body(session, serve):
    methods = []

    async def home(request):
        methods.append(request.method)
        return page("x" * 1000)

    port = await serve(app_with({"/": home}))
    result = await run(session, url=f"http://127.0.0.1:{port}/", method="HEAD")
    assert result.status is Status.UP
    assert methods == ["HEAD"]


# Basic auth ----------------------------------------------------------------------------


def auth_app() -> web.Application:
    async def private(request):
        expected = "Basic " + base64.b64encode(b"membre:s3cr3t-pass").decode()
        if request.headers.get("Authorization") != expected:
            return page("who are you?", status=401)
        return page("Espace privé")

    return app_with({"/": private})


async def test_basic_auth_sends_credentials(session, serve):
    port = await serve(auth_app())
    ok = await run(session, url=f"http://127.0.0.1:{port}/",
                   basic_auth={"username": "membre", "password": "s3cr3t-pass"})
    assert ok.status is Status.UP
    without = await run(session, url=f"http://127.0.0.1:{port}/")
    assert without.status is Status.DOWN and without.samples["http_status_code"] == 401


async def test_basic_auth_password_file_and_no_secret_in_reason(session, serve, tmp_path):
    port = await serve(auth_app())
    secret = tmp_path / "password"
    secret.write_text("wrong-pass\n")
    result = await run(session, url=f"http://127.0.0.1:{port}/",
                       basic_auth={"username": "membre", "password_file": str(secret)})
    assert result.status is Status.DOWN
    assert result.reason.code == "http.status"
    assert "wrong-pass" not in result.reason.fr + result.reason.en + repr(result)
    secret.write_text("s3cr3t-pass\n")
    good = await run(session, url=f"http://127.0.0.1:{port}/",
                     basic_auth={"username": "membre", "password_file": str(secret)})
    assert good.status is Status.UP


# Body: keywords, regexes, charset, size -----------------------------------------------


@pytest.mark.parametrize(("rule", "status", "code"), [
    ({"keyword": "Bienvenue"}, Status.UP, None),
    ({"keyword": "Absent"}, Status.DOWN, "http.keyword_missing"),
    ({"keyword_absent": "Fatal error"}, Status.DOWN, "http.keyword_present"),
    ({"keyword_absent": "Warning"}, Status.UP, None),
    ({"regex": r"version \d+\.\d+"}, Status.UP, None),
    ({"regex": r"version \d+\.\d+\.\d+"}, Status.DOWN, "http.regex_missing"),
    ({"regex_absent": r"(?i)fatal\s+ERROR"}, Status.DOWN, "http.regex_present"),
    ({"regex_absent": r"Traceback"}, Status.UP, None),
])
async def test_body_rules(session, serve, rule, status, code):
    text = "<h1>Bienvenue</h1><p>version 8.2</p><!-- Fatal error: db --> é"
    port = await serve(app_with({"/": fixed(text)}))
    result = await run(session, url=f"http://127.0.0.1:{port}/", **rule)
    assert result.status is status
    assert (result.reason.code if result.reason else None) == code


async def test_keyword_reason_is_bilingual(session, serve):
    port = await serve(app_with({"/": fixed("rien")}))
    result = await run(session, url=f"http://127.0.0.1:{port}/", keyword="Bienvenue")
    assert result.reason.fr == "Le texte « Bienvenue » est absent de la page"
    assert result.reason.en == "The text “Bienvenue” is missing from the page"


async def test_body_decoded_with_its_charset(session, serve):
    async def latin1(request):
        return web.Response(body="Bienvenue à la coopérative".encode("latin-1"),
                            content_type="text/html", charset="iso-8859-1")

    port = await serve(app_with({"/": latin1}))
    result = await run(session, url=f"http://127.0.0.1:{port}/", keyword="à la coopérative")
    assert result.status is Status.UP


async def test_max_body_bytes_limits_what_is_read(session, serve):
    async def big(request):
        return page("x" * 100_000 + "END")

    async def endless(request):
        response = web.StreamResponse()
        response.content_type = "text/plain"
        await response.prepare(request)
        while True:  # never ends: the probe must stop reading by itself
            await response.write(b"BEGIN " + b"y" * 65536)

    port = await serve(app_with({"/big": big, "/endless": endless}))
    whole = await run(session, url=f"http://127.0.0.1:{port}/big", keyword="END")
    assert whole.status is Status.UP
    cut = await run(session, url=f"http://127.0.0.1:{port}/big", keyword="END",
                    max_body_bytes=1024)
    assert cut.status is Status.DOWN and cut.reason.code == "http.keyword_missing"
    stream = await run(session, url=f"http://127.0.0.1:{port}/endless", keyword="BEGIN",
                       max_body_bytes=200_000)
    assert stream.status is Status.UP
    assert stream.samples["http_response_seconds"] < 1


# JSON ----------------------------------------------------------------------------------


async def json_handler(_request):
    return web.json_response(DOC)


DOC = {"status": {"ok": True}, "items": [{"state": "running"}, {"state": "stopped"}],
       "count": 1, "weird.key": "yes", "version": "30.0.4"}


@pytest.mark.parametrize(("conditions", "status", "en"), [
    ({"path": "status.ok", "equals": True}, Status.UP, None),
    ({"path": "$.items[0].state", "equals": "running"}, Status.UP, None),
    ({"path": "items[-1].state", "not_equals": "running"}, Status.UP, None),
    ({"path": 'items[1]["state"]', "equals": "running"}, Status.DOWN,
     'items[1]["state"] is "stopped" instead of "running"'),
    ({"path": "items[0].state", "not_equals": "running"}, Status.DOWN,
     'items[0].state is "running", a sign of trouble'),
    ({"path": "count", "equals": True}, Status.DOWN, "count is 1 instead of true"),
    ({"path": "count", "equals": 1}, Status.UP, None),
    ({"path": '["weird.key"]', "equals": "yes"}, Status.UP, None),
    ({"path": "status.missing"}, Status.DOWN,
     "The value status.missing is missing from the JSON answer"),
    ({"path": "items[5]"}, Status.DOWN, "The value items[5] is missing from the JSON answer"),
    ("status.ok", Status.UP, None),
    ("status.ko", Status.DOWN, "The value status.ko is missing from the JSON answer"),
    ([{"path": "status.ok", "equals": True}, {"path": "version", "equals": "31.0.0"}],
     Status.DOWN, 'version is "30.0.4" instead of "31.0.0"'),
])
async def test_json_path(session, serve, conditions, status, en):
    port = await serve(app_with({"/status": json_handler}))
    result = await run(session, url=f"http://127.0.0.1:{port}/status", json_path=conditions)
    assert result.status is status
    if en:
        assert result.reason.code == "http.json"
        assert result.reason.en == en
        # the value the server answered is quoted only in "instead of": volunteers only
        assert result.reason.public == ("instead of" not in en)


async def test_json_path_on_a_non_json_answer(session, serve):
    port = await serve(app_with({"/": fixed("<html>not json</html>")}))
    result = await run(session, url=f"http://127.0.0.1:{port}/",
                       json_path={"path": "status", "equals": "ok"})
    assert result.status is Status.DOWN and result.reason.code == "http.json_invalid"


def test_json_path_evaluator():
    assert compile_path("a.b[0].c") == ("a", "b", 0, "c")
    assert compile_path("$.a['x.y'][-2]") == ("a", "x.y", -2)
    for bad in ("a..b", "a[0]b", "a[x]", "a.", "$"):
        with pytest.raises(ValueError):
            compile_path(bad)
    assert lookup({"a": [1, 2]}, ("a", 1)) == 2
    assert lookup({"a": [1, 2]}, ("a", 2)) is MISSING
    assert lookup({"a": {"0": 1}}, ("a", 0)) is MISSING  # an index needs a list
    assert lookup([{"a": None}], (0, "a")) is None


# Speed, timeouts, failures -------------------------------------------------------------


async def test_degraded_after(session, serve):
    async def slow(request):
        await asyncio.sleep(0.3)  # slow peer
        return page("lent")

    port = await serve(app_with({"/": slow}))
    result = await run(session, url=f"http://127.0.0.1:{port}/", degraded_after="100ms")
    assert result.status is Status.DEGRADED
    assert result.reason.code == "http.slow"
    assert result.reason.en.startswith("Slow answer: 0.3 s (threshold 0.1 s)")
    assert result.reason.fr.startswith("Réponse lente : 0,3 s (seuil 0,1 s)")
    assert result.samples["http_response_seconds"] >= 0.3
    fast = await run(session, url=f"http://127.0.0.1:{port}/", degraded_after="2s")
    assert fast.status is Status.UP


async def test_timeout_waiting_for_the_answer_closes_the_connection(session):
    closed = asyncio.Event()

    async def silent(reader, writer):
        await reader.read()  # until the probe hangs up
        closed.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await run(session, timeout=0.5, url=f"http://127.0.0.1:{port}/")
        assert result.status is Status.DOWN
        assert result.reason.code == "timeout"
        assert result.reason.en == "No answer from 127.0.0.1 within 0.5 s"
        assert result.reason.fr == "Pas de réponse de 127.0.0.1 en 0,5 s"
        # the probe's own limit fired before the runner's: the runner's reason names no host
        await asyncio.wait_for(closed.wait(), 10)


async def test_timeout_while_reading_the_body(session, serve):
    async def stalls(request):
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"debut")
        await asyncio.sleep(5)  # hung peer: stalls mid-body
        return response

    port = await serve(app_with({"/": stalls}))
    result = await run(session, timeout=0.5, url=f"http://127.0.0.1:{port}/")
    assert result.reason.code == "timeout"
    assert result.reason.en == "The page from 127.0.0.1 was not fully received within 0.5 s"
    assert result.samples["http_status_code"] == 200


async def test_cancelled_check_closes_its_connection(session):
    asked, closed = asyncio.Event(), asyncio.Event()

    async def silent(reader, writer):
        await reader.readuntil(b"\r\n\r\n")  # the request: the check awaits the answer
        asked.set()
        await reader.read()
        closed.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        config = HttpConfig(url=f"http://127.0.0.1:{port}/")
        ctx = probe_context(CheckRef("s", "c", "http"), 30.0, session)
        task = asyncio.create_task(PROBE.check(config, ctx))
        await asyncio.wait_for(asked.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(closed.wait(), 10)


async def test_connection_refused(session):
    port = free_port()
    result = await run(session, url=f"http://127.0.0.1:{port}/")
    assert result.status is Status.DOWN
    assert result.reason.code == "connection.refused"
    assert result.reason.en == f"Connection refused by 127.0.0.1:{port}"


async def test_dns_failure(session):
    result = await run(session, url="http://nowhere.invalid/")
    assert result.status is Status.DOWN
    assert result.reason.code == "dns.error"
    assert "nowhere.invalid" in result.reason.fr


@pytest.mark.parametrize(("answer", "code"), [
    (b"", "connection.closed"),
    (b"NOT HTTP AT ALL\r\n\r\n", "http.protocol"),
])
async def test_broken_servers(session, answer, code):
    async def broken(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(broken, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await run(session, url=f"http://127.0.0.1:{port}/")
    assert result.status is Status.DOWN
    assert result.reason.code == code


# Redirects -----------------------------------------------------------------------------


def redirect_app(seen: list) -> web.Application:
    async def hop(request):
        left = int(request.match_info["n"])
        seen.append((request.method, request.host, request.headers.get("Authorization")))
        if left == 0:
            return page("arrivée")
        raise web.HTTPFound(f"/r/{left - 1}")

    async def loop_(request):
        raise web.HTTPMovedPermanently("/loop")

    async def post_target(request):
        seen.append((request.method, request.host, None))
        raise web.HTTPSeeOther("/r/0")

    async def elsewhere(request):
        seen.append((request.method, request.host, request.headers.get("Authorization")))
        raise web.HTTPFound(f"http://localhost:{request.url.port}/r/0")

    return app_with({"/r/{n}": hop, "/loop": loop_, "/form": post_target,
                     "/elsewhere": elsewhere})


async def test_redirects_are_followed(session, serve):
    seen = []
    port = await serve(redirect_app(seen))
    result = await run(session, url=f"http://127.0.0.1:{port}/r/3", keyword="arrivée")
    assert result.status is Status.UP
    assert result.samples["http_status_code"] == 200
    assert len(seen) == 4


async def test_redirects_not_followed(session, serve):
    port = await serve(redirect_app([]))
    result = await run(session, url=f"http://127.0.0.1:{port}/r/3", follow_redirects=False)
    assert result.status is Status.UP
    assert result.samples["http_status_code"] == 302
    strict = await run(session, url=f"http://127.0.0.1:{port}/r/3", follow_redirects=False,
                       expected_status=200)
    assert strict.status is Status.DOWN and strict.reason.code == "http.status"


async def test_too_many_redirects(session, serve):
    seen = []
    port = await serve(redirect_app(seen))
    result = await run(session, url=f"http://127.0.0.1:{port}/r/3", max_redirects=2)
    assert result.status is Status.DOWN
    assert result.reason.code == "http.redirects"
    assert result.reason.en == "Too many redirects (more than 2)"
    assert len(seen) == 3
    looping = await run(session, url=f"http://127.0.0.1:{port}/loop")
    assert looping.reason.code == "http.redirects"


async def test_see_other_after_post_becomes_get(session, serve):
    seen = []
    port = await serve(redirect_app(seen))
    result = await run(session, url=f"http://127.0.0.1:{port}/form", method="POST", body="a=1")
    assert result.status is Status.UP
    assert [method for method, _host, _auth in seen] == ["POST", "GET"]


async def test_credentials_do_not_follow_a_redirect_to_another_host(session, serve):
    seen = []
    port = await serve(redirect_app(seen))
    result = await run(session, url=f"http://127.0.0.1:{port}/elsewhere",
                       basic_auth={"username": "u", "password": "p"})
    assert result.status is Status.UP
    (_, first_host, first_auth), (_, second_host, second_auth) = seen
    assert first_host == f"127.0.0.1:{port}" and first_auth is not None
    assert second_host == f"localhost:{port}" and second_auth is None


# TLS -----------------------------------------------------------------------------------


async def test_tls_with_trusted_private_ca(session, serve, ca, ca_file):
    port = await serve(app_with({"/": fixed("ok")}), server_context(ca, "127.0.0.1"))
    result = await run(session, url=f"https://127.0.0.1:{port}/", ca_file=ca_file)
    assert result.status is Status.UP


async def test_tls_untrusted_certificate(session, serve, ca):
    port = await serve(app_with({"/": fixed("ok")}), server_context(ca, "127.0.0.1"))
    result = await run(session, url=f"https://127.0.0.1:{port}/")
    assert result.status is Status.DOWN
    assert result.reason.code == "tls.untrusted"
    unverified = await run(session, url=f"https://127.0.0.1:{port}/", verify_tls=False)
    assert unverified.status is Status.UP


async def test_tls_hostname_mismatch(session, serve, ca, ca_file):
    port = await serve(app_with({"/": fixed("ok")}),
                       server_context(ca, "other.example.test"))
    result = await run(session, url=f"https://localhost:{port}/", ca_file=ca_file)
    assert result.status is Status.DOWN
    assert result.reason.code == "tls.hostname"
    assert "localhost" in result.reason.en


async def test_tls_expired_certificate(session, serve, ca, ca_file):
    now = dt.datetime.now(dt.UTC)
    context = server_context(ca, "localhost", not_before=now - dt.timedelta(days=90),
                             not_after=now - dt.timedelta(days=1))
    port = await serve(app_with({"/": fixed("ok")}), context)
    result = await run(session, url=f"https://localhost:{port}/", ca_file=ca_file)
    assert result.status is Status.DOWN
    assert result.reason.code == "tls.expired"


async def test_tls_handshake_with_a_plain_http_server(session, serve):
    port = await serve(app_with({"/": fixed("ok")}))
    result = await run(session, url=f"https://127.0.0.1:{port}/", verify_tls=False)
    assert result.status is Status.DOWN
    assert result.reason.code == "tls.error"
    assert f"127.0.0.1:{port}" in result.reason.en


# Backend, Host header, IP version ------------------------------------------------------


def host_app(seen: list) -> web.Application:
    async def home(request):
        seen.append(request.headers.get("Host"))
        return page("ok")

    return app_with({"/": home})


async def test_backend_uses_the_url_host_for_host_header_and_sni(session, serve, ca, ca_file):
    seen, sni = [], []
    port = await serve(host_app(seen), server_context(ca, "www.coop.test", sni=sni))
    # www.coop.test is never resolved: the connection goes to the backend
    result = await run(session, url=f"https://www.coop.test:{port}/", backend="127.0.0.1",
                       ca_file=ca_file)
    assert result.status is Status.UP, result.reason
    other_port = await serve(host_app(seen), server_context(ca, "www.coop.test", sni=sni))
    moved = await run(session, url="https://www.coop.test/",
                      backend=f"127.0.0.1:{other_port}", ca_file=ca_file)
    assert moved.status is Status.UP, moved.reason
    assert seen == [f"www.coop.test:{port}", "www.coop.test"]
    assert sni == ["www.coop.test", "www.coop.test"]


async def test_backend_not_serving_the_name_fails_tls(session, serve, ca, ca_file):
    port = await serve(host_app([]), server_context(ca, "other.test"))
    result = await run(session, url=f"https://www.coop.test:{port}/", backend="127.0.0.1",
                       ca_file=ca_file)
    assert result.reason.code == "tls.hostname"
    assert "www.coop.test" in result.reason.en


async def test_host_header(session, serve, ca, ca_file):
    seen, sni = [], []
    port = await serve(host_app(seen))
    result = await run(session, url=f"http://127.0.0.1:{port}/", host_header="membre.coop.test")
    assert result.status is Status.UP
    tls_port = await serve(host_app(seen), server_context(ca, "membre.coop.test", sni=sni))
    secure = await run(session, url=f"https://127.0.0.1:{tls_port}/",
                       host_header="membre.coop.test", ca_file=ca_file)
    assert secure.status is Status.UP, secure.reason
    assert seen == ["membre.coop.test", "membre.coop.test"]
    assert sni == ["membre.coop.test"]


async def test_ip_version(session, serve):
    seen = []
    port = await serve(host_app(seen))
    v4 = await run(session, url=f"http://localhost:{port}/", ip_version=4)
    assert v4.status is Status.UP
    assert seen == [f"localhost:{port}"]
    v6 = await run(session, url=f"http://127.0.0.1:{port}/", ip_version="6")
    assert v6.status is Status.DOWN
    assert v6.reason.code == "dns.error"
    assert v6.reason.en == "No IPv6 address found for 127.0.0.1 (DNS)"


async def test_ip_version_6(session, serve):
    try:
        port = await serve(host_app([]), host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    result = await run(session, url=f"http://[::1]:{port}/", ip_version=6)
    assert result.status is Status.UP
    v4 = await run(session, url=f"http://[::1]:{port}/", ip_version=4)
    assert v4.reason.en == "No IPv4 address found for ::1 (DNS)"


# Phases --------------------------------------------------------------------------------


async def test_phases_are_opt_in_and_measured(session, serve):
    async def home(request):
        await asyncio.sleep(0.05)  # slow peer
        return page("ok")

    port = await serve(app_with({"/": home}))
    plain = await run(session, url=f"http://localhost:{port}/")
    assert TRACE_CONFIG not in session.trace_configs
    assert "http_phase_seconds" not in plain.samples
    result = await run(session, url=f"http://localhost:{port}/", phases=True)
    assert TRACE_CONFIG in session.trace_configs
    phases = result.samples["http_phase_seconds"]
    assert set(phases) == {"dns", "connect", "processing", "transfer"}
    assert 0 < phases["connect"] < 0.05
    assert 0.05 <= phases["processing"] < 0.5
    assert phases["dns"] >= 0 and phases["transfer"] >= 0
    assert sum(phases.values()) <= result.samples["http_response_seconds"] + 0.001
    again = await run(session, url=f"http://localhost:{port}/")
    assert "http_phase_seconds" not in again.samples
    assert session.trace_configs.count(TRACE_CONFIG) == 1


# Configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "message"), [
    ({"url": "ftp://example.org/"}, "http:// or https://"),
    ({"url": "http://a/", "expected_status": "abc"}, "invalid status"),
    ({"url": "http://a/", "expected_status": "700"}, "codes go from 100 to 599"),
    ({"url": "http://a/", "expected_status": []}, "at least one"),
    ({"url": "http://a/", "regex": "(unclosed"}, "invalid regular expression"),
    ({"url": "http://a/", "json_path": {"path": "a..b"}}, "invalid JSON path"),
    ({"url": "http://a/", "headers": {"host": "x"}}, "host_header"),
    ({"url": "http://a/", "verify_tls": False, "ca_file": __file__}, "no effect"),
    ({"url": "http://a/", "ca_file": "/nonexistent/ca.pem"}, "no such file"),
    ({"url": "http://a/", "ca_file": __file__}, "cannot load"),
    ({"url": "http://a/", "method": "HEAD", "keyword": "x"}, "HEAD"),
    ({"url": "http://a/", "max_body_bytes": 0, "keyword": "x"}, "max_body_bytes"),
    ({"url": "http://a/", "backend": "10.0.0.1:99999"}, "invalid backend"),
    ({"url": "http://a/", "host_header": "a b"}, "invalid host_header"),
    ({"url": "http://a/", "ip_version": 5}, "ip_version"),
    ({"url": "http://a/", "degraded_after": "soon"}, "invalid duration"),
    ({"url": "http://a/", "keyword_missing": "x"}, "keyword_missing"),
])
def test_invalid_options(options, message):
    with pytest.raises(ValidationError) as info:
        HttpConfig.model_validate(options)
    assert message in str(info.value)


def test_config_is_prepared_once():
    config = HttpConfig.model_validate({"url": "http://a/", "regex": "ok", "expected_status": 204})
    assert config.plan is config.plan
    assert config.plan.regex.pattern == "ok"
    assert config.plan.accepted == frozenset({204})
    assert config.plan.headers["Connection"] == "close"
