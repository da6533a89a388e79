"""The mailer against aiosmtpd, a real SMTP server on 127.0.0.1: one connection for many
messages, a new one when idle or dropped, STARTTLS and TLS with a login, refusals told
apart (for good or for now), the password never in an error, bounded by its timeout."""

from __future__ import annotations

import socket
import threading
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import ValidationError

from monitor.mailer import Mailer, MailError, MailSettings
from tests.conftest import free_port
from tests.plugins.mailservers import PKI

USER, PASSWORD = "vigie", "s3cret-pass w0rd"


class Recorder:
    """Keeps every message with the connection it came on; refuses some recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[int, str, bytes]] = []  # (connection, to, content)
        self.logins: list[str] = []
        self.refuse: dict[str, str] = {}  # address → SMTP answer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for to in envelope.rcpt_tos:
            self.messages.append((id(session), to, envelope.content))
        return "250 Message accepted"

    def connections(self) -> int:
        return len({conn for conn, _, _ in self.messages})


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
          and auth_data.password.decode() == PASSWORD)
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp():
    """``smtp(mode, **controller keys) -> (port, recorder)``; modes starttls, tls, none."""
    controllers = []
    pki = PKI()

    def start(mode: str = "none", port: int | None = None, **kwargs):
        recorder = kwargs.pop("recorder", None) or Recorder()
        port = port or free_port()
        context = pki.server_context("127.0.0.1")
        tls = {"starttls": {"tls_context": context, "require_starttls": True,
                            "authenticator": authenticator, "auth_require_tls": True},
               # (aiosmtpd does not count TLS from the first byte as TLS for AUTH)
               "tls": {"ssl_context": context, "authenticator": authenticator,
                       "auth_require_tls": False},
               "none": {}}[mode]
        controller = Controller(recorder, hostname="127.0.0.1", port=port,
                                server_hostname="127.0.0.1", **tls, **kwargs)
        controller.start()
        controllers.append(controller)
        return port, recorder, controller

    start.ca = pki
    yield start
    for controller in controllers:
        try:
            controller.stop()
        except AssertionError:  # already stopped by the test
            pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def message(to: str = "alice@example.org", subject: str = "Reçu") -> EmailMessage:
    msg = EmailMessage()
    msg["To"], msg["Subject"] = to, subject
    msg.set_content("Bonjour,\nvotre demande est reçue.\n")
    return msg


def settings(port: int, **changes) -> MailSettings:
    values = dict(host="127.0.0.1", port=port, security="none",
                  from_address="support@example.coop", from_name="Support", timeout=5)
    values.update(changes)
    return MailSettings(**values)


def test_messages_share_one_connection_until_it_is_idle(smtp):
    port, recorder, _ = smtp("none")
    clock = Clock()
    mailer = Mailer(settings(port, idle_timeout=60), clock=clock)
    for n in range(3):
        mailer.send(message(subject=f"n{n}"))
    assert len(recorder.messages) == 3 and recorder.connections() == 1
    assert mailer.connections == 1
    clock.now += 61  # unused for longer than idle_timeout: a new connection
    mailer.send(message())
    assert recorder.connections() == 2 and mailer.connections == 2
    content = recorder.messages[0][2].decode()
    assert "From: Support <support@example.coop>" in content
    mailer.close()


def test_a_connection_the_server_dropped_is_replaced_without_losing_the_message(smtp):
    port, recorder, controller = smtp("none")
    mailer = Mailer(settings(port), clock=Clock())
    mailer.send(message(subject="first"))
    controller.stop()  # the server goes away with the open connection
    _, again, _ = smtp("none", port=port)
    mailer.send(message(subject="second"))
    assert len(recorder.messages) == 1 and len(again.messages) == 1
    assert mailer.connections == 2
    mailer.close()


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_tls_and_login(smtp, mode, tmp_path):
    port, recorder, _ = smtp(mode)
    ca_file = str(tmp_path / "ca.pem")
    smtp.ca.ca.cert_pem.write_to_path(ca_file)
    mailer = Mailer(settings(port, security=mode, username=USER, password=PASSWORD,
                             ca_file=ca_file))
    mailer.send(message())
    mailer.send(message())
    assert len(recorder.messages) == 2 and recorder.connections() == 1
    mailer.close()


def test_an_untrusted_certificate_is_refused(smtp):
    port, recorder, _ = smtp("starttls")
    mailer = Mailer(settings(port, security="starttls", username=USER, password=PASSWORD))
    with pytest.raises(MailError) as caught:
        mailer.send(message())
    assert not caught.value.permanent and "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert recorder.messages == []


def test_a_wrong_password_is_not_permanent_and_never_shown(smtp, tmp_path):
    port, _, _ = smtp("tls")
    ca_file = str(tmp_path / "ca.pem")
    smtp.ca.ca.cert_pem.write_to_path(ca_file)
    wrong = "wr0ng-pa55word"
    mailer = Mailer(settings(port, security="tls", username=USER, password=wrong,
                             ca_file=ca_file))
    with pytest.raises(MailError) as caught:
        mailer.send(message())
    assert "535" in str(caught.value) and wrong not in str(caught.value)
    assert not caught.value.permanent  # a volunteer fixes the password; then it goes


def test_refusals_for_good_and_for_now(smtp):
    port, recorder, _ = smtp("none")
    recorder.refuse = {"gone@example.org": "550 5.1.1 No such user",
                       "full@example.org": "452 4.2.2 Mailbox full"}
    mailer = Mailer(settings(port))
    with pytest.raises(MailError) as gone:
        mailer.send(message("gone@example.org"))
    assert gone.value.permanent and gone.value.recipient and gone.value.code == 550
    assert "No such user" in str(gone.value)
    with pytest.raises(MailError) as full:
        mailer.send(message("full@example.org"))
    assert not full.value.permanent and full.value.recipient and full.value.code == 452
    mailer.send(message())  # the next one goes, on the same connection
    assert [to for _, to, _ in recorder.messages] == ["alice@example.org"]
    assert mailer.connections == 1


class Closing(Recorder):
    """Answers 421 (closing) to the first message, then accepts."""

    async def handle_DATA(self, server, session, envelope):
        if not self.logins:
            self.logins.append("closed once")
            return "421 4.3.2 Too many connections, closing"
        return await super().handle_DATA(server, session, envelope)


def test_a_server_closing_the_connection_is_not_about_the_recipient(smtp):
    port, recorder, _ = smtp("none", recorder=Closing())
    mailer = Mailer(settings(port))
    with pytest.raises(MailError) as closing:
        mailer.send(message())
    assert not closing.value.permanent and not closing.value.recipient
    assert closing.value.code == 421
    mailer.send(message())  # on a new connection
    assert len(recorder.messages) == 1 and mailer.connections == 2
    mailer.close()


def test_a_silent_server_fails_within_the_timeout():
    """A server that accepts and never greets: the mailer gives up after ``timeout``."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()

    def accept():
        conn, _ = listener.accept()
        accepted.set()
        conn.recv(1)  # holds the connection until the client closes it
        conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    mailer = Mailer(settings(listener.getsockname()[1], timeout=0.2))
    try:
        with pytest.raises(MailError) as caught:
            mailer.send(message())
        assert "timed out" in str(caught.value) and not caught.value.permanent
        assert accepted.is_set()
    finally:
        thread.join(timeout=10)
        listener.close()


def test_settings_need_a_sender_with_a_host_and_default_the_port():
    with pytest.raises(ValidationError, match="from_address is required"):
        MailSettings(host="relay.example.coop")
    with pytest.raises(ValidationError, match="username"):
        MailSettings(host="relay", from_address="a@b.c", password="x")
    assert MailSettings(host="r", from_address="a@b.c").effective_port == 587
    assert MailSettings(host="r", from_address="a@b.c", security="tls").effective_port == 465
    assert not MailSettings().enabled
    with pytest.raises(ValueError):
        Mailer(MailSettings())
