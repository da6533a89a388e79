"""The ``tickets`` plugin with a Zammad desk: full lifecycle, exactly one ticket."""

from __future__ import annotations

from monitor.notifications import Link
from tests.docs_bridge.helpers import deliver, follow, make_event
from tests.tickets_bridge.fake_desks import ZAMMAD_TOKEN
from tickets_bridge.journal import Journal
from tickets_bridge.plugin import TicketsPlugin, make_desk
from tickets_bridge.settings import HelpdeskSettings

GUIDE = Link(kind="guide", title="Nextcloud est en maintenance : que faire ?",
             url="https://doc.exemple.coop/nextcloud/maintenance", plugin="guides")
TOPIC = Link(kind="forum", title="[INC-2026-0042] Nextcloud indisponible",
             url="https://forum.exemple.coop/t/inc-2026-0042/101", external_id="101",
             plugin="forum")


def plugin_for(zammad, http, journal_path=None, **desk) -> TicketsPlugin:
    settings = HelpdeskSettings.model_validate({
        "min_impact": "partial_outage",
        "desk": {"type": "zammad", "url": zammad.url, "token": ZAMMAD_TOKEN,
                 "group": "Bénévoles", "customer": "vigie@exemple.coop", **desk}})
    plugin = TicketsPlugin()
    plugin.configure(settings, make_desk(settings, http), Journal(journal_path))
    return plugin


async def test_ticket_opened_with_evidence_updated_and_closed(zammad, http):
    plugin = plugin_for(zammad, http)
    opened = make_event(links=[GUIDE, TOPIC])
    delivery = await deliver(plugin.vigie_incident_opened, opened)
    assert delivery.outcome == "ok" and delivery.attempts == 1
    [link] = delivery.result
    [ticket] = zammad.tickets.values()
    assert (link.kind, link.public, link.external_id) == ("ticket", False, str(ticket.id))
    assert link.url == f"{zammad.url}/#ticket/zoom/{ticket.id}"
    assert link.title == f"Ticket Zammad {ticket.number}"
    assert ticket.title == "[INC-2026-0042] Nextcloud indisponible"
    assert (ticket.group, ticket.customer) == ("Bénévoles", "vigie@exemple.coop")
    note = ticket.articles[0]
    assert note["internal"] and note["type"] == "note"
    for evidence in ("panne majeure", "nextcloud/status (nextcloud)",
                     "Nextcloud est en mode maintenance",
                     "12 mars 2026 à 13 h 58", GUIDE.url, TOPIC.url,
                     "https://etat.exemple.coop/incidents/42", opened.idempotency_key):
        assert evidence in note["body"], evidence
    assert "Nextcloud is in maintenance mode" not in note["body"]  # one language per note

    updated = follow(opened, "updated", delivery.result, phase="identified",
                     message="Disque plein sur le serveur de fichiers.")
    assert (await deliver(plugin.vigie_incident_updated, updated)).outcome == "ok"
    assert (await deliver(plugin.vigie_incident_updated,
                          follow(updated, "reminder", None))).result is None
    resolved = follow(updated, "resolved", None, phase="resolved",
                      resolved_at=opened.opened_at + 1800)
    assert (await deliver(plugin.vigie_incident_resolved, resolved)).outcome == "ok"

    assert len(zammad.tickets) == 1
    assert [a["internal"] for a in ticket.articles] == [True, True, True]
    assert "Disque plein" in ticket.articles[1]["body"]
    assert "Résolu le" in ticket.articles[2]["body"] and "30 min" in ticket.articles[2]["body"]
    assert ticket.state == "closed"


