"""The ``tls`` probe against real local TLS servers (direct TLS and STARTTLS)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from pydantic import ValidationError

from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import ProbeFailed, Status
from plugins.tls import TLSConfig, TLSProbe
from tests.conftest import free_port
from tests.plugins.mailservers import (
    HOSTNAME,
    PKI,
    IMAPServer,
    POP3Server,
    greet_then_wait,
    make_ctx,
    serve,
)

DAY = 86400


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def pki():
    return PKI()


def config(port: int, ca_file: str | None, **extra) -> TLSConfig:
    return TLSConfig(host="127.0.0.1", port=port, server_name=HOSTNAME, ca_file=ca_file, **extra)


async def run(cfg: TLSConfig, http, timeout: float = 3.0):
    return await TLSProbe().check(cfg, make_ctx(http, "tls", timeout))


async def failure(cfg: TLSConfig, http, timeout: float = 3.0) -> ProbeFailed:
    with pytest.raises(ProbeFailed) as caught:
        await run(cfg, http, timeout)
    return caught.value


async def test_valid_certificate_is_up_with_expiry_and_info(pki, tmp_path, http):
    async with serve(greet_then_wait(None), tls=pki.server_context(days_left=90)) as srv:
        result = await run(config(srv.port, pki.ca_file(tmp_path)), http)
    assert result.status == Status.UP
    expiry = result.samples["tls_cert_expiry_timestamp_seconds"]
    assert abs(expiry - (time.time() + 90 * DAY)) < 120
    assert 0 < result.samples["tls_handshake_seconds"] < 3
    assert result.info["cert_subject"] == HOSTNAME
    assert result.info["tls_version"].startswith("TLSv1.")
    assert result.info["cert_issuer"]
    assert srv.connections == 1


async def test_expiring_certificate_is_degraded(pki, tmp_path, http):
    async with serve(greet_then_wait(None), tls=pki.server_context(days_left=5)) as srv:
        result = await run(config(srv.port, pki.ca_file(tmp_path), warn_days=14), http)
        quiet = await run(config(srv.port, pki.ca_file(tmp_path), warn_days=3), http)
    assert result.status == Status.DEGRADED
    assert result.reason.code == "tls.expiring"
    assert "in 4 days, on " in result.reason.en and "dans 4 jours, le " in result.reason.fr
    assert "(s)" not in result.reason.en + result.reason.fr
    assert quiet.status == Status.UP


async def test_expired_certificate_is_down_and_still_reports_its_expiry(pki, tmp_path, http):
    async with serve(greet_then_wait(None), tls=pki.server_context(days_left=-2)) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path)), http)
        # the refused certificate is read on a second, unverified connection: the only
        # one whose handshake completes (a TLS server counts no other)
        assert srv.connections == 1
    assert exc.status == Status.DOWN
    assert exc.reason.code == "tls.expired"
    expiry = exc.samples["tls_cert_expiry_timestamp_seconds"]
    assert abs(expiry - (time.time() - 2 * DAY)) < 120
    assert exc.info["cert_subject"] == HOSTNAME


async def test_expired_certificate_is_down_without_verification(pki, http):
    async with serve(greet_then_wait(None), tls=pki.server_context(days_left=-2)) as srv:
        exc = await failure(config(srv.port, None, verify=False), http)
    assert exc.reason.code == "tls.expired"
    assert exc.samples["tls_cert_expiry_timestamp_seconds"] < time.time()


async def test_hostname_mismatch_is_down_unless_verification_is_off(pki, tmp_path, http):
    async with serve(greet_then_wait(None), tls=pki.server_context("other.vigie.test")) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path)), http)
        unverified = await run(config(srv.port, None, verify=False), http)
    assert exc.reason.code == "tls.hostname"
    assert HOSTNAME in exc.reason.fr
    assert "tls_cert_expiry_timestamp_seconds" in exc.samples
    assert unverified.status == Status.UP
    assert unverified.info["cert_subject"] == "other.vigie.test"


async def test_certificate_from_an_unknown_authority_is_down(pki, tmp_path, http):
    other_ca = PKI().ca_file(tmp_path)
    async with serve(greet_then_wait(None), tls=pki.server_context()) as srv:
        exc = await failure(config(srv.port, other_ca), http)
        system = await failure(config(srv.port, None), http)  # the system trust store
    assert exc.reason.code == "tls.untrusted"
    assert system.reason.code == "tls.untrusted"


async def test_expired_is_the_reason_even_when_the_authority_is_unknown_too(pki, tmp_path, http):
    async with serve(greet_then_wait(None), tls=pki.server_context(days_left=-1)) as srv:
        exc = await failure(config(srv.port, PKI().ca_file(tmp_path)), http)
    assert exc.reason.code == "tls.expired"


async def test_certificate_not_valid_yet(pki, tmp_path, http):
    context = pki.server_context(days_left=30, starts_in_days=2)
    async with serve(greet_then_wait(None), tls=context) as srv:
        verified = await failure(config(srv.port, pki.ca_file(tmp_path)), http)
        unverified = await failure(config(srv.port, None, verify=False), http)
    assert verified.reason.code == "tls.not_yet_valid"
    assert unverified.reason.code == "tls.not_yet_valid"


async def test_server_not_speaking_tls_is_a_handshake_failure(tmp_path, pki, http):
    async with serve(greet_then_wait(b"220 plain text smtp\r\n")) as srv:
        exc = await failure(config(srv.port, pki.ca_file(tmp_path)), http)
    assert exc.reason.code == "tls.error"
    assert str(srv.port) in exc.reason.en


async def test_refused_connection(http):
    exc = await failure(config(free_port(), None), http)
    assert exc.reason.code == "connection.refused"


async def test_silent_server_times_out_and_the_socket_is_closed(http):
    async with serve(greet_then_wait(None)) as srv:
        exc = await failure(config(srv.port, None), http, timeout=0.5)
        await asyncio.wait_for(srv.all_closed.wait(), 1)
    assert exc.reason.code == "timeout"
    assert "TLS handshake" in exc.reason.en


async def test_cancellation_closes_the_connection(http):
    async with serve(greet_then_wait(None)) as srv:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):  # the runner's hard deadline, shorter here
                await run(config(srv.port, None), http, timeout=10)
        assert srv.connections == 1
        await asyncio.wait_for(srv.all_closed.wait(), 1)


@pytest.fixture
def smtp_server(pki):
    """aiosmtpd with STARTTLS, in its own thread; yields (port, make_server(cert days))."""
    controllers = []

    def start(days_left: float | None = None) -> int:
        port = free_port()
        controller = Controller(Sink(), hostname="127.0.0.1", port=port,
                                server_hostname=HOSTNAME,
                                tls_context=pki.server_context(days_left=days_left),
                                require_starttls=True)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


async def test_certificate_behind_smtp_starttls(smtp_server, pki, tmp_path, http):
    port = smtp_server(days_left=60)
    result = await run(config(port, pki.ca_file(tmp_path), starttls="smtp"), http)
    assert result.status == Status.UP
    assert abs(result.samples["tls_cert_expiry_timestamp_seconds"] - (time.time() + 60 * DAY)) < 120


async def test_expired_certificate_behind_smtp_starttls(smtp_server, pki, tmp_path, http):
    port = smtp_server(days_left=-1)
    exc = await failure(config(port, pki.ca_file(tmp_path), starttls="smtp"), http)
    assert exc.reason.code == "tls.expired"
    assert exc.samples["tls_cert_expiry_timestamp_seconds"] < time.time()


async def test_smtp_starttls_not_offered(http, tmp_path, pki):
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, server_hostname=HOSTNAME)
    controller.start()
    try:
        exc = await failure(config(port, pki.ca_file(tmp_path), starttls="smtp"), http)
    finally:
        controller.stop()
    assert exc.reason.code == "mail.starttls_missing"


async def test_certificate_behind_imap_and_pop3_starttls(pki, tmp_path, http):
    ca = pki.ca_file(tmp_path)
    imap = IMAPServer(tls_context=pki.server_context(days_left=30))
    pop3 = POP3Server(tls_context=pki.server_context(days_left=3))
    async with serve(imap.handle) as imap_srv, serve(pop3.handle) as pop3_srv:
        imap_result = await run(config(imap_srv.port, ca, starttls="imap"), http)
        pop3_result = await run(config(pop3_srv.port, ca, starttls="pop3"), http)
    assert imap_result.status == Status.UP
    assert pop3_result.status == Status.DEGRADED


def test_config_is_strict(tmp_path):
    with pytest.raises(ValidationError):
        TLSConfig(host="example.org", prot=443)
    with pytest.raises(ValidationError):
        TLSConfig(host="example.org", ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ValidationError):
        TLSConfig(host="example.org", starttls="ftp")
    assert TLSConfig(host="example.org").port == 443


def test_registered_through_the_entry_point():
    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    assert registry.get("tls").probe_class is TLSProbe
