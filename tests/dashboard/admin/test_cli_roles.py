"""Roles on the command line, command by command, driven by the ``vigie`` command tree:
with ``--as USER`` (or ``$VIGIE_USER``) a command acts with that volunteer's role and is
refused (exit 3, in the command line's language) when the role does not allow it; without, it acts as
the server operator. A command that changes or reads volunteers' data without declaring
a permission fails :func:`test_every_command_declares_the_documented_permission`.
"""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from dashboard.admin import accounts, tokens
from monitor.access import GRANTS, Permission, Role
from monitor.cli import command_line
from monitor.cli_identity import EXIT_FORBIDDEN
from monitor.incidents.models import IncidentUpdate, Notice
from monitor.plugins import build_plugin_manager
from monitor.store import Store
from tests.dashboard.admin.conftest import QUICK

P = Permission
PASSWORD = "a long enough pass phrase"

#: the commands of the server's operator, which act on no volunteer's data (they read the
#: configuration and the database as the server does: ``cluster status`` the nodes' rows)
SERVER_COMMANDS = {"run", "check", "probes", "config check", "db upgrade", "dashboard", "demo",
                   "cluster status", "agent"}

#: what each volunteers' command needs (the table of docs/operations.md)
EXPECTED: dict[str, Permission] = {
    "notice add": P.NOTICES, "notice list": P.READ, "notice end": P.NOTICES,
    "maintenance add": P.MAINTENANCE, "maintenance list": P.READ,
    "maintenance cancel": P.MAINTENANCE,
    "incident open": P.INCIDENTS, "incident update": P.INCIDENTS,
    "incident resolve": P.INCIDENTS, "incident list": P.READ,
    "outbox list": P.READ, "outbox retry": P.DELIVERIES,
    "user add": P.ACCOUNTS, "user passwd": P.ACCOUNTS, "user role": P.ACCOUNTS,
    "user signout": P.ACCOUNTS, "user remove": P.ACCOUNTS, "user list": P.ACCOUNTS,
    "token add": P.ACCOUNTS, "token list": P.ACCOUNTS, "token revoke": P.ACCOUNTS,
    "audit export": P.AUDIT,
    "assistance list": P.ASSISTANCE, "assistance purge": P.ASSISTANCE,
    "subscriber list": P.SUBSCRIBERS, "subscriber export": P.SUBSCRIBERS,
    "subscriber forget": P.SUBSCRIBERS,
    **{f"webhook {verb}": P.WEBHOOKS for verb in (
        "add", "list", "rotate", "disable", "enable", "test", "remove")},
    **{f"agent-token {verb}": P.AGENTS for verb in ("add", "list", "revoke")},
}

#: arguments that make each command valid (so that an allowed one runs)
ARGS: dict[str, list[str]] = {
    "notice add": ["Coupure"], "notice list": [], "notice end": ["1"],
    "maintenance add": ["Travaux", "--all", "--start", "2030-01-01 10:00", "--duration", "1h"],
    "maintenance list": [], "maintenance cancel": ["1"],
    "incident open": ["Lenteurs", "--service", "mail", "--message", "On regarde"],
    "incident update": ["1", "--phase", "identified", "--message", "Disque plein"],
    "incident resolve": ["1"], "incident list": [], "outbox list": [],
    "outbox retry": ["1"],
    "user add": ["zoe", "--password-stdin"], "user passwd": ["dominique", "--password-stdin"],
    "user role": ["dominique", "desk"], "user signout": ["dominique"],
    "user remove": ["dominique", "--yes"], "user list": [],
    "token add": ["--user", "dominique", "--name", "script"], "token list": [],
    "token revoke": ["1"], "audit export": [],
    "assistance list": [], "assistance purge": [],
    "subscriber list": [], "subscriber export": ["nobody@example.org"],
    "subscriber forget": ["nobody@example.org"],
    "webhook add": ["Partenaire", "https://partner.example.org/h"], "webhook list": [],
    "webhook rotate": ["1"], "webhook disable": ["1"], "webhook enable": ["1"],
    "webhook test": ["999"],  # no such endpoint: nothing leaves the machine
    "webhook remove": ["1"],
    "agent-token add": ["lyon-1", "--location", "lyon"], "agent-token list": [],
    "agent-token revoke": ["lyon-1"],
}

PEOPLE = {Role.ADMIN: "ana", Role.EDITOR: "eli", Role.DESK: "dan"}

