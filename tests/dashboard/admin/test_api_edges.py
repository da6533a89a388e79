"""Edges of the JSON APIs found by the schemathesis run (tests/dashboard/test_api_live.py),
pinned here with the test client: ids too large for the database, the admin API's answers
for a wrong method or an address it does not have."""

from __future__ import annotations

import pytest

from dashboard.admin import tokens

API = "/admin/api/v1"
#: one more than the largest BIGINT: SQLite and PostgreSQL cannot even compare with it
HUGE = str(2**63)


@pytest.fixture
def bearer(store, volunteer) -> dict[str, str]:
    """The header of a valid token of ``camille``."""
    with store.session() as session, session.begin():
        return {"Authorization": f"Bearer {tokens.create_token(session, 'camille', 't').secret}"}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/api/v1/incidents/{HUGE}"),
    ("GET", f"{API}/incidents/{HUGE}"),
    ("POST", f"{API}/incidents/{HUGE}/resolve"),
    ("POST", f"{API}/notices/{HUGE}/end"),
    ("POST", f"{API}/maintenance/{HUGE}/cancel"),
    ("POST", f"{API}/outbox/{HUGE}/retry"),
])
def test_an_id_too_large_for_the_database_is_404_not_500(admin_app, bearer, method, path):
    response = admin_app.test_client().open(path, method=method, headers=bearer)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_the_largest_id_is_still_looked_up(admin_app, bearer):
    response = admin_app.test_client().get(f"{API}/incidents/{2**63 - 1}", headers=bearer)
    assert response.status_code == 404
    assert response.get_json()["message_en"] == "Incident not found."


def test_a_wrong_method_says_which_are_allowed(admin_app, bearer):
    response = admin_app.test_client().delete(f"{API}/notices", headers=bearer)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    body = response.get_json()
    assert body["error"] == "method_not_allowed" and body["message_fr"] and body["message_en"]


@pytest.mark.parametrize("path", [f"{API}/nothing-here", f"{API}/incidents/not-a-number"])
def test_an_unknown_address_of_the_admin_api_has_the_api_error_body(admin_app, bearer, path):
    response = admin_app.test_client().get(path, headers=bearer)
    assert response.status_code == 404
    assert response.get_json() == {"error": "not_found", "message": "Rien à cette adresse.",
                                   "message_fr": "Rien à cette adresse.",
                                   "message_en": "Nothing at this address."}
    assert response.headers["Cache-Control"] == "no-store"


def test_the_public_api_keeps_its_own_404_body(admin_app):
    response = admin_app.test_client().get("/api/v1/nothing-here")
    assert response.get_json() == {"error": "not_found", "status": 404}
