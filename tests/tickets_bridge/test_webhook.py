"""The ``tickets`` plugin with the generic JSON webhook."""

from __future__ import annotations

from tests.docs_bridge.helpers import deliver, follow, make_event
from tickets_bridge.journal import Journal
from tickets_bridge.plugin import TicketsPlugin, make_desk
from tickets_bridge.settings import HelpdeskSettings

TOKEN = "w3bh00k-bearer-token-for-tests"


def plugin_for(webhook, http, **desk) -> TicketsPlugin:
    settings = HelpdeskSettings.model_validate({
        "desk": {"type": "webhook", "url": f"{webhook.url}/hooks/vigie", "token": TOKEN, **desk}})
    plugin = TicketsPlugin()
    plugin.configure(settings, make_desk(settings, http), Journal())
    return plugin


async def test_every_event_is_posted_with_its_idempotency_key(webhook, http):
    plugin = plugin_for(webhook, http)
    opened = make_event()
    delivery = await deliver(plugin.vigie_incident_opened, opened)
    [link] = delivery.result
    assert (link.title, link.url, link.public) == ("Ticket webhook 00001",
                                                   f"{webhook.url}/tickets/T1", False)
    updated = follow(opened, "updated", delivery.result, message="On avance.")
    await deliver(plugin.vigie_incident_updated, updated)
    resolved = follow(updated, "resolved", None)
    await deliver(plugin.vigie_incident_resolved, resolved)

    assert [r["event"] for r in webhook.received] == ["opened", "updated", "resolved"]
    assert [h["Idempotency-Key"] for h in webhook.headers] == [
        e.idempotency_key for e in (opened, updated, resolved)]
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for h in webhook.headers)
    first = webhook.received[0]
    assert first["version"] == 1 and first["reference"] == "INC-2026-0042"
    assert "Nextcloud est en mode maintenance" in first["text"]
    assert first["incident"]["services"][0]["id"] == "nextcloud"
    assert "own_links" not in first["incident"]
    assert "On avance." in webhook.received[1]["text"]


async def test_a_timeout_after_receipt_is_resent_with_the_same_key(webhook, http):
    webhook.hang_after_record = True
    plugin = plugin_for(webhook, http, timeout="500ms")
    delivery = await deliver(plugin.vigie_incident_opened, make_event())
    assert delivery.outcome == "ok" and delivery.attempts == 2
    assert len(webhook.received) == 1  # the receiver recognised the key
    assert len({h["Idempotency-Key"] for h in webhook.headers}) == 1


async def test_webhook_errors_are_mapped(webhook, http):
    webhook.fail_next(429, {"message": "slow down"}, {"Retry-After": "12"})
    webhook.fail_next(422, {"message": "unknown queue 'infra'"})
    delivery = await deliver(plugin_for(webhook, http).vigie_incident_opened, make_event())
    assert delivery.waits == [12.0]
    assert delivery.outcome == "dead" and "unknown queue 'infra'" in delivery.result
    assert not webhook.received
