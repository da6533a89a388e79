"""The operations on agent tokens (roles, audit, no token or hash kept in the log), the
metrics of the agents (read at scrape time, never a token, valid for promtool), and the
pruning of the locations' results with the results."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import select

from monitor.access import SYSTEM, Actor, Forbidden
from monitor.agents.assignments import NO_LOCATIONS, StaticAssignments
from monitor.agents.health import AgentHealth
from monitor.agents.metrics import AGENT_METRICS, AgentCollector
from monitor.agents.models import AgentToken, LocationResultRow
from monitor.agents.service import AgentOperations, agents
from monitor.exposition import render
from monitor.incidents.inputs import InvalidInput
from monitor.store import Store
from monitor.store.audit import AuditEntry
from tests.conftest import which_or_require
from tests.monitor.agents.conftest import T0, result

LYON = StaticAssignments(["lyon", "paris"], {})
DOCS = Path(__file__).resolve().parents[3] / "docs"


@pytest.fixture
def store(store_url):
    made = Store(store_url)
    made.upgrade()
    yield made
    made.dispose()


def _add(store, name="lyon-1", location="lyon", actor=SYSTEM, assignments=LYON):
    with store.write_session() as session, session.begin():
        return AgentOperations(assignments).add_token(session, name=name, location=location,
                                                      actor=actor)


def test_only_administrators_manage_agent_tokens(store):
    editor = Actor.user("eli", "editor", "web")
    with pytest.raises(Forbidden):
        _add(store, actor=editor)
    made = _add(store, actor=Actor.user("ana", "admin", "web"))
    assert made.agent.created_by == "ana" and "vga_" not in repr(made)
    with store.write_session() as session, session.begin(), pytest.raises(Forbidden):
        AgentOperations(LYON).revoke_token(session, "lyon-1", actor=editor)
    with store.session() as session:
        assert session.scalars(select(AgentToken.revoked_at)).one() is None


def test_the_audit_log_keeps_the_change_without_token_or_hash(store):
    made = _add(store)
    with store.write_session() as session, session.begin():
        AgentOperations(LYON, clock=lambda: T0).revoke_token(
            session, "lyon-1", actor=Actor.user("ana", "admin", "api"))
    with store.session() as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        digest = session.scalars(select(AgentToken.token_hash)).one()
    assert [(e.action, e.target_type, e.target_id) for e in entries] == [
        ("agent_token.add", "agent_token", "1"), ("agent_token.revoke", "agent_token", "1")]
    assert entries[1].before["revoked_at"] is None and entries[1].after["revoked_at"] == T0
    logged = json.dumps([[e.before, e.after] for e in entries])
    assert made.token not in logged and digest not in logged


def test_no_remote_location_no_token(store):
    with pytest.raises(InvalidInput) as refused:
        _add(store, assignments=NO_LOCATIONS)
    assert refused.value.field == "location" and "locations.remote" in str(refused.value)


def test_the_metrics_read_the_agents_news_and_never_a_token(agents_api):
    answer = agents_api.push(agents_api.tokens["lyon-1"], [result(1)], buffered=7, dropped=3)
    assert answer.status == 200
    agents_api.push(agents_api.tokens["lyon-1"], [{"seq": 1}])  # malformed: refused
    registry = CollectorRegistry()
    registry.register(AgentCollector(agents_api.system.health,
                                     clock=lambda: agents_api.clock() + 42))
    text = render(registry).decode()
    assert 'vigie_agent_last_batch_age_seconds{agent="lyon-1",location="lyon"} 42.0' in text
    assert 'vigie_agent_buffered_results{agent="lyon-1",location="lyon"} 7.0' in text
    assert 'vigie_agent_dropped_results_total{agent="lyon-1",location="lyon"} 3.0' in text
    assert 'vigie_agent_batches_refused_total{reason="malformed"} 1.0' in text
    assert 'vigie_agent_batches_refused_total{reason="token_revoked"} 0.0' in text
    # paris-1 never sent a batch: no age, its counts are 0
    assert 'buffered_results{agent="paris-1",location="paris"} 0.0' in text
    assert 'age_seconds{agent="paris-1"' not in text
    for token in agents_api.tokens.values():
        assert token not in text
    promtool = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    checked = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                             capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    documented = (DOCS / "metrics.md").read_text(encoding="utf-8")
    assert [name for name in sorted(AGENT_METRICS) if f"`{name}" not in documented] == []


@pytest.fixture
def agents_api(agents):
    """The API after its tokens were read for the metrics (as ``vigie run`` does)."""
    assert agents.system.refresh()
    return agents


def test_the_health_follows_the_table(store):
    health = AgentHealth()
    _add(store)
    _add(store, name="paris-1", location="paris")
    with store.session() as session:
        health.load(agents(session))
    assert [n.name for n in health.agents()] == ["lyon-1", "paris-1"]
    with store.write_session() as session, session.begin():
        AgentOperations(LYON).revoke_token(session, "paris-1")
    with store.session() as session:
        health.load(agents(session))
    assert [n.name for n in health.agents()] == ["lyon-1"]  # a revoked token has no series


def test_location_results_are_pruned_with_the_results(store):
    _add(store)
    with store.write_session() as session, session.begin():
        for seq, started in ((1, T0 - 40 * 86400), (2, T0 - 31 * 86400), (3, T0 - 86400)):
            session.add(LocationResultRow(token_id=1, seq=seq, check_key="web/home",
                                          location="lyon", started_at=started,
                                          duration=0.1, status=0))
        session.add(LocationResultRow(check_key="web/home", location="local",
                                      started_at=T0 - 35 * 86400, duration=0.1, status=0))
    assert store.prune(T0 - 30 * 86400, chunk=1) == 3
    with store.session() as session:
        assert list(session.scalars(select(LocationResultRow.seq))) == [3]
