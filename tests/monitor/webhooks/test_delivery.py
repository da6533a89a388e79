"""Deliveries to a real local receiver that verifies each signature with the
``standardwebhooks`` package: an incident opened, retries with the same ``webhook-id``, a
failing receiver disabled (with the volunteers' alert), a secret rotation, the filter, and
what a body never carries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
import logging

from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import pytest

from monitor.incidents.emit import attach_links
from monitor.incidents.models import OutboxEntry
from monitor.store.audit import AuditEntry
from monitor.notifications import Link
from monitor.probe import Status
from monitor.webhooks.models import WebhookEndpoint
from tests.monitor.test_incidents import store_url  # noqa: F401 (a fixture)
from tests.monitor.test_outbox import drain
from tests.monitor.webhooks.conftest import build_hooks


def rows(hooks, plugin: str | None = None) -> list[OutboxEntry]:
    with hooks.harness.store.session() as s:
        query = select(OutboxEntry).order_by(OutboxEntry.id)
        if plugin is not None:
            query = query.where(OutboxEntry.plugin == plugin)
        return list(s.scalars(query))


def endpoint_row(hooks, endpoint_id: int) -> WebhookEndpoint:
    with hooks.harness.store.session() as s:
        return s.get(WebhookEndpoint, endpoint_id)


async def test_an_incident_opened_is_delivered_signed_and_verifies(
        tmp_path, signed_receiver, store_url):
    receiver = await signed_receiver()
    hooks = build_hooks(store_url, tmp_path)
    try:
        new = hooks.add_endpoint(receiver.url)
        receiver.secrets = [new.secret]
        await hooks.sync()
        hooks.harness.confirm("mail/smtp", Status.DOWN)
        await drain(hooks.worker, lambda: receiver.verified)
        [request] = receiver.requests
        # the receiver's own check, with the package members' tools use
        document = Webhook(new.secret).verify(request.body, request.headers)
        [row] = rows(hooks, "webhook-1")
        assert request.headers["webhook-id"] == row.idempotency_key
        assert request.headers["webhook-signature"].startswith("v1,")
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("Vigie/")
        assert document["type"] == "incident.opened" and document["version"] == 1
        incident = document["data"]["incident"]
        assert incident["reference"] == hooks.harness.incidents()[0].reference
        assert [s["id"] for s in incident["services"]] == ["mail"]
        assert incident["services"][0]["name"] == {"fr": "Courriel", "en": "Mail"}
        assert row.status == "delivered"
        # a wrong secret does not verify it
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)
    finally:
        await hooks.close()


async def test_retries_carry_the_same_webhook_id_and_a_success_clears_the_failures(
        hooks, signed_receiver):
    receiver = await signed_receiver(script=[500, 502])
    new = hooks.add_endpoint(receiver.url)
    receiver.secrets = [new.secret]
    await hooks.sync()
    hooks.harness.confirm("mail/smtp", Status.DOWN)
    await drain(hooks.worker, lambda: endpoint_row(hooks, 1).consecutive_failures == 2)
    await drain(hooks.worker, lambda: receiver.verified)
    assert [r.status for r in receiver.requests] == [500, 502, 200]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert all(r.verified_with for r in receiver.requests)  # each attempt signed anew
    assert len({r.body for r in receiver.requests}) == 1
    [row] = rows(hooks, "webhook-1")
    assert (row.status, row.attempts) == ("delivered", 3)
    assert endpoint_row(hooks, 1).consecutive_failures == 0


async def test_a_receiver_that_keeps_failing_is_disabled_with_an_alert(
        tmp_path, signed_receiver, caplog):
    caplog.set_level(logging.DEBUG)
    hooks = build_hooks(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path,
                        "webhooks: {disable_after: 3}\n")
    receiver = await signed_receiver(script=[500] * 50)
    new = hooks.add_endpoint(receiver.url, name="Partenaire cassé")
    receiver.secrets = [new.secret]
    await hooks.sync()
    assert hooks.pm.get_plugin("webhook-1") is not None
    hooks.harness.confirm("mail/smtp", Status.DOWN)
    await drain(hooks.worker, lambda: hooks.volunteers.alerts)
    assert len(receiver.requests) == 3  # disabled at the third failure: no fourth call
    row = endpoint_row(hooks, 1)
    assert not row.enabled and row.disabled_at is not None
    assert row.consecutive_failures == 3 and "3 failed deliveries" in row.disabled_reason
    # the plugin is gone, and with it its place among the subscribers
    assert hooks.pm.get_plugin("webhook-1") is None
    assert "webhook-1" not in hooks.ctx.subscribers["vigie_incident_opened"]
    [alert] = hooks.volunteers.alerts
    assert alert.code == "webhook.disabled" and "Partenaire cassé" in alert.title_fr
    assert "vigie webhook enable 1" in alert.message_en
    [entry] = rows(hooks, "webhook-1")
    assert entry.status == "dead"  # its retry found the endpoint disabled
    [system_row] = [r for r in rows(hooks) if r.hook == "vigie_system_alert"]
    assert system_row.plugin == "volunteers" and system_row.status == "delivered"
    with hooks.harness.store.session() as s:
        [audited] = s.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.disable"))
    assert audited.actor == "system"
    # the next event writes nothing for it
    hooks.harness.confirm("web/http", Status.DOWN)
    hooks.harness.confirm("web/php", Status.DOWN)
    assert len(rows(hooks, "webhook-1")) == 1
    # Vigie's log lines (the receiver's own access log is the receiver's business)
    logged = "\n".join(r.getMessage() for r in caplog.records
                       if not r.name.startswith("aiohttp"))
    text = logged + json.dumps([alert.message_fr, alert.message_en, row.disabled_reason])
    assert "webhook 1: HTTP 500" in text
    assert new.secret not in text
    assert "/hooks/vigie" not in text
    await hooks.close()


async def test_during_a_rotation_both_secrets_verify_then_only_the_new_one(
        hooks, signed_receiver):
    receiver = await signed_receiver()
    old = hooks.add_endpoint(receiver.url)
    rotated = hooks.change(lambda s: hooks.ops.rotate_secret(s, 1))
    assert rotated.secret != old.secret and rotated.endpoint.previous_secret_until
    receiver.secrets = [old.secret, rotated.secret]
    await hooks.sync()
    hooks.harness.confirm("mail/smtp", Status.DOWN)
    await drain(hooks.worker, lambda: receiver.verified)
    [first] = receiver.requests
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    assert first.verified_with == [old.secret, rotated.secret]
    # the overlap ends (a rotation with no overlap): only the newest secret signs
    newest = hooks.change(lambda s: hooks.ops.rotate_secret(s, 1, overlap=0))
    receiver.secrets = [old.secret, rotated.secret, newest.secret]
    await hooks.sync()
    hooks.harness.confirm("mail/smtp", Status.UP)
    hooks.harness.clock.now += 600  # past the quiet period: resolved
    hooks.harness.engine.tick(hooks.harness.clock.now)
    await drain(hooks.worker, lambda: len(receiver.verified) == 2)
    second = receiver.requests[-1]
    assert json.loads(second.body)["type"] == "incident.resolved"
    assert second.verified_with == [newest.secret]


async def test_the_filter_chooses_the_rows_and_a_body_carries_public_fields_only(
        hooks, signed_receiver):
    receiver = await signed_receiver()
    resolved_only = hooks.add_endpoint(receiver.url, events=["incident.resolved"])
    web_only = hooks.add_endpoint(receiver.url, services=["web"])
    everything = hooks.add_endpoint(receiver.url)
    receiver.secrets = [resolved_only.secret, web_only.secret, everything.secret]
    await hooks.sync()
    h = hooks.harness
    h.confirm("mail/smtp", Status.DOWN)
    [incident] = h.open()
    with h.store.write_session() as s, s.begin():
        attach_links(s, incident.id, [
            Link("guide", "Guide courriel", "/guides/courriel", public=True, plugin="docs"),
            Link("ticket", "Ticket 77", "https://desk.example/t/77", public=False,
                 external_id="77", plugin="desk")], h.clock.now)
        h.ops.post_update(s, incident.id, phase="identified",
                          message_fr="Note interne : le disque de mx2 est plein",
                          public=False)
        h.ops.post_update(s, incident.id, phase="monitoring",
                          message_fr="Le service revient.", message_en="Coming back.")
    plugins = [r.plugin for r in rows(hooks) if r.plugin.startswith("webhook-")]
    # opened and updated, for the endpoint of every event only (the private note wrote none)
    assert plugins == ["webhook-3", "webhook-3"]
    await drain(hooks.worker, lambda: len(receiver.verified) == 2)
    update = json.loads(receiver.requests[-1].body)
    assert update["type"] == "incident.updated"
    data = update["data"]["incident"]
    assert data["message"] == {"fr": "Le service revient.", "en": "Coming back."}
    assert [link["title"] for link in data["links"]] == ["Guide courriel"]
    text = b"".join(r.body for r in receiver.requests).decode()
    assert "Ticket 77" not in text and "desk.example" not in text
    assert "disque de mx2" not in text and "It does not answer" not in text
    assert "Ça ne répond pas" not in text  # a check's technical reason


@pytest.mark.parametrize(("status", "outcome", "failures"), [
    (429, "pending", 0),   # Retry-After honoured, not a failure
    (302, "pending", 1),   # a redirect is not followed: a failure, retried
    (400, "dead", 1),      # refused as it is: dead at once
])
async def test_what_each_answer_means(hooks, signed_receiver, status, outcome, failures):
    receiver = await signed_receiver(script=[status], retry_after="120")
    new = hooks.add_endpoint(receiver.url)
    receiver.secrets = [new.secret]
    await hooks.sync()
    hooks.harness.confirm("mail/smtp", Status.DOWN)
    assert await hooks.worker.run_once()
    [row] = rows(hooks, "webhook-1")
    assert (row.status, row.attempts if status != 429 else 0) == (outcome, failures)
    assert endpoint_row(hooks, 1).consecutive_failures == failures
    assert len(receiver.requests) == 1  # the redirect's Location was not requested
    if status == 429:
        assert row.next_attempt_at >= hooks.worker.clock() + 119


async def test_a_maintenance_window_sends_started_then_ended(hooks, signed_receiver):
    receiver = await signed_receiver()
    new = hooks.add_endpoint(receiver.url, events=["maintenance.started", "maintenance.ended"])
    receiver.secrets = [new.secret]
    await hooks.sync()
    h = hooks.harness
    with h.store.write_session() as s, s.begin():
        window = h.ops.create_maintenance(s, title_fr="Mise à jour", title_en="Upgrade",
                                          services=["mail"], start=h.clock.now + 60,
                                          duration="1h")
        window_id = window.id
    h.clock.now += 120
    h.tick()
    h.clock.now += 3600
    h.tick()
    await drain(hooks.worker, lambda: len(receiver.verified) == 2)
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert [b["type"] for b in bodies] == ["maintenance.started", "maintenance.ended"]
    maintenance = bodies[0]["data"]["maintenance"]
    assert maintenance["id"] == window_id and maintenance["title"]["en"] == "Upgrade"
    assert [s["id"] for s in maintenance["services"]] == ["mail"]
    assert bodies[1]["timestamp"] == maintenance["ends_at"]


async def test_a_cancelled_window_sends_maintenance_cancelled_to_the_endpoints_choosing_it(
        hooks, signed_receiver):
    receiver = await signed_receiver()
    other = await signed_receiver()
    new = hooks.add_endpoint(receiver.url)  # every event type, the new one included
    older = hooks.add_endpoint(other.url, name="Sans annulations", events=[
        "maintenance.announced", "maintenance.started", "maintenance.ended"])
    receiver.secrets, other.secrets = [new.secret], [older.secret]
    await hooks.sync()
    h = hooks.harness
    start = h.clock.now + 3 * 86400
    with h.store.write_session() as s, s.begin():
        window_id = h.ops.create_maintenance(
            s, title_fr="Mise à jour", title_en="Upgrade", services=["mail"], start=start,
            duration="1h", announce_before="2d").id
    h.clock.now = start - 86400
    h.tick()
    h.clock.now += 600
    with h.store.write_session() as s, s.begin():
        h.ops.cancel_maintenance(s, window_id)
    cancelled_at = h.clock.now
    h.clock.now = start + 60
    h.tick()  # nothing starts
    await drain(hooks.worker, lambda: len(receiver.verified) == 2 and len(other.verified) == 1)
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert [b["type"] for b in bodies] == ["maintenance.announced", "maintenance.cancelled"]
    cancelled = Webhook(new.secret).verify(receiver.requests[1].body,
                                           receiver.requests[1].headers)
    maintenance = cancelled["data"]["maintenance"]
    assert maintenance["id"] == window_id and maintenance["title"]["en"] == "Upgrade"
    assert maintenance["starts_at"] == bodies[0]["data"]["maintenance"]["starts_at"]
    assert maintenance["cancelled_at"] == cancelled["timestamp"]
    assert cancelled["timestamp"] == datetime.fromtimestamp(cancelled_at, UTC).isoformat(
        timespec="seconds").replace("+00:00", "Z")
    assert bodies[0]["data"]["maintenance"]["cancelled_at"] is None
    # the endpoint that chose its types without it gets no row for it
    assert [json.loads(r.body)["type"] for r in other.requests] == ["maintenance.announced"]
    assert not any(":cancelled:" in r.idempotency_key for r in rows(hooks, "webhook-2"))
