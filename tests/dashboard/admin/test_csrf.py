"""Every form of the admin area needs its CSRF token: without it (or with another
session's, or a forged one) the request is refused with 400 and nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from monitor.incidents.models import Incident, MaintenanceWindow, Notice
from tests.dashboard.admin.conftest import PASSWORD, csrf_of

NOTICE = {"title_fr": "Coupure réseau", "text_fr": "Ce soir.", "level": "info"}


def count(store, model) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("path, data, model", [
    ("/admin/notices", NOTICE, Notice),
    ("/admin/maintenance", {"title_fr": "Mise à jour", "scope": "all",
                            "start": "2030-01-01T22:00", "end": "2030-01-01T23:00"},
     MaintenanceWindow),
    ("/admin/incidents", {"services": "web", "title_fr": "Panne", "message_fr": "On regarde."},
     Incident),
])
def test_a_form_without_its_token_changes_nothing(admin, store, path, data, model):
    before = count(store, model)
    response = admin.client.post(path, data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Ce formulaire a expiré ou ne vient pas de ce site" in page
    assert count(store, model) == before
    # the same form with its token goes through
    assert admin.post(path, data).status_code == 303
    assert count(store, model) == before + 1


def test_a_forged_token_is_refused(admin, store):
    before = count(store, Notice)
    response = admin.client.post("/admin/notices", data={**NOTICE, "csrf_token": "forged"})
    assert response.status_code == 400
    assert count(store, Notice) == before


def test_another_sessions_token_is_refused(admin, admin_app, store):
    before = count(store, Notice)
    stranger = admin_app.test_client()
    token = csrf_of(stranger.get("/admin/login").get_data(as_text=True))
    response = admin.client.post("/admin/notices", data={**NOTICE, "csrf_token": token})
    assert response.status_code == 400
    assert count(store, Notice) == before


def test_the_token_may_come_in_a_header(admin, store):
    before = count(store, Notice)
    response = admin.client.post("/admin/notices", data=NOTICE,
                                 headers={"X-CSRFToken": admin.token()})
    assert response.status_code == 303
    assert count(store, Notice) == before + 1


def test_the_login_form_needs_its_token_too(admin_app, volunteer):
    client = admin_app.test_client()
    response = client.post("/admin/login", data={"username": "camille", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 303


def test_retry_and_end_buttons_need_the_token(admin, store, seeded_ids):
    response = admin.client.post(f"/admin/notices/{seeded_ids['notice']}/end")
    assert response.status_code == 400
    with store.session() as session:
        assert session.get(Notice, seeded_ids["notice"]).ends_at is None
