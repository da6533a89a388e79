"""The ``pop3`` probe against a minimal real POP3 server (tests/plugins/mailservers.py)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import ProbeFailed, Status
from plugins.pop3 import POP3Config, POP3Probe
from tests.conftest import free_port
from tests.plugins.mailservers import (
    HOSTNAME,
    PKI,
    USERS,
    POP3Server,
    greet_then_wait,
    make_ctx,
    serve,
)

DAY = 86400
USER, PASSWORD = next(iter(USERS.items()))
WRONG = "wr0ng-pa55word"


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def pki():
    return PKI()


def config(port: int, ca_file: str | None, **extra) -> POP3Config:
    return POP3Config(host="127.0.0.1", port=port, server_name=HOSTNAME, ca_file=ca_file, **extra)


async def run(cfg: POP3Config, http, timeout: float = 3.0):
    return await POP3Probe().check(cfg, make_ctx(http, "pop3", timeout))


async def failure(cfg: POP3Config, http, timeout: float = 3.0) -> ProbeFailed:
    with pytest.raises(ProbeFailed) as caught:
        await run(cfg, http, timeout)
    return caught.value


async def test_stls_and_login(pki, tmp_path, http):
    server = POP3Server(tls_context=pki.server_context(days_left=60))
    async with serve(server.handle) as srv:
        result = await run(config(srv.port, pki.ca_file(tmp_path), username=USER,
                                  password=PASSWORD), http)
        await asyncio.wait_for(srv.all_closed.wait(), 1)
    assert result.status == Status.UP, result.reason
    assert server.logins == [USER]
    assert abs(result.samples["pop3_cert_expiry_timestamp_seconds"] - (time.time() + 60 * DAY)) < 120
    assert 0 < result.samples["pop3_greeting_seconds"] < 3


async def test_refused_login(pki, tmp_path, http):
    server = POP3Server(tls_context=pki.server_context())
    async with serve(server.handle) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path), username=USER,
                                   password=WRONG), http)
    assert exc.reason.code == "mail.login_refused"
    assert "[AUTH]" in exc.reason.en and USER in exc.reason.en
    assert WRONG not in exc.reason.fr + exc.reason.en + str(exc)
    assert server.logins == []


async def test_implicit_tls(pki, tmp_path, http):
    context = pki.server_context()
    server = POP3Server(tls_context=context, implicit=True)
    async with serve(server.handle, tls=context) as srv:
        result = await run(config(srv.port, pki.ca_file(tmp_path), tls="implicit",
                                  username=USER, password=PASSWORD), http)
    assert result.status == Status.UP, result.reason
    assert server.logins == [USER]


async def test_server_without_capa_still_does_stls(pki, tmp_path, http):
    server = POP3Server(tls_context=pki.server_context(), capa=False)
    async with serve(server.handle) as srv:
        result = await run(config(srv.port, pki.ca_file(tmp_path), username=USER,
                                  password=PASSWORD), http)
    assert result.status == Status.UP, result.reason
    assert server.logins == [USER]


async def test_stls_not_offered(pki, tmp_path, http):
    async with serve(POP3Server().handle) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path)), http)
    assert exc.reason.code == "mail.starttls_missing"


async def test_stls_refused_by_a_server_without_capa(pki, tmp_path, http):
    async with serve(POP3Server(capa=False).handle) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path)), http)
    assert exc.reason.code == "mail.starttls_refused"


async def test_expiring_certificate_is_degraded(pki, tmp_path, http):
    server = POP3Server(tls_context=pki.server_context(days_left=2))
    async with serve(server.handle) as srv:
        result = await run(config(srv.port, pki.ca_file(tmp_path)), http)
    assert result.status == Status.DEGRADED
    assert result.reason.code == "tls.expiring"


async def test_hostname_mismatch(pki, tmp_path, http):
    server = POP3Server(tls_context=pki.server_context("pop.other.test"))
    async with serve(server.handle) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path)), http)
    assert exc.reason.code == "tls.hostname"
    assert "pop3_cert_expiry_timestamp_seconds" in exc.samples


async def test_err_greeting(http):
    async with serve(greet_then_wait(b"-ERR [SYS/TEMP] Server overloaded\r\n")) as srv:
        exc = await failure(config(srv.port, None), http)
    assert exc.reason.code == "mail.greeting"
    assert "overloaded" in exc.reason.en


async def test_no_greeting_times_out(http):
    async with serve(greet_then_wait(None)) as srv:
        exc = await failure(config(srv.port, None), http, timeout=0.5)
        await asyncio.wait_for(srv.all_closed.wait(), 1)
    assert exc.reason.code == "timeout"


async def test_refused_connection(http):
    exc = await failure(config(free_port(), None), http)
    assert exc.reason.code == "connection.refused"


def test_default_ports():
    assert POP3Config(host="x").effective_port == 110
    assert POP3Config(host="x", tls="implicit").effective_port == 995


def test_registered_through_the_entry_point():
    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    assert registry.get("pop3").probe_class is POP3Probe
