"""The ``smtp`` probe against aiosmtpd (a real SMTP server) and raw scripted servers."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import ValidationError

from monitor.config import Check, LocalizedText
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import CheckRef, ProbeFailed, Status
from monitor.runner import run_check
from plugins.smtp import SMTPConfig, SMTPProbe
from tests.conftest import free_port
from tests.plugins.mailservers import (
    HOSTNAME,
    PKI,
    USERS,
    greet_then_wait,
    make_ctx,
    serve,
)

DAY = 86400
USER, PASSWORD = next(iter(USERS.items()))
WRONG = "wr0ng-pa55word"


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """Accept the one test account."""
    ok = (isinstance(auth_data, LoginPassword)
          and USERS.get(auth_data.login.decode()) == auth_data.password.decode())
    # handled=False: let aiosmtpd answer "535 5.7.8 Authentication credentials invalid"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def pki():
    return PKI()


@pytest.fixture
def smtp(pki):
    """Start aiosmtpd servers (each in its own thread): ``smtp(mode, days_left, **kw)``."""
    controllers = []

    def start(mode: str = "starttls", days_left: float | None = 90, **kwargs) -> int:
        port = free_port()
        context = pki.server_context(days_left=days_left)
        tls = {"starttls": {"tls_context": context, "require_starttls": True},
               "implicit": {"ssl_context": context},
               "none": {}}[mode]
        controller = Controller(Sink(), hostname="127.0.0.1", port=port,
                                server_hostname=HOSTNAME, authenticator=authenticator,
                                **tls, **kwargs)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


def config(port: int, ca_file: str | None, **extra) -> SMTPConfig:
    return SMTPConfig(host="127.0.0.1", port=port, server_name=HOSTNAME, ca_file=ca_file,
                      ehlo_name="probe.vigie.test", **extra)


async def run(cfg: SMTPConfig, http, timeout: float = 3.0):
    return await SMTPProbe().check(cfg, make_ctx(http, "smtp", timeout))


async def failure(cfg: SMTPConfig, http, timeout: float = 3.0) -> ProbeFailed:
    with pytest.raises(ProbeFailed) as caught:
        await run(cfg, http, timeout)
    return caught.value


async def test_submission_with_starttls_and_login(smtp, pki, tmp_path, http):
    port = smtp("starttls")
    result = await run(config(port, pki.ca_file(tmp_path), username=USER, password=PASSWORD), http)
    assert result.status == Status.UP, result.reason
    assert 0 < result.samples["smtp_greeting_seconds"] < 3
    assert abs(result.samples["smtp_cert_expiry_timestamp_seconds"] - (time.time() + 90 * DAY)) < 120
    assert result.info["cert_subject"] == HOSTNAME


async def test_login_with_the_login_mechanism(smtp, pki, tmp_path, http):
    port = smtp("starttls", auth_exclude_mechanism=["PLAIN"])
    ok = await run(config(port, pki.ca_file(tmp_path), username=USER, password=PASSWORD), http)
    bad = await failure(config(port, pki.ca_file(tmp_path), username=USER, password=WRONG), http)
    assert ok.status == Status.UP
    assert bad.reason.code == "mail.login_refused"


async def test_refused_login_names_the_account_never_the_password(smtp, pki, tmp_path, http):
    port = smtp("starttls", days_left=5)
    exc = await failure(config(port, pki.ca_file(tmp_path), username=USER, password=WRONG), http)
    assert exc.status == Status.DOWN
    assert exc.reason.code == "mail.login_refused"
    assert USER in exc.reason.fr and "535" in exc.reason.en
    for text in (exc.reason.fr, exc.reason.en, str(exc), repr(exc.info)):
        assert WRONG not in text
    # what was learnt before the failure travels with it
    assert exc.samples["smtp_cert_expiry_timestamp_seconds"] > time.time()


async def test_implicit_tls(smtp, pki, tmp_path, http):
    port = smtp("implicit")
    result = await run(config(port, pki.ca_file(tmp_path), tls="implicit"), http)
    assert result.status == Status.UP, result.reason
    assert "smtp_cert_expiry_timestamp_seconds" in result.samples


async def test_implicit_tls_against_a_plain_server_fails_the_handshake(smtp, pki, tmp_path, http):
    port = smtp("none")
    exc = await failure(config(port, pki.ca_file(tmp_path), tls="implicit"), http)
    assert exc.reason.code == "tls.error"


async def test_expiring_certificate_is_degraded(smtp, pki, tmp_path, http):
    port = smtp("starttls", days_left=5)
    result = await run(config(port, pki.ca_file(tmp_path), username=USER, password=PASSWORD), http)
    assert result.status == Status.DEGRADED
    assert result.reason.code == "tls.expiring"


async def test_expired_certificate_is_down_with_its_expiry(smtp, pki, tmp_path, http):
    port = smtp("starttls", days_left=-3)
    exc = await failure(config(port, pki.ca_file(tmp_path)), http)
    assert exc.reason.code == "tls.expired"
    assert exc.samples["smtp_cert_expiry_timestamp_seconds"] < time.time() - 2 * DAY
    assert "smtp_greeting_seconds" in exc.samples


async def test_untrusted_certificate(smtp, tmp_path, http):
    port = smtp("starttls")
    exc = await failure(config(port, PKI().ca_file(tmp_path)), http)
    assert exc.reason.code == "tls.untrusted"


async def test_starttls_not_offered(smtp, pki, tmp_path, http):
    port = smtp("none")
    exc = await failure(config(port, pki.ca_file(tmp_path)), http)
    assert exc.reason.code == "mail.starttls_missing"
    assert "STARTTLS" in exc.reason.fr


async def test_plain_smtp_without_tls(smtp, http):
    port = smtp("none")
    result = await run(config(port, None, tls="none"), http)
    assert result.status == Status.UP
    assert "smtp_cert_expiry_timestamp_seconds" not in result.samples


async def test_require_auth(smtp, pki, tmp_path, http):
    # aiosmtpd offers AUTH only once TLS is up, as a submission server should
    port = smtp("none")
    exc = await failure(config(port, None, tls="none", require_auth=True), http)
    assert exc.reason.code == "smtp.auth_missing"
    secure = smtp("starttls")
    result = await run(config(secure, pki.ca_file(tmp_path), require_auth=True), http)
    assert result.status == Status.UP


async def test_refusing_greeting(http):
    async with serve(greet_then_wait(b"554 5.3.2 mail.vigie.test Service closed\r\n")) as srv:
        exc = await failure(config(srv.port, None), http)
    assert exc.reason.code == "mail.greeting"
    assert "554 5.3.2" in exc.reason.fr
    assert not exc.reason.public  # the server's words: volunteers only


async def test_multiline_greeting_and_garbage(http):
    async with serve(greet_then_wait(b"220-first\r\n220 second\r\n250-x\r\nnonsense\r\n")) as srv:
        exc = await failure(config(srv.port, None), http)
    # greeting accepted; the EHLO answer is garbage
    assert exc.reason.code == "mail.protocol"
    assert "nonsense" in exc.reason.en


async def test_server_that_never_greets_times_out_and_is_closed(http):
    async with serve(greet_then_wait(None)) as srv:
        exc = await failure(config(srv.port, None), http, timeout=0.5)
        await asyncio.wait_for(srv.all_closed.wait(), 1)
    assert exc.reason.code == "timeout"
    assert "greeting" in exc.reason.en and "accueil" in exc.reason.fr


async def test_server_closing_at_once(http):
    async def close(reader, writer):
        writer.close()

    async with serve(close) as srv:
        exc = await failure(config(srv.port, None), http)
    assert exc.reason.code == "connection.closed"


async def test_refused_connection(http):
    exc = await failure(config(free_port(), None), http)
    assert exc.reason.code == "connection.refused"


async def test_through_the_runner_the_probe_names_what_it_waited_for(http):
    async with serve(greet_then_wait(None)) as srv:
        check = Check(ref=CheckRef("mail", "smtp", "smtp"), name=LocalizedText(fr="SMTP"),
                      interval=300, timeout=1.0, confirm=2, retry_interval=30,
                      options=config(srv.port, None))
        result = await run_check(check, SMTPProbe(), http)
        await asyncio.wait_for(srv.all_closed.wait(), 1)
    assert result.status == Status.DOWN
    assert result.reason.code == "timeout" and "greeting" in result.reason.en


def test_config_defaults_and_secrets(tmp_path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    cfg = SMTPConfig(host="mail.example.org", username=USER, password_file=str(secret))
    assert cfg.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(cfg)
    assert cfg.effective_port == 587
    assert SMTPConfig(host="x", tls="implicit").effective_port == 465
    assert SMTPConfig(host="x", tls="none").effective_port == 25
    with pytest.raises(ValidationError):
        SMTPConfig(host="x", username=USER)  # no password
    with pytest.raises(ValidationError):
        SMTPConfig(host="x", username=USER, password="a\r\nQUIT")
    with pytest.raises(ValidationError):
        SMTPConfig(host="x", tls="ssl")


def test_registered_through_the_entry_point():
    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    assert registry.get("smtp").probe_class is SMTPProbe
