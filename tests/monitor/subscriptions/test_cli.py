"""``vigie subscriber list|export|forget`` through click's runner: what they print, in
each language, their exit codes, the audit entry, and a volunteer whose role does not
allow addresses refused."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.access import Role
from monitor.cli import command_line
from monitor.cli_common import EXIT_OK, EXIT_UNKNOWN
from monitor.plugins import build_plugin_manager
from monitor.store.accounts import User
from monitor.store.audit import AuditEntry
from tests.monitor.subscriptions.conftest import MAIL, build

root = command_line(build_plugin_manager())
ENGLISH = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None, "VIGIE_USER": None}
FRENCH = {**ENGLISH, "LANG": "fr_FR.UTF-8"}


@pytest.fixture
def held(tmp_path):
    """A configuration whose store holds a confirmed and a pending subscriber."""
    setup = build(f"sqlite:///{tmp_path / 'data' / 'vigie.sqlite'}", tmp_path,
                  extra=MAIL + "data_dir: data\n")
    setup.subscribe("Alice@Example.org", services=["web"], groups=["lists"])
    setup.ask("bob@example.org", "en", everything=True)
    with setup.store.write_session() as s, s.begin():
        for name, role in (("dana", Role.DESK), ("eve", Role.EDITOR), ("ada", Role.ADMIN)):
            s.add(User(username=name, role=role.value, password_hash="x", created_at=1.0,
                       password_changed_at=1.0))
    setup.store.dispose()
    # the command line loads the installed probe kinds: the fake one becomes a real kind
    path = setup.config.path
    path.write_text(path.read_text().replace("kind: fake", "kind: tcp, host: 127.0.0.1, "
                                                           "port: 9"))
    return setup


def run(setup, *args, env=ENGLISH):
    return CliRunner().invoke(root, ["-c", str(setup.config.path), "subscriber", *args],
                              env=env)


def test_list_shows_addresses_and_what_they_follow(held):
    listed = run(held, "list")
    assert listed.exit_code == EXIT_OK, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split()[:4] == ["ID", "ADDRESS", "STATE", "LANG"]
    assert "Alice@Example.org" in lines[1] and "confirmed" in lines[1]
    assert "web,lists/*" in lines[1]
    assert "bob@example.org" in lines[2] and "pending" in lines[2]
    assert "every service" in lines[2]
    pending = run(held, "list", "--state", "pending")
    assert "bob@" in pending.output and "Alice" not in pending.output
    assert "tous les services" in run(held, "list", env=FRENCH).output


def test_export_prints_json_and_says_when_nothing_is_held(held):
    exported = run(held, "export", "ALICE@example.org")
    assert exported.exit_code == EXIT_OK, exported.output
    data = json.loads(exported.output)
    assert data["address"] == "Alice@Example.org"
    assert data["subscription"]["groups"] == ["lists"]
    assert held.row("alice@example.org").manage_token not in exported.output
    nothing = run(held, "export", "nobody@example.org")
    assert nothing.exit_code == EXIT_UNKNOWN
    assert "Vigie holds nothing about nobody@example.org." in nothing.output
    assert "ne détient rien" in run(held, "export", "x@example.org", env=FRENCH).output


def test_forget_deletes_and_is_audited(held):
    subscriber = held.row("alice@example.org").id
    done = run(held, "forget", "alice@example.org", "--as", "ada")
    assert done.exit_code == EXIT_OK, done.output
    assert "alice@example.org is forgotten" in done.output
    assert held.row("alice@example.org") is None
    with held.store.session() as s:
        [entry] = s.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.actor, entry.via, entry.target_id) == (
        "subscriber.forget", "ada", "cli", str(subscriber))
    again = run(held, "forget", "alice@example.org")
    assert again.exit_code == EXIT_OK
    assert "Vigie held nothing about alice@example.org: nothing to delete." in again.output
    assert "rien à effacer" in run(held, "forget", "alice@example.org", env=FRENCH).output


def test_the_operator_may_forget_and_is_recorded_as_such(held):
    assert run(held, "forget", "bob@example.org").exit_code == EXIT_OK
    with held.store.session() as s:
        [entry] = s.scalars(select(AuditEntry)).all()
    assert (entry.role, entry.via) == ("operator", "cli")


@pytest.mark.parametrize("command", [["list"], ["export", "bob@example.org"],
                                     ["forget", "bob@example.org"]])
@pytest.mark.parametrize("who", ["dana", "eve"])
def test_a_role_without_the_permission_is_refused(held, command, who):
    refused = run(held, *command, "--as", who)
    assert refused.exit_code == EXIT_UNKNOWN
    assert "subscribers' addresses" in refused.output
    assert "bob@example.org" not in refused.output.replace(" ".join(command), "")
    assert held.row("bob@example.org") is not None
