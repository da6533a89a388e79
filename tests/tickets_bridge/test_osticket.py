"""The ``tickets`` plugin with an osTicket desk: create only, never two tickets."""

from __future__ import annotations

from tests.docs_bridge.helpers import deliver, follow, make_event
from tests.tickets_bridge.fake_desks import OSTICKET_KEY
from tickets_bridge.journal import Journal
from tickets_bridge.plugin import TicketsPlugin, make_desk
from tickets_bridge.settings import HelpdeskSettings


def plugin_for(osticket, http, **desk) -> TicketsPlugin:
    settings = HelpdeskSettings.model_validate({
        "desk": {"type": "osticket", "url": osticket.url, "api_key": OSTICKET_KEY,
                 "email": "vigie@exemple.coop", **desk}})
    plugin = TicketsPlugin()
    plugin.configure(settings, make_desk(settings, http), Journal())
    return plugin


async def test_ticket_created_with_the_number_osticket_answers(osticket, http):
    plugin = plugin_for(osticket, http)
    opened = make_event()
    delivery = await deliver(plugin.vigie_incident_opened, opened)
    assert delivery.outcome == "ok"
    [link] = delivery.result
    [ticket] = osticket.tickets
    assert link.title == f"Ticket osTicket {ticket['number']}" and not link.public
    assert link.external_id == ticket["number"]
    assert ticket["subject"] == "[INC-2026-0042] Nextcloud indisponible"
    assert ticket["source"] == "API"
    assert "Nextcloud est en mode maintenance" in ticket["message"]  # decoded data: URL

    # osTicket's API cannot add notes or close: updates send nothing, and fail nothing
    posts = len(osticket.requests)
    updated = follow(opened, "updated", delivery.result)
    assert (await deliver(plugin.vigie_incident_updated, updated)).outcome == "ok"
    resolved = follow(updated, "resolved", None)
    assert (await deliver(plugin.vigie_incident_resolved, resolved)).outcome == "ok"
    assert len(osticket.requests) == posts and len(osticket.tickets) == 1


async def test_bad_key_is_dead_lettered_with_osticket_text(osticket, http):
    delivery = await deliver(plugin_for(osticket, http, api_key="bad-key-0000").vigie_incident_opened,
                             make_event())
    assert delivery.outcome == "dead" and "401" in delivery.result
    assert "API key not authorized" in delivery.result and "bad-key-0000" not in delivery.result


async def test_a_timeout_after_sending_is_dead_lettered_rather_than_duplicated(osticket, http):
    osticket.hang_after_record = True
    plugin = plugin_for(osticket, http, timeout="500ms")
    delivery = await deliver(plugin.vigie_incident_opened, make_event())
    assert delivery.outcome == "dead" and delivery.attempts == 1
    assert "INC-2026-0042" in delivery.result and "peut-être été créé" in delivery.result
    assert len(osticket.tickets) == 1
    # even a later attempt (e.g. replayed by hand) does not create a second one blindly
    again = await deliver(plugin.vigie_incident_opened, make_event())
    assert again.outcome == "dead" and len(osticket.tickets) == 1


async def test_connection_refused_is_retried_safely(osticket, http):
    from tests.conftest import free_port

    plugin = plugin_for(osticket, http)
    plugin.desk.settings = plugin.desk.settings.model_copy(
        update={"url": f"http://127.0.0.1:{free_port()}"})
    delivery = await deliver(plugin.vigie_incident_opened, make_event(), max_attempts=1)
    assert delivery.outcome == "gave_up" and "cannot connect" in delivery.errors[0]
    assert not plugin.journal.pending("create:INC-2026-0042")  # nothing was sent
