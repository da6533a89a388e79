"""Roles, route by route: every page of the admin area and every API route, driven by the
app's URL map, with each role; a refused action is a 403 in French and English (JSON for
the API), and the pages hide what a role cannot do.

:data:`EXPECTED` is the roles table of docs/admin.md: a route that is not in it, or that
declares another permission (or none), fails
:func:`test_every_route_declares_the_documented_permission`.
"""

from __future__ import annotations

import re

import pytest

from dashboard.admin import accounts, roles, sessions, tokens
from monitor.access import GRANTS, Permission, Role
from monitor.incidents.models import MaintenanceWindow, Notice
from tests.dashboard.admin.conftest import PASSWORD, QUICK

P = Permission
PUBLIC = roles.PUBLIC

#: what each endpoint of the admin area needs (the table of docs/admin.md)
EXPECTED: dict[str, Permission | str] = {
    "admin.static": PUBLIC, "admin.login": PUBLIC, "admin.logout": P.READ,
    "admin.index": P.READ, "admin.account": P.READ, "admin.end_my_sessions": P.READ,
    "admin.notices": P.READ, "admin.notice_create": P.NOTICES, "admin.notice_edit": P.NOTICES,
    "admin.notice_save": P.NOTICES, "admin.notice_end": P.NOTICES,
    "admin.maintenance": P.READ, "admin.maintenance_create": P.MAINTENANCE,
    "admin.maintenance_edit": P.MAINTENANCE, "admin.maintenance_save": P.MAINTENANCE,
    "admin.maintenance_cancel": P.MAINTENANCE, "admin.maintenance_end": P.MAINTENANCE,
    "admin.incidents": P.READ, "admin.incident": P.READ, "admin.incident_new": P.INCIDENTS,
    "admin.incident_create": P.INCIDENTS, "admin.incident_update": P.INCIDENTS,
    "admin.incident_impact": P.INCIDENTS, "admin.incident_resolve": P.INCIDENTS,
    "admin.incident_postmortem": P.INCIDENTS,
    "admin.outbox": P.READ, "admin.outbox_retry": P.DELIVERIES,
    "admin.users": P.ACCOUNTS, "admin.user_role": P.ACCOUNTS,
    "admin.user_signout": P.ACCOUNTS, "admin.token_revoke": P.ACCOUNTS,
    "admin.audit": P.AUDIT, "admin.audit_export": P.AUDIT,
    "admin.api.whoami": P.READ, "admin.api.notices": P.READ,
    "admin.api.notice_create": P.NOTICES, "admin.api.notice_edit": P.NOTICES,
    "admin.api.notice_end": P.NOTICES, "admin.api.maintenance": P.READ,
    "admin.api.maintenance_create": P.MAINTENANCE, "admin.api.maintenance_edit": P.MAINTENANCE,
    "admin.api.maintenance_cancel": P.MAINTENANCE, "admin.api.maintenance_end": P.MAINTENANCE,
    "admin.api.checks": P.READ, "admin.api.incidents": P.READ, "admin.api.incident": P.READ,
    "admin.api.incident_create": P.INCIDENTS, "admin.api.incident_update": P.INCIDENTS,
    "admin.api.incident_impact": P.INCIDENTS, "admin.api.incident_resolve": P.INCIDENTS,
    "admin.api.incident_postmortem": P.INCIDENTS, "admin.api.outbox": P.READ,
    "admin.api.outbox_retry": P.DELIVERIES,
    "admin.assistance": P.ASSISTANCE, "admin.assistance_search": P.ASSISTANCE,
    "admin.assistance_retry": P.DELIVERIES, "admin.api.assistance_list": P.ASSISTANCE,
    "admin.subscribers": P.READ, "admin.subscribers_forget": P.SUBSCRIBERS,
    "admin.api.subscribers_counts": P.READ, "admin.cluster": P.READ,
    "admin.locations_grid": P.READ,
    **{f"admin.{name}": P.WEBHOOKS for name in (
        "webhooks", "webhook_add", "webhook", "webhook_rotate", "webhook_enable",
        "webhook_disable", "webhook_remove", "webhook_test", "api.webhook_list",
        "api.webhook_create", "api.webhook_detail", "api.webhook_rotate_api",
        "api.webhook_enable_api", "api.webhook_disable_api", "api.webhook_delete",
        "api.webhook_test_api")},
    **{f"admin.{name}": P.AGENTS for name in (
        "agents", "agent_revoke", "api.agent_list", "api.agent_revoke_api")},
}

#: the volunteer of each role
PEOPLE = {Role.ADMIN: "ana", Role.EDITOR: "eli", Role.DESK: "dan"}


