"""``vigie agent-token`` through click's runner: add (the token printed once, only its
hash kept, the change audited without it), list (never a token), revoke (the agent's
next request through the real listener is refused); bad values refused with one message
naming the option and exit 3."""

from __future__ import annotations

import hashlib
import http.client
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.agents import assignments
from monitor.agents.app import PREFIX
from monitor.agents.assignments import StaticAssignments
from monitor.agents.models import AgentToken
from monitor.agents.settings import AgentSettings
from monitor.agents.system import AgentSystem
from monitor.cli import command_line
from monitor.config_loader import load_with_plugins
from monitor.plugins import build_plugin_manager
from monitor.router import Router
from monitor.store import Store
from monitor.store.audit import AuditEntry
from monitor.web import WebServer

root = command_line(build_plugin_manager())
ENGLISH = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None, "VIGIE_USER": None}
FRENCH = {**ENGLISH, "LANG": "fr_FR.UTF-8"}


@pytest.fixture
def vigie(tmp_path, monkeypatch):
    """``run(*args)``: ``vigie -c … agent-token …`` on a migrated SQLite database, the
    configuration naming one remote location, ``lyon``, where ``mail/smtp`` runs."""
    path = tmp_path / "vigie.yaml"
    path.write_text("services:\n  - id: mail\n    name: Courriel\n    checks:\n"
                    "      - {id: smtp, kind: tcp, host: 127.0.0.1, port: 9}\n")
    _pm, _registry, config = load_with_plugins(path)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(config.database_url)
    store.upgrade()
    located = StaticAssignments(["lyon"], {"lyon": config.checks})
    # the configuration's locations, as monitor.agents.assignments reads them
    monkeypatch.setattr(assignments, "assignments_of", lambda _config: located)

    def run(*args, env=ENGLISH):
        return CliRunner().invoke(root, ["-c", str(path), "agent-token", *args], env=env)

    run.store, run.assignments = store, located
    yield run
    store.dispose()


def test_add_prints_the_token_once_and_keeps_only_its_hash(vigie):
    added = vigie("add", "lyon-1", "--location", "lyon")
    assert added.exit_code == 0, added.output
    token = added.output.splitlines()[-1]
    assert token.startswith("vga_") and len(token) == 47
    assert "shown this once" in added.output
    with vigie.store.session() as session:
        row = session.scalars(select(AgentToken)).one()
        assert (row.name, row.location) == ("lyon-1", "lyon")
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        entry = session.scalars(select(AuditEntry)).one()
    assert entry.action == "agent_token.add"
    assert token not in json.dumps([entry.before, entry.after])
    assert row.token_hash not in json.dumps([entry.before, entry.after])
    listed = vigie("list")
    assert listed.exit_code == 0 and token not in listed.output
    assert listed.output.splitlines()[1].split()[:6] == ["lyon-1", "lyon", "waiting", "-",
                                                         "0", "0"]


@pytest.mark.parametrize(("args", "message"), [
    (["add", "lyon 1", "--location", "lyon"],
     "Error: NAME: Invalid name: use letters, digits, “-”, “_” and “.”, starting with a "
     "letter or digit, at most 63 characters (e.g. lyon-1)."),
    (["add", "paris-1", "--location", "paris"],
     "Error: --location: Unknown location “paris” (one of: lyon)."),
    (["revoke", "nobody"], "Error: NAME: No agent token has this name."),
])
def test_bad_values_get_one_message_naming_the_option(vigie, args, message):
    refused = vigie(*args)
    assert refused.exit_code == 3
    assert refused.output.strip() == message
    with vigie.store.session() as session:
        assert session.scalars(select(AgentToken)).first() is None


def test_a_name_is_given_once(vigie):
    assert vigie("add", "lyon-1", "--location", "lyon").exit_code == 0
    again = vigie("add", "lyon-1", "--location", "lyon", env=FRENCH)
    assert again.exit_code == 3
    assert again.output.startswith("Erreur : NAME : ")


def _get_checks(port: int, token: str) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", PREFIX + "/checks",
                           headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_token_revoked_on_the_command_line_stops_the_agent(vigie):
    token = vigie("add", "lyon-1", "--location", "lyon").output.splitlines()[-1]
    system = AgentSystem(vigie.store, vigie.assignments, AgentSettings())
    router = Router(metrics=lambda: b"", health=lambda: {"ok": True},
                    metrics_content_type="text/plain")
    router.mount(PREFIX, system.app)
    server = WebServer(router, "127.0.0.1", 0, threads=2, paths=system.listener_paths({}))
    server.start()
    try:
        status, document = _get_checks(server.port, token)
        assert status == 200 and [c["key"] for c in document["checks"]] == ["mail/smtp"]
        revoked = vigie("revoke", "lyon-1")
        assert revoked.exit_code == 0, revoked.output
        status, refusal = _get_checks(server.port, token)
        assert (status, refusal["error"]) == (401, "token_revoked")
    finally:
        server.stop()
    assert "revoked" in vigie("list").output
    assert vigie("revoke", "lyon-1").exit_code == 0  # again: nothing changes
