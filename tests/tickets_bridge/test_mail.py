"""The ``tickets`` plugin with the e-mail adapter, against a real local SMTP server."""

from __future__ import annotations

import email
from email import policy

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port
from tests.docs_bridge.helpers import deliver, follow, make_event
from tickets_bridge.journal import Journal
from tickets_bridge.mail import thread_id
from tickets_bridge.plugin import TicketsPlugin, make_desk
from tickets_bridge.settings import HelpdeskSettings

INTAKE = "support@exemple.coop"


class Sink:
    """An aiosmtpd handler keeping messages; refuses recipients in ``refuse``."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


def plugin_for(port: int) -> TicketsPlugin:
    settings = HelpdeskSettings.model_validate({
        "desk": {"type": "email", "to": INTAKE, "sender": "vigie@etat.exemple.coop",
                 "host": "127.0.0.1", "port": port, "security": "none", "timeout": "5s"}})
    plugin = TicketsPlugin()
    plugin.configure(settings, make_desk(settings, None), Journal())
    return plugin


async def test_messages_carry_the_reference_and_thread_under_the_first(smtp):
    plugin = plugin_for(smtp.port)
    opened = make_event()
    delivery = await deliver(plugin.vigie_incident_opened, opened)
    assert delivery.outcome == "ok"
    # no link for the incident: it keeps only web addresses (a mailto: would be dropped
    # with a warning at each ticket); the journal finds the thread for the follow-ups
    assert delivery.result is None
    updated = follow(opened, "updated", delivery.result, message="Cause identifiée.")
    await deliver(plugin.vigie_incident_updated, updated)
    resolved = follow(updated, "resolved", None, resolved_at=opened.opened_at + 600)
    await deliver(plugin.vigie_incident_resolved, resolved)

    first, update, resolution = smtp.messages
    root = thread_id(opened, "vigie@etat.exemple.coop")
    assert first["Subject"] == "[INC-2026-0042] Nextcloud indisponible"
    assert first["Message-ID"] == root and first["To"] == INTAKE
    assert first["In-Reply-To"] is None
    assert "Nextcloud est en mode maintenance" in first.get_content()
    for follow_up in (update, resolution):
        assert follow_up["Subject"] == "Re: [INC-2026-0042] Nextcloud indisponible"
        assert follow_up["In-Reply-To"] == root and follow_up["References"] == root
        assert follow_up["Message-ID"] not in (root, None)
    assert update["Message-ID"] != resolution["Message-ID"]
    assert "Cause identifiée." in update.get_content()
    assert "Résolu le" in resolution.get_content()


async def test_a_resent_opening_keeps_its_message_id(smtp):
    plugin = plugin_for(smtp.port)
    event = make_event()
    plugin.journal.begin("create:INC-2026-0042")  # an earlier attempt's outcome is unknown
    await deliver(plugin.vigie_incident_opened, event)
    other = plugin_for(smtp.port)
    await deliver(other.vigie_incident_opened, event)
    assert [m["Message-ID"] for m in smtp.messages] == [thread_id(event, "vigie@etat.exemple.coop")] * 2


async def test_refused_intake_address_is_dead_lettered(smtp):
    smtp.refuse.add(INTAKE)
    delivery = await deliver(plugin_for(smtp.port).vigie_incident_opened, make_event())
    assert delivery.outcome == "dead" and INTAKE in delivery.result
    assert not smtp.messages


async def test_no_smtp_server_is_retried():
    plugin = plugin_for(free_port())
    delivery = await deliver(plugin.vigie_incident_opened, make_event(), max_attempts=2)
    assert delivery.outcome == "gave_up" and "cannot connect" in delivery.errors[0]
    assert not plugin.journal.pending("create:INC-2026-0042")
