"""Members' requests for help delivered to a Zammad stand-in: one ticket, complete, with its
screenshots unchanged and an internal note, whatever the retries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from monitor.assistance.request import request_from_json, request_to_json
from monitor.notifications import PermanentFailure
from tests.conftest import free_port
from tests.docs_bridge.helpers import deliver
from tests.tickets_bridge.assistance import AGENT, MEMBER, REFERENCE, has_metadata, make_request
from tests.tickets_bridge.fake_desks import ZAMMAD_TOKEN
from tests.tickets_bridge.test_zammad import plugin_for
from monitor.plugins import build_plugin_manager
from tickets_bridge import plugin as tickets_module
from tickets_bridge.journal import Journal
from tickets_bridge.plugin import TicketsPlugin, make_desk
from tickets_bridge.settings import HelpdeskSettings

SEARCH = f"/api/v1/tickets/search?query={REFERENCE}&"


async def test_a_request_is_one_ticket_of_the_members_with_screenshots_and_a_note(
        zammad, http, tmp_path):
    request = make_request(tmp_path / "shots")
    # what the outbox stores and gives back after a restart
    request = request_from_json(request_to_json(request))
    delivery = await deliver(plugin_for(zammad, http).vigie_assistance_request, request)
    assert delivery.outcome == "ok" and delivery.attempts == 1
    [ticket] = zammad.tickets.values()
    [link] = delivery.result
    assert (link.kind, link.public, link.external_id) == ("ticket", False, str(ticket.id))
    assert link.url == f"{zammad.url}/#ticket/zoom/{ticket.id}"
    assert ticket.title == f"[{REFERENCE}] Mes fichiers ne se synchronisent plus"
    assert (ticket.customer, ticket.group) == (MEMBER, "Bénévoles")  # the desk's group

    words, note = ticket.articles
    assert not words["internal"] and words["sender"] == "Customer"
    assert words["content_type"] == "text/plain"
    assert words["body"] == request.description
    sent = [Path(s.path).read_bytes() for s in request.screenshots]
    assert [a["data"] for a in words["attachments"]] == sent  # base64 decoded: unchanged
    assert [a["filename"] for a in words["attachments"]] == ["synchro en erreur.png",
                                                             "photo-ecran.jpg"]
    assert [a["preferences"]["Mime-Type"] for a in words["attachments"]] == [
        "image/png", "image/jpeg"]
    assert not any(has_metadata(a["data"]) for a in words["attachments"])

    assert note["internal"] and note["type"] == "note"
    for expected in (f"Demande d'aide {REFERENCE}, envoyée le 12 mars 2026 à 14 h 00",
                     f"Envoyée par : Camille Martin <{MEMBER}>", "Compte de membre : M-1234",
                     "Concerne : Nextcloud (fichiers et agendas) (nextcloud)",
                     "État à l'envoi : panne majeure", "Incident en cours : INC-2026-0042",
                     "- Nextcloud est en mode maintenance",
                     "- Guide, ouvert : Installer le client de synchronisation Nextcloud — "
                     "https://doc.exemple.coop/nextcloud/client-synchronisation",
                     "- Forum, non ouvert : Nextcloud ne synchronise plus depuis ce matin",
                     f"Navigateur : {AGENT}", "2 captures jointes",
                     f"-- Vigie · {REFERENCE} · {request.idempotency_key}"):
        assert expected in note["body"], expected
    assert request.description not in note["body"]  # the note is the volunteers' context


async def test_delivered_twice_it_stays_one_ticket_with_one_note(zammad, http, tmp_path):
    journal = tmp_path / "tickets-journal.json"
    request = make_request(tmp_path / "shots")
    first = await deliver(plugin_for(zammad, http, journal).vigie_assistance_request, request)
    # the outbox delivers again (a crash before it marked the row done): a new plugin
    # reading the same journal gives the same ticket without calling the desk
    calls = len(zammad.requests)
    again = await deliver(plugin_for(zammad, http, journal).vigie_assistance_request, request)
    assert again.outcome == "ok" and again.result == first.result
    assert len(zammad.tickets) == 1 and len(zammad.tickets[1].articles) == 2
    assert len(zammad.requests) == calls


async def test_the_desk_records_the_ticket_then_times_out_and_the_retry_finds_it(
        zammad, http, tmp_path):
    journal = tmp_path / "tickets-journal.json"
    zammad.hang_after_record = "/api/v1/tickets"
    request = make_request(tmp_path / "shots")
    first = await deliver(plugin_for(zammad, http, journal, timeout="500ms")
                          .vigie_assistance_request, request, max_attempts=1)
    assert first.outcome == "gave_up" and "no answer within" in first.errors[0]
    assert len(zammad.tickets) == 1  # Zammad has it; Vigie never heard back

    retry = await deliver(plugin_for(zammad, http, journal).vigie_assistance_request, request)
    assert retry.outcome == "ok" and retry.attempts == 1
    assert len(zammad.tickets) == 1 and retry.result[0].external_id == "1"
    assert any(m == "GET" and p.startswith(SEARCH) for m, p in zammad.requests)
    assert [m for m, p in zammad.requests if p == "/api/v1/tickets"] == ["POST"]
    words, note = zammad.tickets[1].articles
    assert len(words["attachments"]) == 2 and note["internal"]


async def test_a_note_whose_answer_was_lost_is_not_added_twice(zammad, http, tmp_path):
    zammad.hang_after_record = "/api/v1/ticket_articles"
    plugin = plugin_for(zammad, http, tmp_path / "journal.json", timeout="500ms")
    delivery = await deliver(plugin.vigie_assistance_request, make_request(tmp_path / "shots"))
    assert delivery.outcome == "ok" and delivery.attempts == 2
    [ticket] = zammad.tickets.values()
    assert [a["internal"] for a in ticket.articles] == [False, True]
    assert ("GET", f"/api/v1/ticket_articles/by_ticket/{ticket.id}") in zammad.requests


async def test_requests_go_to_their_own_group_and_an_unknown_one_is_zammads_422(
        zammad, http, tmp_path):
    plugin = plugin_for(zammad, http, requests_group="Users")
    assert (await deliver(plugin.vigie_assistance_request,
                          make_request(tmp_path / "a"))).outcome == "ok"
    assert zammad.tickets[1].group == "Users"

    wrong = plugin_for(zammad, http, requests_group="Accueil")
    request = make_request(tmp_path / "b", idempotency_key="other-request")
    delivery = await deliver(wrong.vigie_assistance_request, request)
    assert delivery.outcome == "dead" and delivery.attempts == 1
    assert "Zammad a refusé la demande (HTTP 422)" in delivery.result
    assert "No lookup value found for 'group': \"Accueil\"" in delivery.result
    assert len(zammad.tickets) == 1
    assert not wrong.journal.pending(f"request:{request.idempotency_key}")


async def test_a_desk_that_is_down_holds_the_request_until_it_returns(zammad, http, tmp_path):
    journal = tmp_path / "tickets-journal.json"
    request = make_request(tmp_path / "shots")
    down = plugin_for(zammad, http, journal, url=f"http://127.0.0.1:{free_port()}")
    held = await deliver(down.vigie_assistance_request, request, max_attempts=2)
    assert held.outcome == "gave_up" and "cannot connect" in held.errors[0]
    assert not down.journal.pending(f"request:{request.idempotency_key}")  # nothing sent

    back = await deliver(plugin_for(zammad, http, journal).vigie_assistance_request, request)
    assert back.outcome == "ok" and len(zammad.tickets) == 1
    assert not any(p.startswith(SEARCH) for _, p in zammad.requests)  # nothing to look up


async def test_rate_limit_is_waited_for_and_server_errors_retried(zammad, http, tmp_path):
    zammad.fail_next(429, {"error": "Too many requests"}, {"Retry-After": "20"})
    zammad.fail_next(502, {"error": "Bad Gateway"})
    delivery = await deliver(plugin_for(zammad, http).vigie_assistance_request,
                             make_request(tmp_path / "shots"))
    assert delivery.outcome == "ok" and delivery.waits == [20.0]
    assert "HTTP 502" in delivery.errors[0] and len(zammad.tickets) == 1


async def test_a_bad_address_is_refused_before_anything_is_sent(zammad, http, tmp_path):
    for address in ("camille@", "camille@exemple", "a@b.org\r\nBcc: x@y.org",
                    "Camille <camille@exemple.org>", "deux@@exemple.org"):
        request = make_request(tmp_path / "shots", email=address)
        delivery = await deliver(plugin_for(zammad, http).vigie_assistance_request, request)
        assert delivery.outcome == "dead" and "adresse de courriel" in delivery.result, address
    assert not zammad.tickets and not zammad.requests


async def test_member_text_is_cleaned_and_a_lost_screenshot_is_said(zammad, http, tmp_path):
    request = make_request(tmp_path / "shots", title="Ça\u202e bloque\x00 encore",
                           description="Ligne 1\r\nLigne 2\x07 <b>gras</b>",
                           email="Camille@Exemple.org")
    Path(request.screenshots[1].path).unlink()
    delivery = await deliver(plugin_for(zammad, http).vigie_assistance_request, request)
    assert delivery.outcome == "ok"
    [ticket] = zammad.tickets.values()
    assert ticket.title == f"[{REFERENCE}] Ça bloque encore"
    words, note = ticket.articles
    # the bell is gone, the line break kept; the markup stays text (content_type)
    assert words["body"] == "Ligne 1\nLigne 2  <b>gras</b>"
    assert words["content_type"] == "text/plain"
    assert [a["filename"] for a in words["attachments"]] == ["synchro en erreur.png"]
    assert "1 capture jointe" in note["body"]
    assert "Captures effacées avant la livraison : photo-ecran.jpg" in note["body"]


async def test_the_note_is_in_the_desks_language(zammad, http, tmp_path):
    request = dataclasses.replace(make_request(tmp_path / "shots"), suggestions=(),
                                  incident_reference=None, failing_reasons=(), user_agent="",
                                  status_at_send="operational", member_id=None)
    settings = HelpdeskSettings.model_validate({
        "language": "en", "desk": {"type": "zammad", "url": zammad.url, "token": ZAMMAD_TOKEN,
                                   "customer": "vigie@exemple.coop"}})
    plugin = TicketsPlugin()
    plugin.configure(settings, make_desk(settings, http), Journal())
    await deliver(plugin.vigie_assistance_request, request)
    assert zammad.tickets[1].group == "Users"
    note = zammad.tickets[1].articles[1]["body"]
    for expected in (f"Request for help {REFERENCE}, sent on March 12, 2026 at 14:00",
                     "Status when sent: working normally", "Open incident: none",
                     "Suggested before sending: nothing found", "Browser: not given",
                     "2 screenshots attached"):
        assert expected in note, expected
    assert "Member account" not in note


async def test_without_a_helpdesk_the_request_waits_as_a_dead_letter(tmp_path):
    delivery = await deliver(TicketsPlugin().vigie_assistance_request,
                             make_request(tmp_path / "shots"))
    assert delivery.outcome == "dead" and REFERENCE in delivery.result
    assert "helpdesk:" in delivery.result


async def test_the_entry_point_answers_the_durable_hook(tmp_path):
    pm = build_plugin_manager()
    assert pm.get_plugin("tickets") is tickets_module.plugin
    assert "tickets" in [i.plugin_name for i in pm.hook.vigie_assistance_request.get_hookimpls()]
    # a plugin object as the entry point makes it, not configured by an earlier run
    answer = tickets_module.TicketsPlugin().vigie_assistance_request(
        request=make_request(tmp_path / "shots"))
    with pytest.raises(PermanentFailure, match="helpdesk:"):
        await answer
