"""Failed deliveries (dead-lettered outbox entries) are shown in the admin area, with a
button that queues them again."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from monitor.incidents.models import OutboxEntry


@pytest.fixture
def dead(store, seeded_ids) -> int:
    """A delivery to the helpdesk plugin that failed for good."""
    now = time.time()
    with store.session() as session, session.begin():
        entry = OutboxEntry(idempotency_key="test:1:tickets", hook="vigie_incident_opened",
                            plugin="tickets_bridge", stream=f"incident:{seeded_ids['open']}",
                            incident_id=seeded_ids["open"], payload="{}", status="dead",
                            attempts=10, created_at=now - 3600, next_attempt_at=now - 60,
                            last_attempt_at=now - 60,
                            last_error="HTTP 401 from the helpdesk: check the API token")
        delivered = OutboxEntry(idempotency_key="test:1:mail", hook="vigie_incident_opened",
                                plugin="apprise", stream="incident:x", payload="{}",
                                status="delivered", attempts=1, created_at=now - 3600,
                                next_attempt_at=now - 3600, delivered_at=now - 3500)
        session.add_all([entry, delivered])
        session.flush()
        return entry.id


def test_the_summary_points_to_failed_deliveries(admin, dead):
    page = admin.get("/admin/").get_data(as_text=True)
    assert "1 envoi a échoué définitivement" in page


def test_failed_deliveries_are_listed_with_their_error(admin, dead):
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "tickets_bridge" in page and "HTTP 401 from the helpdesk" in page
    assert "apprise" not in page  # delivered ones are on another tab
    assert "apprise" in admin.get("/admin/outbox?status=delivered").get_data(as_text=True)


def test_retry_queues_the_delivery_again(admin, store, dead):
    response = admin.post(f"/admin/outbox/{dead}/retry")
    assert response.status_code == 303
    with store.session() as session:
        entry = session.get(OutboxEntry, dead)
        assert (entry.status, entry.attempts) == ("pending", 0)
        assert entry.next_attempt_at <= time.time()
    assert "L&#39;envoi est remis dans la file." in admin.get("/admin/outbox").get_data(
        as_text=True)


def test_retrying_a_delivered_entry_is_refused(admin, store, dead):
    with store.session() as session:
        delivered_id = session.scalar(select(OutboxEntry.id)
                                      .where(OutboxEntry.status == "delivered"))
    response = admin.post(f"/admin/outbox/{delivered_id}/retry")
    assert response.status_code == 422
    assert "a déjà été remis" in response.get_data(as_text=True)
    assert admin.post("/admin/outbox/999999/retry").status_code == 404
