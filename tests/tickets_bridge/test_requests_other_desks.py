"""Members' requests for help delivered to osTicket, to a desk's intake address (a real
local SMTP server) and to a JSON webhook: the screenshots arrive unchanged, once."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import free_port
from tests.docs_bridge.helpers import deliver
from tests.tickets_bridge.assistance import MEMBER, REFERENCE, has_metadata, make_request
from tests.tickets_bridge.test_mail import INTAKE, smtp  # noqa: F401 (the SMTP fixture)
from tests.tickets_bridge.test_mail import plugin_for as mail_plugin
from tests.tickets_bridge.test_osticket import plugin_for as osticket_plugin
from tests.tickets_bridge.test_webhook import plugin_for as webhook_plugin
from tickets_bridge.mail import request_message_id

SENDER = "vigie@etat.exemple.coop"


def shot_bytes(request) -> list[bytes]:
    return [Path(s.path).read_bytes() for s in request.screenshots]


# osTicket -------------------------------------------------------------------------------


async def test_osticket_gets_the_members_ticket_with_the_screenshots(osticket, http, tmp_path):
    request = make_request(tmp_path / "shots")
    plugin = osticket_plugin(osticket, http, requests_topic_id=12)
    delivery = await deliver(plugin.vigie_assistance_request, request)
    assert delivery.outcome == "ok"
    [ticket] = osticket.tickets
    [link] = delivery.result
    assert (link.kind, link.public, link.external_id) == ("ticket", False, ticket["number"])
    assert (ticket["name"], ticket["email"], ticket["topicId"]) == ("Camille Martin", MEMBER, 12)
    assert ticket["subject"] == f"[{REFERENCE}] Mes fichiers ne se synchronisent plus"
    assert [(a["name"], a["type"]) for a in ticket["attachments"]] == [
        ("synchro en erreur.png", "image/png"), ("photo-ecran.jpg", "image/jpeg")]
    assert [a["data"] for a in ticket["attachments"]] == shot_bytes(request)
    assert not any(has_metadata(a["data"]) for a in ticket["attachments"])
    # no internal notes in osTicket's API: the context follows the member's words
    message = ticket["message"]
    assert message.startswith(request.description)
    assert message.index("Pour les bénévoles (ajouté par Vigie") > len(request.description)
    assert "Incident en cours : INC-2026-0042" in message


async def test_osticket_without_a_topic_lets_the_desk_choose(osticket, http, tmp_path):
    await deliver(osticket_plugin(osticket, http).vigie_assistance_request,
                  make_request(tmp_path / "shots"))
    assert osticket.tickets[0]["topicId"] is None


async def test_osticket_timeout_after_sending_is_dead_lettered_not_duplicated(
        osticket, http, tmp_path):
    osticket.hang_after_record = True
    plugin = osticket_plugin(osticket, http, timeout="500ms")
    request = make_request(tmp_path / "shots")
    delivery = await deliver(plugin.vigie_assistance_request, request)
    assert delivery.outcome == "dead" and delivery.attempts == 1
    assert REFERENCE in delivery.result and "peut-être été créé" in delivery.result
    again = await deliver(plugin.vigie_assistance_request, request)  # retried by hand
    assert again.outcome == "dead" and len(osticket.tickets) == 1


async def test_osticket_refusal_is_dead_lettered_with_its_text(osticket, http, tmp_path):
    osticket.fail_next(400, "Unable to create new ticket: email: Valid email required")
    delivery = await deliver(osticket_plugin(osticket, http).vigie_assistance_request,
                             make_request(tmp_path / "shots"))
    assert delivery.outcome == "dead" and "Valid email required" in delivery.result
    assert not osticket.tickets


# E-mail ---------------------------------------------------------------------------------


async def test_the_intake_address_gets_one_message_with_the_attachments(smtp, tmp_path):
    request = make_request(tmp_path / "shots")
    delivery = await deliver(mail_plugin(smtp.port).vigie_assistance_request, request)
    assert delivery.outcome == "ok"
    [message] = smtp.messages
    assert message["To"] == INTAKE and message["From"] == SENDER
    assert message["Reply-To"] == f"Camille Martin <{MEMBER}>"
    assert message["Subject"] == f"[{REFERENCE}] Mes fichiers ne se synchronisent plus"
    assert message["Message-ID"] == request_message_id(request, SENDER)
    assert message["X-Vigie-Reference"] == REFERENCE
    body = message.get_body(("plain",)).get_content()
    assert body.startswith(request.description) and "Navigateur : Mozilla/5.0" in body
    files = list(message.iter_attachments())
    assert [(f.get_filename(), f.get_content_type()) for f in files] == [
        ("synchro en erreur.png", "image/png"), ("photo-ecran.jpg", "image/jpeg")]
    assert [f.get_content() for f in files] == shot_bytes(request)
    assert delivery.result[0].external_id == request_message_id(request, SENDER)


async def test_a_resent_request_keeps_its_message_id(smtp, tmp_path):
    request = make_request(tmp_path / "shots")
    plugin = mail_plugin(smtp.port)
    plugin.journal.begin(f"request:{request.idempotency_key}")  # an attempt's fate unknown
    await deliver(plugin.vigie_assistance_request, request)
    await deliver(plugin.vigie_assistance_request, request)
    assert len(smtp.messages) == 1  # done: never sent again by this journal
    # a copy sent again (the journal lost) is the same message for the desk to drop
    await deliver(mail_plugin(smtp.port).vigie_assistance_request, request)
    assert [m["Message-ID"] for m in smtp.messages] == [request_message_id(request, SENDER)] * 2


async def test_requests_may_go_to_their_own_address(smtp, tmp_path):
    plugin = mail_plugin(smtp.port)
    plugin.desk.settings = plugin.desk.settings.model_copy(
        update={"requests_to": "aide@exemple.coop"})
    await deliver(plugin.vigie_assistance_request, make_request(tmp_path / "shots"))
    assert smtp.messages[0]["To"] == "aide@exemple.coop"


async def test_a_refused_request_address_is_named_in_the_dead_letter(smtp, tmp_path):
    # the requests go to their own address: the dead letter must name that one, not the
    # incidents' intake, or volunteers fix the wrong setting
    plugin = mail_plugin(smtp.port)
    plugin.desk.settings = plugin.desk.settings.model_copy(
        update={"requests_to": "aide@exemple.coop"})
    smtp.refuse.add("aide@exemple.coop")
    delivery = await deliver(plugin.vigie_assistance_request, make_request(tmp_path / "shots"))
    assert delivery.outcome == "dead"
    assert "aide@exemple.coop" in delivery.result and INTAKE not in delivery.result
    assert not smtp.messages


# Webhook --------------------------------------------------------------------------------


async def test_the_webhook_carries_the_screenshots_and_the_key(webhook, http, tmp_path):
    request = make_request(tmp_path / "shots")
    delivery = await deliver(webhook_plugin(webhook, http).vigie_assistance_request, request)
    assert delivery.outcome == "ok"
    [link] = delivery.result
    assert (link.external_id, link.url, link.public) == ("T1", f"{webhook.url}/tickets/T1", False)
    [body] = webhook.received
    assert webhook.headers[0]["Idempotency-Key"] == request.idempotency_key
    assert body["event"] == "assistance_request" and body["reference"] == REFERENCE
    assert body["text"] == request.description
    assert "Incident en cours : INC-2026-0042" in body["note"]
    assert body["member"] == {"name": "Camille Martin", "email": MEMBER, "member_id": "M-1234"}
    sent = shot_bytes(request)
    assert [base64.b64decode(a["data"]) for a in body["attachments"]] == sent
    assert [a["sha256"] for a in body["attachments"]] == [hashlib.sha256(b).hexdigest()
                                                          for b in sent]
    assert [a["media_type"] for a in body["attachments"]] == ["image/png", "image/jpeg"]


async def test_the_webhook_is_resent_with_the_same_key_after_a_lost_answer(
        webhook, http, tmp_path):
    webhook.hang_after_record = True
    request = make_request(tmp_path / "shots")
    delivery = await deliver(webhook_plugin(webhook, http, timeout="500ms")
                             .vigie_assistance_request, request)
    assert delivery.outcome == "ok" and delivery.attempts == 2
    assert len(webhook.received) == 1
    assert {h["Idempotency-Key"] for h in webhook.headers} == {request.idempotency_key}


async def test_a_webhook_422_is_dead_lettered_with_its_message(webhook, http, tmp_path):
    webhook.fail_next(422, {"message": "unknown category 'nextcloud'"})
    delivery = await deliver(webhook_plugin(webhook, http).vigie_assistance_request,
                             make_request(tmp_path / "shots"))
    assert delivery.outcome == "dead" and "unknown category 'nextcloud'" in delivery.result


# Every desk ----------------------------------------------------------------------------


@pytest.mark.parametrize("desk", ["osticket", "email", "webhook"])
async def test_a_desk_that_is_down_holds_the_request_and_twice_is_once(
        desk, osticket, webhook, smtp, http, tmp_path):
    def plugin(port: int | None = None):
        if desk == "email":
            return mail_plugin(port or smtp.port)
        made = (osticket_plugin(osticket, http) if desk == "osticket"
                else webhook_plugin(webhook, http))
        if port:
            url = made.desk.settings.url.replace(
                urlsplit(made.desk.settings.url).netloc, f"127.0.0.1:{port}")
            made.desk.settings = made.desk.settings.model_copy(update={"url": url})
        return made

    request = make_request(tmp_path / "shots")
    down = plugin(free_port())
    held = await deliver(down.vigie_assistance_request, request, max_attempts=2)
    assert held.outcome == "gave_up" and "connect" in held.errors[0]
    assert not down.journal.pending(f"request:{request.idempotency_key}")

    up = plugin()
    up.journal = down.journal
    for _ in range(2):
        assert (await deliver(up.vigie_assistance_request, request)).outcome == "ok"
    received = {"osticket": osticket.tickets, "email": smtp.messages,
                "webhook": webhook.received}[desk]
    assert len(received) == 1
