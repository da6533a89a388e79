"""The remote agents' tokens in the volunteers' area and the JSON API: the list shows the
agents' last news and never a token or its hash; revoking needs the form's CSRF token,
is audited, and stops the token; French and English."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, update

from monitor.agents.assignments import StaticAssignments
from monitor.agents.models import AgentToken
from monitor.agents.service import AgentOperations
from monitor.store.audit import AuditEntry
from tests.dashboard.admin.test_api import API, api  # noqa: F401 (a fixture)

LOCATIONS = StaticAssignments(["lyon", "maison-alice"], {})


@pytest.fixture
def made(store):
    """Two agent tokens; ``lyon-1`` has sent a batch 42 s ago."""
    ops = AgentOperations(LOCATIONS)
    with store.write_session() as session, session.begin():
        tokens = {name: ops.add_token(session, name=name, location=location).token
                  for name, location in (("lyon-1", "lyon"), ("alice", "maison-alice"))}
        session.execute(update(AgentToken).where(AgentToken.name == "lyon-1").values(
            last_batch_at=time.time() - 42, buffered=17, dropped=3,
            last_seen_address="192.0.2.7", agent_name="lyon-1"))
    with store.session() as session:
        hashes = list(session.scalars(select(AgentToken.token_hash)))
    return tokens, hashes


def test_the_page_lists_the_agents_and_never_a_token(admin, made):
    tokens, hashes = made
    page = admin.get("/admin/agents").get_data(as_text=True)
    assert "Agents distants" in page
    for name in ("lyon-1", "lyon", "alice", "maison-alice", "192.0.2.7", "17"):
        assert name in page
    assert "jamais" in page and "en attente de son premier lot" in page
    assert any(f"{age} s" in page for age in range(42, 60))
    for secret in [*tokens.values(), *hashes]:
        assert secret not in page
    english = admin.get("/admin/agents?lang=en").get_data(as_text=True)
    assert "Remote agents" in english and "waiting for its first batch" in english
    assert 'href="/admin/agents"' in admin.get("/admin/").get_data(as_text=True)


def test_revoking_needs_the_csrf_token_and_is_audited(admin, store, made):
    forged = admin.client.post("/admin/agents/lyon-1/revoke")
    assert forged.status_code == 400
    with store.session() as session:
        assert session.scalars(select(AgentToken.revoked_at).where(
            AgentToken.name == "lyon-1")).one() is None
    revoked = admin.post("/admin/agents/lyon-1/revoke")
    assert revoked.status_code == 303 and revoked.headers["Location"].endswith("/admin/agents")
    page = admin.get("/admin/agents").get_data(as_text=True)
    assert "révoqué" in page and "est révoqué" in page
    with store.session() as session:
        assert session.scalars(select(AgentToken.revoked_at).where(
            AgentToken.name == "lyon-1")).one() is not None
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "agent_token.revoke")).one()
    assert (entry.actor, entry.via, entry.target_id) == ("camille", "web", "1")
    assert admin.post("/admin/agents/nobody/revoke").status_code == 404


def test_the_api_lists_and_revokes(api, made):
    tokens, hashes = made
    listed = api("GET", "/agents")
    assert listed.status_code == 200
    body = listed.get_data(as_text=True)
    assert [a["name"] for a in listed.get_json()] == ["lyon-1", "alice"]
    assert listed.get_json()[0]["buffered"] == 17 and listed.get_json()[1]["state"] == "waiting"
    for secret in [*tokens.values(), *hashes]:
        assert secret not in body
    revoked = api("POST", "/agents/alice/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    missing = api("POST", "/agents/nobody/revoke")
    assert missing.status_code == 404 and missing.get_json()["field"] == "name"
