"""The members' subscriptions in the volunteers' area: counts per service and state for
every role, the addresses only for administrators, forget from the page (CSRF, audited
without the address, every trace gone), the counts in the API."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from monitor.access import Role
from monitor.incidents.models import OutboxEntry
from monitor.store.audit import AuditEntry
from monitor.subscriptions.models import Subscriber
from tests.dashboard.admin.conftest import PASSWORD, QUICK
from tests.dashboard.admin.test_roles import signed_in


def add(session, email: str, state: str = "confirmed", *, everything: bool = False,
        services=(), groups=()) -> Subscriber:
    row = Subscriber(email=email, email_key=email.lower(), language="fr",
                     everything=everything, services=list(services), groups=list(groups),
                     state=state, manage_token=f"token-{email}", requests=1, created_at=1e9,
                     confirmed_at=1e9 if state == "confirmed" else None, updated_at=1e9,
                     failures=0)
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def subscribers(store):
    """Four subscribers of the seeded services, a volunteer per role; their ids."""
    from dashboard.admin import accounts

    with store.session() as session, session.begin():
        ids = {
            "all": add(session, "Tout@Example.org", everything=True).id,
            "web": add(session, "web@example.org", services=["web"]).id,
            "hosting": add(session, "hosting@example.org", groups=["hebergement"]).id,
            "pending": add(session, "pending@example.org", "pending", services=["mail"]).id,
        }
        session.add(OutboxEntry(idempotency_key=f"subscription:confirm:{ids['web']}:1",
                                hook="vigie_member_mail", plugin="member-mail",
                                stream=f"subscriber:{ids['web']}", payload="{}",
                                status="delivered", attempts=1, created_at=1e9,
                                next_attempt_at=1e9))
        for role, name in ((Role.ADMIN, "ana"), (Role.EDITOR, "eli"), (Role.DESK, "dan")):
            accounts.create_user(session, name, PASSWORD, role.value, passwords=QUICK)
    return ids


def test_every_role_sees_the_counts_per_service(admin_app, store, subscribers):
    for name in ("ana", "eli", "dan"):
        client, _ = signed_in(admin_app, store, name)
        page = client.get("/admin/subscribers", headers={"Accept-Language": "en"})
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Confirmed: 3 · Waiting for confirmation: 1" in html
        # web: everything, web, its group; nextcloud: everything and the group; mail:
        # everything (and one pending)
        assert "<th scope=\"row\">Web hosting</th><td>3</td><td>0</td>" in html
        assert "<th scope=\"row\">Nextcloud</th><td>2</td><td>0</td>" in html
        assert "<th scope=\"row\">Mail</th><td>1</td><td>1</td>" in html
        assert 'href="/admin/subscribers"' in html  # in the menu


@pytest.mark.parametrize("name", ["eli", "dan"])
def test_a_role_without_the_permission_sees_no_address(admin_app, store, subscribers, name):
    client, csrf = signed_in(admin_app, store, name)
    html = client.get("/admin/subscribers").get_data(as_text=True)
    assert "example.org" not in html.lower() and "/forget" not in html
    assert "seules les personnes de l'administration" in html.replace("&#39;", "'")
    refused = client.post(f"/admin/subscribers/{subscribers['web']}/forget",
                          data={"csrf_token": csrf})
    assert refused.status_code == 403
    with store.session() as session:
        assert session.get(Subscriber, subscribers["web"]) is not None


def test_an_administrator_sees_the_addresses_and_filters_them(admin_app, store, subscribers):
    client, _ = signed_in(admin_app, store, "ana")
    html = client.get("/admin/subscribers").get_data(as_text=True)
    for email in ("Tout@Example.org", "web@example.org", "hosting@example.org",
                  "pending@example.org"):
        assert email in html
    assert html.count('/forget"') == 4
    assert "Tous les services" in html and "Hébergement" in html
    pending = client.get("/admin/subscribers?state=pending").get_data(as_text=True)
    assert "pending@example.org" in pending and "web@example.org" not in pending


def test_forget_from_the_page_deletes_every_trace_and_is_audited(admin_app, store,
                                                                subscribers):
    client, csrf = signed_in(admin_app, store, "ana")
    web = subscribers["web"]
    response = client.post(f"/admin/subscribers/{web}/forget", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/subscribers")
    with store.session() as session:
        assert session.get(Subscriber, web) is None
        assert session.scalar(select(func.count()).select_from(OutboxEntry)
                              .where(OutboxEntry.stream == f"subscriber:{web}")) == 0
        [entry] = session.scalars(select(AuditEntry)
                                  .where(AuditEntry.action == "subscriber.forget")).all()
    assert (entry.actor, entry.via, entry.target_id) == ("ana", "web", str(web))
    assert "example.org" not in json.dumps([entry.before, entry.after])
    page = client.get("/admin/subscribers").get_data(as_text=True)
    assert "web@example.org" not in page and "oubliée" in page
    again = client.post(f"/admin/subscribers/{web}/forget", data={"csrf_token": csrf})
    assert again.status_code == 404


def test_forget_without_the_csrf_token_is_refused(admin_app, store, subscribers):
    client, _ = signed_in(admin_app, store, "ana")
    response = client.post(f"/admin/subscribers/{subscribers['web']}/forget", data={})
    assert response.status_code == 400
    with store.session() as session:
        assert session.get(Subscriber, subscribers["web"]) is not None


def test_the_api_gives_the_counts_without_addresses(admin_app, store, subscribers):
    from dashboard.admin import tokens

    with store.session() as session, session.begin():
        secret = tokens.create_token(session, "dan", "counts").secret
    response = admin_app.test_client().get("/admin/api/v1/subscribers",
                                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["states"] == {"pending": 1, "confirmed": 3}
    assert body["services"]["web"] == {"pending": 0, "confirmed": 3}
    assert "example.org" not in response.get_data(as_text=True)
