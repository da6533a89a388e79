"""Delivering requests through the outbox: the desk's ticket stored on the request, the
screenshots deleted once the desk has them, the request held while the desk fails, dead
then retried; the member's receipt mailed once, to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from monitor.assistance.models import AssistanceRow
from monitor.assistance.receipt import ReceiptSender
from monitor.assistance.service import RECEIPT_PLUGIN
from monitor.incidents import outbox
from monitor.incidents.models import OutboxEntry
from monitor.incidents.outbox import OutboxWorker
from monitor.mailer import Mailer, mail_settings
from monitor.notifications import Link, PermanentFailure, RetryLater
from monitor.plugins import build_plugin_manager, hookimpl
from tests.conftest import free_port
from tests.monitor.assistance.conftest import build


class Desk:
    """A desk plugin: answers as scripted (an exception to raise, or the ticket)."""

    def __init__(self) -> None:
        self.script: list[BaseException] = []
        self.received: list = []  # (request, the bytes of each screenshot when called)

    @hookimpl
    def vigie_assistance_request(self, request):
        self.received.append((request, [Path(s.path).read_bytes() for s in request.screenshots]))
        if self.script:
            raise self.script.pop(0)
        return [Link(kind="ticket", title="Ticket #1042", url="https://desk.example/t/1042",
                     public=False, external_id="1042")]


def worker_for(setup, *plugins) -> OutboxWorker:
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=list(plugins))
    return OutboxWorker(setup.store.session, pm, write_sessions=setup.store.write_session,
                        clock=setup.clock, initial_backoff=1.0)


def row(setup, reference) -> AssistanceRow:
    with setup.store.session() as s:
        return s.scalars(select(AssistanceRow).where(AssistanceRow.reference == reference)).one()


async def test_delivered_the_ticket_is_kept_and_the_screenshots_deleted(setup):
    desk = Desk()
    receipt = setup.service.submit(setup.draft(), [setup.screenshot(), setup.screenshot(
        "b.png", "blue")])
    folder = Path(setup.config.data_dir) / "assistance" / receipt.reference
    worker = worker_for(setup, ("desk", desk))
    assert await worker.run_once()
    [(request, images)] = desk.received
    assert request.reference == receipt.reference and len(images) == 2 and all(images)
    delivered = row(setup, receipt.reference)
    assert (delivered.state, delivered.ticket_number, delivered.ticket_url) == (
        "delivered", "1042", "https://desk.example/t/1042")
    assert delivered.delivered_at == setup.clock.now and delivered.last_error is None
    assert not folder.exists()
    assert setup.service.state(receipt.reference) == "delivered"
    assert not await worker.run_once()  # nothing more to do
    again = setup.service.submit(setup.draft(), [])
    assert (again.created, again.state) == (False, "delivered")


async def test_a_failing_desk_holds_the_request_and_keeps_its_files(setup):
    desk = Desk()
    desk.script = [RetryLater(60, "Zammad: 503"), ConnectionError("connection refused")]
    receipt = setup.service.submit(setup.draft(), [setup.screenshot()])
    folder = Path(setup.config.data_dir) / "assistance" / receipt.reference
    worker = worker_for(setup, ("desk", desk))
    await worker.run_once()
    held = row(setup, receipt.reference)
    assert held.state == "held" and "503" in held.last_error
    assert folder.exists()
    assert setup.service.submit(setup.draft(), []).state == "held"
    setup.clock.now += 61
    await worker.run_once()
    assert row(setup, receipt.reference).last_error.startswith("ConnectionError")
    setup.clock.now += 3600
    await worker.run_once()
    assert row(setup, receipt.reference).state == "delivered"
    assert not folder.exists() and len(desk.received) == 3


async def test_a_dead_request_is_retried_by_a_volunteer(setup):
    desk = Desk()
    desk.script = [PermanentFailure("Zammad: 422 group not found")]
    receipt = setup.service.submit(setup.draft(), [setup.screenshot()])
    worker = worker_for(setup, ("desk", desk))
    await worker.run_once()
    dead = row(setup, receipt.reference)
    assert dead.state == "dead" and "group not found" in dead.last_error
    assert (Path(setup.config.data_dir) / "assistance" / receipt.reference).exists()
    with setup.store.write_session() as s, s.begin():
        outbox.retry(s, dead.outbox_id, setup.clock.now)
    assert row(setup, receipt.reference).state == "held"
    await worker.run_once()
    assert row(setup, receipt.reference).state == "delivered"


async def test_a_desk_plugin_gone_dead_letters_the_request(sqlite_setup):
    receipt = sqlite_setup.service.submit(sqlite_setup.draft(), [])
    await worker_for(sqlite_setup).run_once()  # no plugin named "desk"
    assert row(sqlite_setup, receipt.reference).state == "dead"
    assert "not loaded" in row(sqlite_setup, receipt.reference).last_error


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def inbox():
    box, port = Inbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port
    yield box
    controller.stop()


async def test_the_receipt_is_mailed_once_in_the_members_language(tmp_path, inbox):
    mail = (f'mail: {{host: 127.0.0.1, port: {inbox.port}, security: none, '
            f'from_address: "support@example.coop", from_name: "Support Coop"}}\n')
    setup = build(f"sqlite:///{tmp_path / 'vigie.sqlite'}", tmp_path, mail)
    try:
        mailer = Mailer(mail_settings(setup.config))
        receipt = setup.service.submit(setup.draft(), [setup.screenshot()])
        setup.service.submit(setup.draft(), [])  # a double click
        english = setup.service.submit(setup.draft(token="tok-en", language="en",
                                                    email="bob@example.org", name="Bob"), [])
        worker = worker_for(setup, ("desk", Desk()), (RECEIPT_PLUGIN, ReceiptSender(mailer)))
        await worker.run_once()
        await worker.run_once()
        assert len(inbox.messages) == 2
        to, content = inbox.messages[0]
        assert to == ["alice@example.org"]
        message = email.message_from_bytes(content, policy=policy.default)
        assert message["Subject"] == f"Votre demande {receipt.reference} est bien reçue"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Content-Language"] == "fr"
        assert message["From"] == "Support Coop <support@example.coop>"
        assert message["Message-ID"].startswith(f"<vigie.receipt.{receipt.reference}.")
        body = message.get_content()
        assert "Bonjour Alice Martin," in body and receipt.reference in body
        assert "« Mon site est lent »" in body and "https://etat.example.coop" in body
        assert not message.is_multipart()  # no screenshot, no attachment
        en = email.message_from_bytes(inbox.messages[1][1], policy=policy.default)
        assert en["Subject"] == f"Your request {english.reference} has been received"
        assert "there is no phone support" in en.get_content()
        assert en["Content-Language"] == "en"
        with setup.store.session() as s:
            statuses = {e.plugin: e.status for e in s.scalars(select(OutboxEntry))}
        assert statuses == {"desk": "delivered", RECEIPT_PLUGIN: "delivered"}
        mailer.close()
    finally:
        setup.service.close()
        setup.store.dispose()


async def test_an_address_the_server_refuses_dead_letters_the_receipt_only(tmp_path, inbox):
    mail = (f'mail: {{host: 127.0.0.1, port: {inbox.port}, security: none, '
            f'from_address: "support@example.coop"}}\n')
    setup = build(f"sqlite:///{tmp_path / 'vigie.sqlite'}", tmp_path, mail)

    async def refuse(server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such user"

    inbox.handle_RCPT = refuse
    try:
        mailer = Mailer(mail_settings(setup.config))
        receipt = setup.service.submit(setup.draft(), [])
        worker = worker_for(setup, ("desk", Desk()), (RECEIPT_PLUGIN, ReceiptSender(mailer)))
        await worker.run_once()
        with setup.store.session() as s:
            statuses = {e.plugin: e.status for e in s.scalars(select(OutboxEntry))}
        assert statuses == {"desk": "delivered", RECEIPT_PLUGIN: "dead"}
        assert row(setup, receipt.reference).state == "delivered"  # the request went
        mailer.close()
    finally:
        setup.service.close()
        setup.store.dispose()


@pytest.mark.parametrize("address", ["pas-une-adresse", "<a@b>", "a@b,c@d"])
def test_an_address_that_cannot_be_written_is_refused_for_good(address):
    from monitor.assistance.receipt import build_receipt
    from monitor.assistance.request import AssistanceRequest

    request = AssistanceRequest(
        reference="DEM-20260101-ABCD", idempotency_key="assistance:DEM-20260101-ABCD", at=1.0,
        language="fr", category="other", service_id=None, service_name="Autre", title="T",
        description="D", name="N", email=address)
    with pytest.raises(PermanentFailure, match="not an e-mail address"):
        build_receipt(request, "support@example.coop")