CONFIG = """\
data_dir: data
services:
  - id: mail
    name: Courriel
    checks: [{id: tcp, kind: tcp, host: 127.0.0.1, port: 9}]
"""


def vigie_group() -> click.Group:
    """``vigie`` with the plugins' commands, as ``monitor.cli.main`` builds it."""
    return command_line(build_plugin_manager())


def leaves(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from leaves(command, path + " ")
        else:
            yield path, command


def test_every_command_declares_the_documented_permission():
    found = {path: getattr(command.callback, "vigie_permission", None)
             for path, command in leaves(vigie_group()) if path not in SERVER_COMMANDS}
    assert found == EXPECTED


@pytest.fixture
def vigie(tmp_path):
    """Run ``vigie -c …`` on a migrated database with one volunteer per role."""
    path = tmp_path / "vigie.yaml"
    path.write_text(CONFIG)
    group = vigie_group()
    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict | None = None):
        # messages in English unless env says otherwise
        english = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}
        return runner.invoke(group, ["-c", str(path), *args], input=input,
                             env={**english, **(env or {})})

    assert run("db", "upgrade").exit_code == 0
    from monitor.config_loader import load_config
    from monitor.plugins import ProbeRegistry

    config = load_config(path, ProbeRegistry.from_plugin_manager(build_plugin_manager()))
    store = Store(config.database_url)
    store.sync_catalog(config)
    with store.session() as session, session.begin():
        for role, name in PEOPLE.items():
            accounts.create_user(session, name, PASSWORD, role.value, passwords=QUICK)
        accounts.create_user(session, "dominique", PASSWORD, "editor", passwords=QUICK)
        tokens.create_token(session, "dominique", "first")
    run.store = store
    yield run
    store.dispose()


@pytest.mark.parametrize("role", list(Role))
def test_each_command_with_each_role(vigie, role):
    wrong = []
    for command, needed in EXPECTED.items():
        result = vigie(*command.split(), *ARGS[command], "--as", PEOPLE[role],
                       input=PASSWORD + "\n")
        allowed = needed in GRANTS[role]
        # exit 3 is also a bad value's: a refusal is told by its message
        refused = result.exit_code == EXIT_FORBIDDEN and "Refused: Your role" in result.output
        if refused == allowed:
            wrong.append((command, result.exit_code, result.output[-300:]))
        if refused:  # one message, in the command line's language
            assert "Refusé" not in result.output
    assert not wrong


def test_a_refusal_is_said_in_the_command_line_s_language(vigie):
    result = vigie("notice", "add", "Coupure", "--as", "dan", env={"LANG": "fr_FR.UTF-8"})
    assert result.exit_code == EXIT_FORBIDDEN
    assert result.output.startswith("Refusé : Votre rôle") and "Refused" not in result.output


def test_the_refusal_comes_before_the_password_prompt_and_writes_nothing(vigie):
    result = vigie("user", "add", "zoe", "--as", "eli")  # no input: a prompt would abort
    assert result.exit_code == EXIT_FORBIDDEN
    assert "Password" not in result.output
    result = vigie("notice", "add", "Coupure", "--as", "dan")
    assert result.exit_code == EXIT_FORBIDDEN
    with vigie.store.session() as session:
        assert accounts.get_user(session, "zoe") is None
        assert session.query(Notice).count() == 0


def test_vigie_user_names_who_acts_and_the_author_follows(vigie):
    result = vigie("incident", "open", "Lenteurs", "--service", "mail", "--message", "m",
                   env={"VIGIE_USER": "Eli"})
    assert result.exit_code == 0, result.output
    with vigie.store.session() as session:
        assert [u.author for u in session.query(IncidentUpdate)] == ["eli"]
    assert vigie("notice", "add", "X", env={"VIGIE_USER": "dan"}).exit_code == EXIT_FORBIDDEN


def test_an_unknown_identity_is_an_error(vigie):
    result = vigie("notice", "list", "--as", "nobody")
    assert result.exit_code == 3
    assert result.output.strip() == ("Error: --as nobody: no user of that name "
                                     "(see 'vigie user list').")


def test_without_an_identity_the_operator_may_do_everything(vigie):
    result = vigie("user", "role", "dominique", "admin")
    assert result.exit_code == 0, result.output
    assert "dominique is now admin" in result.output
