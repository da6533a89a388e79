"""run_check against real local servers: pass, failures, bugs, hangs and cancellation."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import Check, LocalizedText
from monitor.probe import (
    CheckRef,
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Status,
    reason,
)
from monitor.runner import (
    ProbeErrorLog,
    probe_budget,
    probe_context,
    run_check,
    timeout_reason,
)
from tests.conftest import ProbeClock, free_port
from tests.peers import HungServer


class UrlConfig(ProbeConfig):
    """Where the test probes go."""

    url: str = ""
    port: int = 0


class HttpGet(Probe):
    """GET ``url`` with the shared session; 200 is up, anything else down."""

    kind = "t_http"
    Config = UrlConfig

    async def check(self, config: UrlConfig, ctx: ProbeContext) -> ProbeResult:
        async with ctx.http.get(config.url) as response:
            await response.read()
            if response.status != 200:
                raise ProbeFailed(reason("http.status", "Code HTTP {got}", "HTTP status {got}",
                                         got=response.status))
        return ProbeResult.up(info={"server": "test"})


class RaiseForStatus(Probe):
    """GET ``url`` and let aiohttp's raise_for_status error escape."""

    kind = "t_raise"
    Config = UrlConfig

    async def check(self, config: UrlConfig, ctx: ProbeContext) -> ProbeResult:
        async with ctx.http.get(config.url, raise_for_status=True) as response:
            await response.read()
        return ProbeResult.up()


class RawRead(Probe):
    """Open a TCP connection to ``port`` and wait for a line; closes its socket on exit."""

    kind = "t_raw"
    Config = UrlConfig

    async def check(self, config: UrlConfig, ctx: ProbeContext) -> ProbeResult:
        reader, writer = await asyncio.open_connection("127.0.0.1", config.port)
        try:
            line = await reader.readline()
            if not line:
                raise asyncio.IncompleteReadError(line, None)
            return ProbeResult.up()
        finally:
            writer.close()


class Fails(Probe):
    """Always raises ProbeFailed with samples and info."""

    kind = "t_fails"

    async def check(self, config: ProbeConfig, ctx: ProbeContext) -> ProbeResult:
        raise ProbeFailed(reason("disk.full", "Disque plein à {p} %", "Disk {p} % full", p=97),
                          status=Status.DEGRADED, samples={"disk_used_ratio": 0.97},
                          info={"version": "1.2"})


class Buggy(Probe):
    """A probe with a bug whose message holds a secret."""

    kind = "t_buggy"

    async def check(self, config: ProbeConfig, ctx: ProbeContext) -> ProbeResult:
        raise KeyError("password=hunter2")


class ReturnsNothing(Probe):
    """Forgets to return its result."""

    kind = "t_none"

    async def check(self, config: ProbeConfig, ctx: ProbeContext):
        return None


class Raises(Probe):
    """Raises the exception given to it (what a network library would raise)."""

    kind = "t_raises"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def check(self, config: ProbeConfig, ctx: ProbeContext) -> ProbeResult:
        raise self.exc


def make_check(kind: str, timeout: float = 0.5, check_id: str = "c1", **options) -> Check:
    """A resolved check of ``kind`` with short timings."""
    return Check(ref=CheckRef("svc", check_id, kind), name=LocalizedText(fr="Test"),
                 interval=1.0, timeout=timeout, confirm=2, retry_interval=0.1,
                 options=UrlConfig(**options))


