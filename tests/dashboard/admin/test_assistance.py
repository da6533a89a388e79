"""The members' requests in the volunteers' area: where each stands, the retry of a dead
one (CSRF, audited), no name, no address, the member's words escaped; the admin and desk
roles only; the same list in the API."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from monitor.assistance.models import AssistanceRow
from monitor.assistance.service import AssistanceService, Draft
from monitor.incidents.models import OutboxEntry
from monitor.incidents.outbox import OutboxWorker
from monitor.plugins import build_plugin_manager
from monitor.store.audit import AuditEntry
from tests.dashboard.admin.conftest import PASSWORD, QUICK
from tests.dashboard.admin.test_roles import signed_in


def draft(token: str, **changes) -> Draft:
    values = dict(token=token, language="fr", category="other",
                  title="<script>alert(1)</script> Mon site", description="Au secours",
                  name="Alice Martin", email="alice@example.org", member_id="m-42",
                  user_agent="UA", client_address="192.0.2.1")
    values.update(changes)
    return Draft(**values)


@pytest.fixture
def requests_(admin_app, store):
    """Two requests: one whose delivery died (the desk plugin is not loaded), one waiting."""
    config = admin_app.extensions["vigie"].config
    service = AssistanceService(config, store)
    dead = service.submit(draft("t-dead"), [])
    pm = build_plugin_manager(load_entry_points=False)
    asyncio.run(OutboxWorker(store.session, pm, write_sessions=store.write_session).run_once())
    waiting = service.submit(draft("t-wait", email="bob@example.org", name="Bob"), [])
    service.close()
    return dead.reference, waiting.reference


def test_the_list_says_where_requests_stand_without_personal_data(admin, requests_):
    dead, waiting = requests_
    page = admin.get("/admin/assistance").get_data(as_text=True)
    assert dead in page and waiting in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Mon site" in page and "<script>alert" not in page
    assert "alice@example.org" not in page and "Alice" not in page and "Bob" not in page
    assert "Échec définitif" in page or "Échoué" in page
    assert "is not loaded" in page  # the last error
    assert page.count('action="/admin/assistance/') == 1  # one retry button: the dead one
    only_dead = admin.get("/admin/assistance?state=dead").get_data(as_text=True)
    assert dead in only_dead and waiting not in only_dead


def test_retry_queues_the_dead_request_again_and_is_audited(admin, store, requests_):
    dead, _ = requests_
    response = admin.post(f"/admin/assistance/{dead}/retry")
    assert response.status_code == 303 and response.headers["Location"].endswith(
        "/admin/assistance")
    with store.session() as session:
        row = session.scalars(select(AssistanceRow).where(AssistanceRow.reference == dead)).one()
        entry = session.get(OutboxEntry, row.outbox_id)
        assert (row.state, entry.status, entry.attempts) == ("held", "pending", 0)
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "delivery.retry" in actions
    assert admin.post("/admin/assistance/DEM-20260101-ZZZZ/retry").status_code == 404


def test_retry_without_the_csrf_token_is_refused(admin, store, requests_):
    dead, _ = requests_
    response = admin.client.post(f"/admin/assistance/{dead}/retry", data={})
    assert response.status_code == 400
    with store.session() as session:
        assert session.scalar(select(AssistanceRow.state)
                              .where(AssistanceRow.reference == dead)) == "dead"


def test_a_members_requests_are_found_by_address_without_showing_it(admin, requests_):
    dead, waiting = requests_
    page = admin.post("/admin/assistance", {"email": "BOB@example.org"}).get_data(as_text=True)
    assert waiting in page and dead not in page
    assert "bob@example.org" not in page.lower()
    assert "1 demande envoyée avec cette adresse." in page


def test_only_admin_and_desk_see_requests(admin_app, store, requests_):
    from dashboard.admin import accounts

    with store.session() as session, session.begin():
        accounts.create_user(session, "dan", PASSWORD, "desk", passwords=QUICK)
        accounts.create_user(session, "eli", PASSWORD, "editor", passwords=QUICK)
    desk, _ = signed_in(admin_app, store, "dan")
    assert requests_[0] in desk.get("/admin/assistance").get_data(as_text=True)
    editor, _ = signed_in(admin_app, store, "eli")
    assert editor.get("/admin/assistance").status_code == 403
    nav = editor.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/assistance"' not in nav


def test_the_api_lists_requests_without_personal_data(admin_app, token, requests_):
    client = admin_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get("/admin/api/v1/assistance", headers=headers).get_json()
    assert body["counts"]["dead"] == 1 and body["counts"]["received"] == 1
    assert [r["reference"] for r in body["requests"]] == list(reversed(requests_))
    assert "alice" not in str(body).lower() and "email" not in body["requests"][0]
    bad = client.get("/admin/api/v1/assistance?state=nope", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["field"] == "state"
