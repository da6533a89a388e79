"""The ``imap`` probe against a minimal real IMAP4rev1 server (tests/plugins/mailservers.py)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import ProbeFailed, Status
from plugins.imap import IMAPConfig, IMAPProbe
from tests.conftest import free_port
from tests.plugins.mailservers import (
    HOSTNAME,
    PKI,
    USERS,
    IMAPServer,
    greet_then_wait,
    make_ctx,
    serve,
)

USER, PASSWORD = next(iter(USERS.items()))
WRONG = "wr0ng-pa55word"


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def pki():
    return PKI()


def config(port: int, ca_file: str | None, **extra) -> IMAPConfig:
    return IMAPConfig(host="127.0.0.1", port=port, server_name=HOSTNAME, ca_file=ca_file, **extra)


async def run(cfg: IMAPConfig, http, timeout: float = 3.0):
    return await IMAPProbe().check(cfg, make_ctx(http, "imap", timeout))


async def failure(cfg: IMAPConfig, http, timeout: float = 3.0) -> ProbeFailed:
    with pytest.raises(ProbeFailed) as caught:
        await run(cfg, http, timeout)
    return caught.value


async def test_starttls_and_login(pki, tmp_path, http):
    server = IMAPServer(tls_context=pki.server_context(days_left=90))
    async with serve(server.handle) as srv:
        result = await run(config(srv.port, pki.ca_file(tmp_path), username=USER,
                                  password=PASSWORD), http)
        await asyncio.wait_for(srv.all_closed.wait(), 1)
    assert result.status == Status.UP, result.reason
    assert server.logins == [USER]  # the password has a space: sent as a quoted string
    assert abs(result.samples["imap_cert_expiry_timestamp_seconds"] - (time.time() + 90 * DAY)) < 120
    assert 0 < result.samples["imap_greeting_seconds"] < 3
    assert result.info["cert_subject"] == HOSTNAME


async def test_login_with_a_non_ascii_password_uses_a_literal(pki, tmp_path, http):
    server = IMAPServer(tls_context=pki.server_context(), users={"probe": 'pâss "wörd"'})
    async with serve(server.handle) as srv:
        result = await run(config(srv.port, pki.ca_file(tmp_path), username="probe",
                                  password='pâss "wörd"'), http)
    assert result.status == Status.UP, result.reason
    assert server.logins == ["probe"]


async def test_refused_login(pki, tmp_path, http):
    server = IMAPServer(tls_context=pki.server_context())
    async with serve(server.handle) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path), username=USER,
                                   password=WRONG), http)
    assert exc.reason.code == "mail.login_refused"
    assert "AUTHENTICATIONFAILED" in exc.reason.en and USER in exc.reason.fr
    assert WRONG not in exc.reason.fr + exc.reason.en + str(exc)
    assert "imap_cert_expiry_timestamp_seconds" in exc.samples
    assert server.logins == []


async def test_implicit_tls(pki, tmp_path, http):
    context = pki.server_context(days_left=3)
    server = IMAPServer(tls_context=context, implicit=True)
    async with serve(server.handle, tls=context) as srv:
        result = await run(config(srv.port, pki.ca_file(tmp_path), tls="implicit",
                                  username=USER, password=PASSWORD), http)
    assert result.status == Status.DEGRADED
    assert result.reason.code == "tls.expiring"
    assert server.logins == [USER]


async def test_expired_certificate_behind_starttls(pki, tmp_path, http):
    server = IMAPServer(tls_context=pki.server_context(days_left=-1))
    async with serve(server.handle) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path)), http)
        assert srv.connections == 2  # the second one reads the refused certificate
    assert exc.reason.code == "tls.expired"
    assert exc.samples["imap_cert_expiry_timestamp_seconds"] < time.time()


async def test_starttls_not_offered(pki, tmp_path, http):
    async with serve(IMAPServer().handle) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path)), http)
        plain = await run(config(srv.port, None, tls="none", username=USER, password=PASSWORD), http)
    assert exc.reason.code == "mail.starttls_missing"
    assert plain.status == Status.UP


async def test_login_disabled_without_tls(pki, http):
    server = IMAPServer(tls_context=pki.server_context())
    async with serve(server.handle) as srv:
        exc = await failure(config(srv.port, None, tls="none", username=USER,
                                   password=PASSWORD), http)
    assert exc.reason.code == "mail.auth_unavailable"
    assert "LOGINDISABLED" in exc.reason.en


async def test_server_without_imap4rev1(pki, tmp_path, http):
    server = IMAPServer(tls_context=pki.server_context(), capabilities=("IMAP4",))
    async with serve(server.handle) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path)), http)
    assert exc.reason.code == "imap.capability"


async def test_imap4rev2_is_accepted(http):
    async with serve(IMAPServer(capabilities=("IMAP4rev2",)).handle) as srv:
        result = await run(config(srv.port, None, tls="none"), http)
    assert result.status == Status.UP


async def test_bye_greeting(http):
    async with serve(greet_then_wait(b"* BYE Too many connections\r\n")) as srv:
        exc = await failure(config(srv.port, None), http)
    assert exc.reason.code == "mail.greeting"
    assert "Too many connections" in exc.reason.fr


async def test_not_an_imap_server(http):
    async with serve(greet_then_wait(b"220 smtp.vigie.test ESMTP\r\n")) as srv:
        exc = await failure(config(srv.port, None), http)
    assert exc.reason.code == "mail.protocol"


async def test_no_greeting_times_out(http):
    async with serve(greet_then_wait(None)) as srv:
        exc = await failure(config(srv.port, None), http, timeout=0.5)
        await asyncio.wait_for(srv.all_closed.wait(), 1)
    assert exc.reason.code == "timeout"
    assert "greeting" in exc.reason.en


async def test_refused_connection(http):
    exc = await failure(config(free_port(), None), http)
    assert exc.reason.code == "connection.refused"


def test_default_ports():
    assert IMAPConfig(host="x").effective_port == 143
    assert IMAPConfig(host="x", tls="implicit").effective_port == 993


def test_registered_through_the_entry_point():
    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    assert registry.get("imap").probe_class is IMAPProbe


DAY = 86400