@pytest.fixture
async def http():
    """A client session like the runtime's: one connection per request."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        yield session


@pytest.fixture
async def web_server():
    """A local aiohttp server: /ok answers 200, /broken 503, /hang never answers."""
    async def ok(request):
        return web.Response(text="ok")

    async def broken(request):
        return web.Response(status=503, text="no")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/broken", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_pass_sets_timing_and_keeps_info(http, web_server):
    before = time.time()
    result = await run_check(make_check("t_http", url=str(web_server.make_url("/ok"))),
                             HttpGet(), http)
    assert result.status is Status.UP
    assert result.info == {"server": "test"}
    assert before <= result.started_at <= time.time()
    assert result.duration > 0  # measured by the runner (how fast is bench/'s business)


async def test_probe_failed_keeps_status_reason_samples_info(http):
    result = await run_check(make_check("t_fails"), Fails(), http)
    assert result.status is Status.DEGRADED
    assert result.reason.code == "disk.full"
    assert result.reason.fr == "Disque plein à 97 %"
    assert result.samples == {"disk_used_ratio": 0.97}
    assert result.info == {"version": "1.2"}
    assert result.started_at > 0 and result.duration >= 0


async def test_http_failure_reported_by_probe(http, web_server):
    result = await run_check(make_check("t_http", url=str(web_server.make_url("/broken"))),
                             HttpGet(), http)
    assert result.status is Status.DOWN
    assert result.reason.en == "HTTP status 503"


async def test_unexpected_exception_is_unknown_without_secret_and_logged_once(http, caplog):
    check = make_check("t_buggy", check_id="buggy")
    errors = ProbeErrorLog()  # the scheduler's, in `vigie run`
    with caplog.at_level(logging.ERROR, logger="monitor.runner"):
        first = await run_check(check, Buggy(), http, errors)
        second = await run_check(check, Buggy(), http, errors)
    for result in (first, second):
        assert result.status is Status.UNKNOWN
        assert result.reason.code == "probe.error"
        assert "hunter2" not in result.reason.fr + result.reason.en
        assert "Traceback" not in result.reason.fr + result.reason.en
    logged = [r for r in caplog.records if "svc/buggy" in r.getMessage()]
    assert len(logged) == 1


async def test_logging_resumes_after_a_clean_run(http, caplog):
    check = make_check("t_buggy", check_id="flappy")
    errors = ProbeErrorLog()
    with caplog.at_level(logging.ERROR, logger="monitor.runner"):
        await run_check(check, Buggy(), http, errors)
        await run_check(check, Fails(), http, errors)  # a judged result ends the episode
        await run_check(check, Buggy(), http, errors)
    assert len([r for r in caplog.records if "svc/flappy" in r.getMessage()]) == 2


async def test_each_scheduler_remembers_its_own_logged_errors(http, caplog):
    """Two runtimes (or a test after another) do not share which errors were logged."""
    check = make_check("t_buggy", check_id="shared")
    with caplog.at_level(logging.ERROR, logger="monitor.runner"):
        await run_check(check, Buggy(), http, ProbeErrorLog())
        await run_check(check, Buggy(), http, ProbeErrorLog())
    assert len([r for r in caplog.records if "svc/shared" in r.getMessage()]) == 2


async def test_probe_returning_nothing_is_unknown(http):
    result = await run_check(make_check("t_none", check_id="none"), ReturnsNothing(), http)
    assert result.status is Status.UNKNOWN
    assert result.reason.code == "probe.error"


async def test_hung_probe_is_down_at_its_deadline(http):
    async with HungServer() as hung:
        result = await run_check(make_check("t_raw", timeout=0.3, port=hung.port), RawRead(), http)
        assert hung.accepted == 1
        assert await hung.wait_closed_connections() == 0
    assert result.status is Status.DOWN
    # the runner's own deadline fired (a TimeoutError the probe let escape reads
    # "No answer in time"), and it names the check's timeout
    assert result.reason == timeout_reason(0.3)
    assert result.reason.fr == "Pas de réponse en 0,3 s"
    assert result.reason.en == "No answer within 0.3 s"


class Records(Probe):
    """Keeps the context of each run."""

    kind = "t_records"

    def __init__(self) -> None:
        self.seen: list[ProbeContext] = []

    async def check(self, config: ProbeConfig, ctx: ProbeContext) -> ProbeResult:
        self.seen.append(ctx)
        return ProbeResult.up()


@pytest.mark.parametrize("timeout, budget", [
    (30.0, 29.5), (10.0, 9.5), (5.0, 4.5), (2.0, 1.8), (1.0, 0.9), (0.3, 0.27),
])
async def test_the_probe_gets_the_timeout_less_the_runners_margin(http, timeout, budget):
    # a tenth of the timeout, at most half a second (docs/plugins.md, "The run's deadline")
    assert probe_budget(timeout) == pytest.approx(budget)
    clock, probe = ProbeClock(500.0), Records()
    result = await run_check(make_check("t_records", timeout=timeout), probe, http, clock=clock)
    assert result.status is Status.UP
    (ctx,) = probe.seen
    assert ctx.timeout == timeout
    assert ctx.clock is clock
    assert ctx.deadline == pytest.approx(500.0 + budget)
    assert ctx.remaining() == pytest.approx(budget)
    clock.advance(budget / 2)
    assert ctx.remaining() == pytest.approx(budget / 2) and not ctx.expired()
    clock.advance(budget)
    assert ctx.remaining() == 0.0 and ctx.expired()


async def test_every_probe_kind_gets_the_same_budget(http):
    """One rule in the runner, whatever the kind: the built-in kinds' names and a third
    party's get the same deadline for the same timeout, and the contexts tests build with
    probe_context get it too."""
    clock = ProbeClock(0.0)
    kinds = _built_in_kinds() + ["t_records", "ftp"]
    deadlines = set()
    for kind in kinds:
        probe = type(f"Records_{kind}", (Records,), {"kind": kind})()
        check = Check(ref=CheckRef("svc", kind, kind), name=LocalizedText(fr=kind),
                      interval=300, timeout=7.0, confirm=2, retry_interval=30,
                      options=UrlConfig())
        await run_check(check, probe, http, clock=clock)
        deadlines.add(probe.seen[0].deadline)
    deadlines.add(probe_context(CheckRef("svc", "c", "any"), 7.0, http, clock).deadline)
    assert deadlines == {probe_budget(7.0)}
    assert len(kinds) > 10


def _built_in_kinds() -> list[str]:
    from monitor.plugins import ProbeRegistry, build_plugin_manager
    return ProbeRegistry.from_plugin_manager(build_plugin_manager()).names()


async def test_deadline_cancels_hung_http_request_and_closes_its_socket(http):
    async with HungServer() as hung:
        check = make_check("t_http", timeout=0.2, url=f"http://127.0.0.1:{hung.port}/")
        results = await asyncio.gather(*(run_check(check, HttpGet(), http) for _ in range(5)))
        assert hung.accepted == 5
        assert await hung.wait_closed_connections() == 0
    assert {r.status for r in results} == {Status.DOWN}
    assert {r.reason.code for r in results} == {"timeout"}


async def test_cancelled_from_outside_propagates_and_closes_socket(http):
    async with HungServer() as hung:
        task = asyncio.create_task(
            run_check(make_check("t_raw", timeout=5, port=hung.port), RawRead(), http))
        await hung.wait_accepted(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await hung.wait_closed_connections() == 0


async def test_connection_refused_is_down(http):
    port = free_port()
    via_http = await run_check(make_check("t_http", url=f"http://127.0.0.1:{port}/"),
                               HttpGet(), http)
    via_raw = await run_check(make_check("t_raw", port=port), RawRead(), http)
    for result in (via_http, via_raw):
        assert result.status is Status.DOWN
        assert result.reason.code == "connection.refused"
        assert result.reason.fr == "Connexion refusée"


async def test_server_closing_without_answer_is_down(http):
    async def close_at_once(reader, writer):
        writer.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        via_http = await run_check(make_check("t_http", url=f"http://127.0.0.1:{port}/"),
                                   HttpGet(), http)
        via_raw = await run_check(make_check("t_raw", port=port), RawRead(), http)
    finally:
        server.close()
        await server.wait_closed()
    assert via_http.status is Status.DOWN and via_raw.status is Status.DOWN
    assert via_http.reason.code in ("connection.closed", "connection.reset")
    assert via_raw.reason.code == "connection.closed"


async def test_tls_certificate_rejected_is_down(http):
    ca = trustme.CA()  # a CA the client does not trust
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    async def answer(reader, writer):
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await run_check(make_check("t_http", url=f"https://127.0.0.1:{port}/"),
                                 HttpGet(), http)
    finally:
        server.close()
        await server.wait_closed()
    assert result.status is Status.DOWN
    assert result.reason.code == "tls.verify"
    assert result.reason.fr.startswith("Certificat TLS refusé")


async def test_http_error_status_escaping_the_probe_is_down(http, web_server):
    result = await run_check(make_check("t_raise", url=str(web_server.make_url("/broken"))),
                             RaiseForStatus(), http)
    assert result.status is Status.DOWN
    assert result.reason.en == "HTTP status 503"


@pytest.mark.parametrize("exc, code", [
    # what getaddrinfo raises for an unknown name (no real DNS query leaves this machine)
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns.error"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls.error"),
    (OSError(113, "No route to host"), "connection.unreachable"),
    (ConnectionResetError(104, "Connection reset by peer"), "connection.reset"),
    (aiohttp.ServerTimeoutError("Timeout on reading data from socket"), "timeout"),
    (ValueError("boom"), "probe.error"),
])
async def test_exceptions_map_to_reasons(http, exc, code):
    result = await run_check(make_check("t_raises", check_id="raises"), Raises(exc), http)
    assert result.reason.code == code
    assert result.status is (Status.UNKNOWN if code == "probe.error" else Status.DOWN)


def test_timeout_reason_formats_seconds():
    assert timeout_reason(10.0).fr == "Pas de réponse en 10 s"
    assert timeout_reason(10.0).en == "No answer within 10 s"
    assert timeout_reason(2.5).fr == "Pas de réponse en 2,5 s"


class LeaksUrl(Probe):
    """A buggy probe whose exceptions (the one raised and its cause) quote credentials."""

    kind = "t_leaks"

    async def check(self, config: ProbeConfig, ctx: ProbeContext) -> ProbeResult:
        try:
            raise ValueError("cannot read https://127.0.0.1/status?token=T0ken-In-Query")
        except ValueError as exc:
            raise aiohttp.InvalidURL("https://monitor:hunter2@127.0.0.1/status") from exc


@pytest.mark.parametrize(("probe", "check_id", "secrets", "shown"), [
    (LeaksUrl(), "leaks", ("hunter2", "T0ken-In-Query"),
     ("InvalidURL: https://monitor:***@127.0.0.1/status", "?token=***",
      "The above exception was the direct cause")),
    (Buggy(), "buggy-key", ("hunter2",), ("KeyError: 'password=***'",)),
])
async def test_unexpected_exception_is_logged_with_credentials_hidden(
        http, caplog, probe, check_id, secrets, shown):
    with caplog.at_level(logging.ERROR, logger="monitor.runner"):
        result = await run_check(make_check(probe.kind, check_id=check_id), probe, http)
    assert result.status is Status.UNKNOWN
    (record,) = [r for r in caplog.records if f"svc/{check_id}" in r.getMessage()]
    # no exc_info: a handler would print the exception's text, secret included
    assert record.exc_info is None and record.exc_text is None
    text = logging.Formatter().format(record)
    for secret in secrets:
        assert secret not in text and secret not in caplog.text
    # what a volunteer needs to find the bug is still there: type, cleaned text, traceback
    assert "Traceback (most recent call last)" in text
    assert "test_runner.py" in text and "in check" in text
    for part in shown:
        assert part in text