@pytest.fixture
def people(store, admin_seeded):
    """One volunteer per role, an extra one to act upon, a run-time maintenance window
    and a token to revoke; the values of the URLs' variables."""
    with store.session() as session, session.begin():
        for role, name in PEOPLE.items():
            accounts.create_user(session, name, PASSWORD, role.value, passwords=QUICK)
        accounts.create_user(session, "dominique", PASSWORD, "editor", passwords=QUICK)
        token = tokens.create_token(session, "dominique", "to revoke")
        window = MaintenanceWindow(title_fr="Fenêtre", message_fr="", created_at=1.0,
                                   updated_at=1.0, service_ids=[], all_services=True,
                                   timezone="Europe/Paris", starts_at=4e9, ends_at=4e9 + 60)
        session.add(window)
        session.flush()
        window_id, token_id = window.id, token.token.id
    open_incident = admin_seeded[2][0]
    return {"incident_id": open_incident, "notice_id": admin_seeded[2][2],
            "window_id": window_id, "outbox_id": 1, "token_id": token_id,
            "username": "dominique", "filename": "admin.css", "reference": "DEM-20260101-ABCD",
            "subscriber_id": 1, "endpoint_id": 999, "agent_name": "lyon-1"}


def signed_in(app, store, username: str):
    """A client with a live session of ``username`` (opened directly: no login, so the
    login limits play no part here) and its CSRF token."""
    with store.session() as session, session.begin():
        user = accounts.get_user(session, username)
        secret = sessions.open_session(session, user.id, app.config["CLOCK"](), "192.0.2.1")
    client = app.test_client()
    with client.session_transaction() as flask_session:
        flask_session["sid"] = secret
    page = client.get("/admin/account").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client, csrf


def admin_rules(app, api: bool):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint.startswith("admin.api.") != api:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_declares_the_documented_permission(admin_app):
    endpoints = {rule.endpoint for rule in admin_app.url_map.iter_rules()
                 if rule.rule.startswith("/admin")}
    assert endpoints == set(EXPECTED), "a route is missing from the roles table, or gone"
    with admin_app.app_context():
        declared = {endpoint: roles.declared(endpoint) for endpoint in endpoints}
    assert declared == EXPECTED


@pytest.mark.parametrize("role", list(Role))
def test_each_page_with_each_role(admin_app, store, people, role):
    """403 exactly where the role lacks the permission; the route runs otherwise."""
    wrong = []
    for rule, method in admin_rules(admin_app, api=False):
        needed = EXPECTED[rule.endpoint]
        if needed == PUBLIC:
            continue
        client, csrf = signed_in(admin_app, store, PEOPLE[role])
        path = rule.build({k: people[k] for k in rule.arguments})[1]
        response = client.open(path, method=method, data={"csrf_token": csrf})
        allowed = needed in GRANTS[role]
        if (response.status_code == 403) == allowed:
            wrong.append((method, path, response.status_code))
    assert not wrong


@pytest.mark.parametrize("role", list(Role))
def test_each_api_route_with_each_role(admin_app, store, people, role):
    with store.session() as session, session.begin():
        secret = tokens.create_token(session, PEOPLE[role], "roles").secret
    client = admin_app.test_client()
    wrong = []
    for rule, method in admin_rules(admin_app, api=True):
        path = rule.build({k: people[k] for k in rule.arguments})[1]
        response = client.open(path, method=method, json={},
                               headers={"Authorization": f"Bearer {secret}"})
        allowed = EXPECTED[rule.endpoint] in GRANTS[role]
        if response.status_code in (401, 500) or (response.status_code == 403) == allowed:
            wrong.append((method, path, response.status_code))
        if response.status_code == 403:
            assert response.get_json()["error"] == "forbidden"
    assert not wrong


def test_a_refusal_says_why_in_french_and_english(admin_app, store, people, caplog):
    client, _ = signed_in(admin_app, store, "eli")
    with caplog.at_level("WARNING", logger="monitor.access"):
        page = client.get("/admin/users")
    assert page.status_code == 403
    assert "refused: web 'eli' (role editor) may not accounts (admin.users)" in caplog.text
    assert ("Votre rôle (rédaction) ne permet pas de gérer les comptes et les jetons."
            in page.get_data(as_text=True).replace("&#39;", "'"))
    page = client.get("/admin/users", headers={"Accept-Language": "en"})
    assert "Your role (editor) does not allow you to manage accounts and tokens." in (
        page.get_data(as_text=True))