async def test_timeout_after_zammad_recorded_the_ticket_still_ends_with_one(zammad, http, tmp_path):
    zammad.hang_after_record = True
    journal = tmp_path / "tickets-journal.json"
    plugin = plugin_for(zammad, http, journal, timeout="500ms")
    event = make_event()
    first = await deliver(plugin.vigie_incident_opened, event, max_attempts=1)
    assert first.outcome == "gave_up" and "no answer within" in first.errors[0]
    assert len(zammad.tickets) == 1  # Zammad created it; Vigie never heard back

    # the outbox retries, possibly after a restart: a new plugin reading the same journal
    restarted = plugin_for(zammad, http, journal, timeout="500ms")
    retry = await deliver(restarted.vigie_incident_opened, event)
    assert retry.outcome == "ok" and retry.attempts == 1
    assert len(zammad.tickets) == 1
    assert retry.result[0].external_id == "1"
    assert any(m == "GET" and p.startswith("/api/v1/tickets/search?query=INC-2026-0042&")
               for m, p in zammad.requests)
    assert [m for m, p in zammad.requests if p == "/api/v1/tickets"] == ["POST"]


async def test_a_note_whose_answer_was_lost_is_not_added_twice(zammad, http):
    plugin = plugin_for(zammad, http, timeout="500ms")
    opened = make_event()
    links = (await deliver(plugin.vigie_incident_opened, opened)).result
    zammad.hang_after_record = True
    updated = follow(opened, "updated", links, message="Redémarrage en cours.")
    delivery = await deliver(plugin.vigie_incident_updated, updated)
    assert delivery.outcome == "ok" and delivery.attempts == 2
    [ticket] = zammad.tickets.values()
    assert len(ticket.articles) == 2
    assert ("GET", f"/api/v1/ticket_articles/by_ticket/{ticket.id}") in zammad.requests


async def test_unknown_group_is_dead_lettered_with_zammads_message(zammad, http):
    plugin = plugin_for(zammad, http, group="Support N3")
    delivery = await deliver(plugin.vigie_incident_opened, make_event())
    assert delivery.outcome == "dead" and delivery.attempts == 1
    assert "422" in delivery.result
    assert "No lookup value found for 'group': \"Support N3\"" in delivery.result
    assert not zammad.tickets
    assert not plugin.journal.pending("create:INC-2026-0042")


async def test_bad_token_is_dead_lettered_without_showing_it(zammad, http):
    plugin = plugin_for(zammad, http, token="wrong-token-that-must-not-leak")
    delivery = await deliver(plugin.vigie_incident_opened, make_event())
    assert delivery.outcome == "dead" and "401" in delivery.result
    assert "authentication failed" in delivery.result
    assert "wrong-token-that-must-not-leak" not in delivery.result


async def test_rate_limit_and_server_errors_are_retried(zammad, http):
    zammad.fail_next(429, {"error": "Too many requests", "error_human": "Too many requests"},
                     {"Retry-After": "30"})
    zammad.fail_next(500, {"error": "Internal Server Error"})
    delivery = await deliver(plugin_for(zammad, http).vigie_incident_opened, make_event())
    assert delivery.outcome == "ok" and delivery.attempts == 3
    assert delivery.waits == [30.0] and "HTTP 500" in delivery.errors[0]
    assert len(zammad.tickets) == 1


async def test_a_mild_incident_gets_its_ticket_when_it_gets_worse(zammad, http):
    plugin = plugin_for(zammad, http)
    opened = make_event(impact="degraded")
    assert (await deliver(plugin.vigie_incident_opened, opened)).result is None
    assert (await deliver(plugin.vigie_incident_resolved,
                          follow(opened, "resolved", None))).result is None
    worse = follow(opened, "updated", None, impact="partial_outage")
    delivery = await deliver(plugin.vigie_incident_updated, worse)
    assert delivery.result[0].kind == "ticket" and len(zammad.tickets) == 1


async def test_a_ticket_id_that_is_not_a_number_is_refused_not_put_in_a_path(zammad, http):
    # the id goes into the next request's path and the volunteers' link: an answer naming
    # "../users" must not make Vigie call or link another resource
    zammad.fail_next(201, {"id": "../../api/v1/users", "number": "1\u202e2", "title": "x"})
    delivery = await deliver(plugin_for(zammad, http).vigie_incident_opened, make_event(),
                             max_attempts=1)
    assert delivery.outcome == "gave_up" and delivery.result is None
    assert "id" in delivery.errors[0] and "number" in delivery.errors[0]
    assert not any("users" in path for _, path in zammad.requests)