def test_a_refused_api_call_is_json_in_both_languages_and_writes_nothing(admin_app, store,
                                                                         people):
    with store.session() as session, session.begin():
        secret = tokens.create_token(session, "dan", "desk").secret
    response = admin_app.test_client().post(
        "/admin/api/v1/notices", json={"title_fr": "Coupure"},
        headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 403
    body = response.get_json()
    assert body["error"] == "forbidden"
    assert "accueil" in body["message_fr"] and "desk" in body["message_en"]
    listed = admin_app.test_client().get("/admin/api/v1/notices",
                                         headers={"Authorization": f"Bearer {secret}"})
    assert "Coupure" not in listed.get_data(as_text=True)


def test_a_token_may_act_with_a_narrower_role_than_its_user(admin_app, store, people):
    with store.session() as session, session.begin():
        secret = tokens.create_token(session, "ana", "desk script", "desk").secret
        with pytest.raises(accounts.AccountError, match="more rights than its user"):
            tokens.create_token(session, "dan", "wider", "editor")
    call = admin_app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert call.get("/admin/api/v1/whoami", headers=headers).get_json() == {
        "user": "ana", "role": "admin/desk", "permissions": ["assistance", "deliveries", "read"]}
    assert call.post("/admin/api/v1/incidents", json={}, headers=headers).status_code == 403
    assert call.post("/admin/api/v1/outbox/1/retry", headers=headers).status_code == 404


def test_lowering_the_users_role_lowers_their_token_and_session_at_once(admin_app, store,
                                                                        people):
    with store.session() as session, session.begin():
        secret = tokens.create_token(session, "eli", "script").secret
    client, _ = signed_in(admin_app, store, "eli")
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/admin/incidents/new").status_code == 200
    with store.session() as session, session.begin():
        accounts.set_role(session, "eli", "desk")
    assert client.get("/admin/incidents/new").status_code == 403
    response = admin_app.test_client().post("/admin/api/v1/incidents", json={},
                                            headers=headers)
    assert response.status_code == 403


def test_the_pages_hide_what_the_role_cannot_do(admin_app, store, people):
    desk, _ = signed_in(admin_app, store, "dan")
    editor, _ = signed_in(admin_app, store, "eli")
    admin, _ = signed_in(admin_app, store, "ana")
    incident = f"/admin/incidents/{people['incident_id']}"
    for page, hidden, shown in [
        ("/admin/notices", "/admin/notices/", "Messages d"),
        ("/admin/", "/admin/incidents/new", "Incidents ouverts"),
        (incident, "/updates", "Chronologie"),
        ("/admin/maintenance", "/admin/maintenance/", "Maintenance"),
    ]:
        text = desk.get(page).get_data(as_text=True)
        assert hidden not in text and shown in text, page
        assert hidden in editor.get(page).get_data(as_text=True), page
    assert 'href="/admin/users"' not in editor.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/users"' in admin.get("/admin/").get_data(as_text=True)


def test_the_last_administrator_cannot_be_demoted_or_removed(store, people):
    with store.session() as session, session.begin():
        with pytest.raises(accounts.AccountError, match="last administrator"):
            accounts.set_role(session, "ana", "editor")
        with pytest.raises(accounts.AccountError, match="last administrator"):
            accounts.remove_user(session, "ana")
        accounts.set_role(session, "eli", "admin")
        accounts.set_role(session, "ana", "editor")  # now there is another one


def test_the_admin_changes_a_role_signs_out_and_revokes_from_the_accounts_page(
        admin_app, store, people):
    admin, csrf = signed_in(admin_app, store, "ana")
    victim, _ = signed_in(admin_app, store, "dominique")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "dominique" in page and "to revoke" in page
    assert admin.post("/admin/users/dominique/role", data={
        "csrf_token": csrf, "role": "desk"}).status_code == 303
    assert admin.post("/admin/users/dominique/role", data={
        "csrf_token": csrf, "role": "boss"}).status_code == 422
    assert admin.post("/admin/users/dominique/signout",
                      data={"csrf_token": csrf}).status_code == 303
    assert victim.get("/admin/").status_code == 303
    assert admin.post(f"/admin/tokens/{people['token_id']}/revoke",
                      data={"csrf_token": csrf}).status_code == 303
    with store.session() as session:
        assert accounts.get_user(session, "dominique").role == "desk"
        assert tokens.list_tokens(session, "dominique") == []


def test_the_service_layer_refuses_too_before_writing(store, people, admin_config):
    """The pages and the API check the route; the operations check again, so a caller
    that forgets the route's check still cannot act beyond the role."""
    from monitor.access import Actor, Forbidden
    from monitor.incidents.context import IncidentContext
    from monitor.incidents.service import Operations
    from monitor.plugins import build_plugin_manager

    ops = Operations(IncidentContext.build(admin_config,
                                           build_plugin_manager(load_entry_points=False)))
    desk = Actor.user("dan", "desk", "web")
    editor = Actor.user("eli", "editor", "web")
    with store.session() as session:
        before = session.query(Notice).count()
    with store.session() as session, session.begin():
        with pytest.raises(Forbidden):
            ops.post_notice(session, title_fr="Coupure", actor=desk)
        with pytest.raises(Forbidden):
            accounts.set_role(session, "dan", "admin", actor=editor)
        with pytest.raises(Forbidden):
            tokens.create_token(session, "eli", "mine", actor=editor)
        notice = ops.post_notice(session, title_fr="Coupure", actor=editor)
        assert notice.created_by == "eli"  # the actor is the author
    with store.session() as session:
        assert session.query(Notice).count() == before + 1
        assert accounts.get_user(session, "dan").role == "desk"
