"""``vigie notice|maintenance|incident|outbox``: the volunteers' commands on a real SQLite
database, through click's runner."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.store import Store

CONFIG = """\
data_dir: data
groups: [{id: hosting, name: Hébergement}]
services:
  - id: web
    name: Web
    group: hosting
    checks: [{id: tcp, kind: tcp, host: 127.0.0.1, port: 9}]
  - id: mail
    name: Courriel
    checks: [{id: tcp, kind: tcp, host: 127.0.0.1, port: 9}]
"""


@pytest.fixture
def vigie(tmp_path):
    path = tmp_path / "vigie.yaml"
    path.write_text(CONFIG)
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        # messages in English: the locale is not French
        result = runner.invoke(cli, ["-c", str(path), *args], catch_exceptions=False,
                               env={"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None})
        assert result.exit_code == code, result.output
        return result.output

    run("db", "upgrade")
    from monitor.config_loader import load_config
    from monitor.plugins import ProbeRegistry, build_plugin_manager

    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    store = Store(load_config(path, registry).database_url)
    store.sync_catalog(load_config(path, registry))
    store.dispose()
    return run


def test_incident_commands(vigie):
    out = vigie("incident", "open", "Lenteurs", "--service", "mail", "--message", "On regarde",
                "--impact", "degraded")
    reference = re.search(r"INC-\d{4}-\d{4}", out).group(0)
    vigie("incident", "update", reference, "--phase", "identified", "--message", "Disque plein")
    assert "identified" in vigie("incident", "list")
    vigie("incident", "resolve", reference)
    assert reference not in vigie("incident", "list")
    assert reference in vigie("incident", "list", "--all")
    err = vigie("incident", "open", "X", "--service", "nope", "--message", "m", code=3)
    assert err.strip() == "Error: --service: Unknown service: nope."


def test_maintenance_and_notice_commands(vigie):
    out = vigie("maintenance", "add", "Sauvegarde", "--group", "hosting", "--weekly", "sunday",
                "--at", "02:00", "--duration", "2h")
    wid = re.search(r"Maintenance window (\d+) planned", out).group(1)
    listing = vigie("maintenance", "list")
    assert "Sauvegarde" in listing and "FREQ=WEEKLY" in listing
    vigie("maintenance", "cancel", wid)
    assert "Sauvegarde" not in vigie("maintenance", "list")
    assert "cancelled" in vigie("maintenance", "list", "--all")
    assert "duration" in vigie("maintenance", "add", "X", "--all", "--daily", "--at", "03:00",
                               code=3)

    nid = re.search(r"Notice (\d+) posted",
                    vigie("notice", "add", "Nouveau forum", "--level", "warning")).group(1)
    assert "Nouveau forum" in vigie("notice", "list")
    vigie("notice", "end", nid)
    assert "Nouveau forum" not in vigie("notice", "list")
    assert "Nouveau forum" in vigie("notice", "list", "--all")


def test_outbox_commands(vigie, tmp_path):
    from monitor.incidents.models import OutboxEntry

    store = Store(f"sqlite:///{tmp_path / 'data' / 'vigie.sqlite'}")
    with store.session() as s, s.begin():
        s.add(OutboxEntry(idempotency_key="k", hook="vigie_system_alert", plugin="notifier",
                          stream="system:x", payload="{}", status="dead", attempts=10,
                          created_at=1.0, next_attempt_at=1.0, last_error="HTTP 500"))
    store.dispose()
    listing = vigie("outbox", "list", "--status", "dead")
    assert "notifier" in listing and "HTTP 500" in listing
    vigie("outbox", "retry", "1")
    assert "pending" in vigie("outbox", "list")
    assert "No delivery number 7" in vigie("outbox", "retry", "7", code=3)


def test_the_cli_cleans_text_like_the_forms_and_the_api(vigie):
    # the same boundary (monitor.incidents.service): an escape sequence pasted from a
    # terminal and a bidi override never reach the database
    out = vigie("incident", "open", "Panne\x1b[31m du\u202e courrier", "--service", "mail",
                "--message", "On\x07 regarde")
    assert "Panne [31m du courrier" in vigie("incident", "list")
    assert "\x1b" not in out


@pytest.mark.parametrize("lang, expected", [
    ("fr_FR.UTF-8", "Erreur : --start : Date invalide : demain 8h (ex. 2026-04-05 22:00)."),
    ("en_GB.UTF-8", "Error: --start: Invalid date: demain 8h (e.g. 2026-04-05 22:00)."),
])
def test_a_bad_value_names_the_option_once_in_the_cli_language(tmp_path, lang, expected):
    path = tmp_path / "vigie.yaml"
    path.write_text(CONFIG)
    runner = CliRunner()
    env = {"LANG": lang, "LC_ALL": None, "LC_MESSAGES": None}
    assert runner.invoke(cli, ["-c", str(path), "db", "upgrade"], env=env).exit_code == 0
    result = runner.invoke(cli, ["-c", str(path), "notice", "add", "Coupure", "--start",
                                 "demain 8h"], env=env)
    assert result.exit_code == 3
    assert result.output.strip() == expected


@pytest.mark.parametrize("args, option", [
    (["maintenance", "add", "X", "--all", "--daily", "--at", "03:00"], "--duration"),
    (["maintenance", "add", "X", "--group", "nope", "--start", "2030-01-01 10:00",
      "--duration", "1h"], "--group"),
    (["maintenance", "add", "X", "--all", "--weekly", "someday", "--at", "03:00",
      "--duration", "1h"], "--weekly"),
    (["incident", "open", "X", "--service", "nope", "--message", "m"], "--service"),
    (["incident", "update", "INC-2020-0001", "--phase", "identified", "--message", "m"],
     "INCIDENT"),
    (["notice", "add", "X", "--start", "2030-01-02 10:00", "--end", "2030-01-01 10:00"],
     "--end"),
    (["notice", "end", "42"], "NOTICE_ID"),
    (["outbox", "retry", "7"], "OUTBOX_ID"),
])
def test_every_refused_value_names_its_option(vigie, args, option):
    err = vigie(*args, code=3)
    [line] = err.strip().splitlines()
    assert line.startswith(f"Error: {option}: "), line
    for field in ("starts_at", "ends_at", "title_fr", "message_fr", "incident_id", "rule"):
        assert field not in line


def test_notice_list_shows_when_a_notice_started(vigie):
    vigie("notice", "add", "Nouveau forum")
    [row] = [line for line in vigie("notice", "list").splitlines() if "Nouveau forum" in line]
    assert re.match(r"\d+\s+info\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+-\s+Nouveau forum$", row), row


def test_every_field_the_service_layer_refuses_is_named_by_an_option():
    import click

    import monitor.incidents.inputs as inputs
    import monitor.incidents.maintenance_ops as maintenance_ops
    import monitor.incidents.service as service
    from monitor.cli_admin import admin_commands, option_of

    source = ""
    for module in (service, maintenance_ops, inputs):
        with open(module.__file__, encoding="utf-8") as file:
            source += file.read()
    fields = set(re.findall(
        r'(?:InvalidInput|NotFound|text_field|date_field|duration_field|choice_field)'
        r'\(\s*"(\w+)"', source))
    assert {"starts_at", "title_fr", "services", "rule"} <= fields

    def leaves(command):
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                yield from leaves(sub)
        else:
            yield command

    commands = [c for group in admin_commands() for c in leaves(group)]
    unnamed = {f for f in fields
               if not any(option_of(f, click.Context(c)) for c in commands)}
    # the maintenance time zone is the site's: the command line never gives one
    assert unnamed == {"timezone"}


@pytest.mark.parametrize(("lang", "said"), [
    ("fr_FR.UTF-8", (r"Message \d+ publié\.", "Erreur : --service : Service inconnu : nope.")),
    ("C.UTF-8", (r"Notice \d+ posted\.", "Error: --service: Unknown service: nope."))])
def test_the_commands_speak_the_users_language(vigie, tmp_path, lang, said):
    # was: "notice 3 posted" in English whatever the locale, errors in both
    path = tmp_path / "vigie.yaml"  # the database made by the fixture
    runner = CliRunner()
    env = {"LANG": lang, "LC_ALL": None, "LC_MESSAGES": None}
    out = runner.invoke(cli, ["-c", str(path), "notice", "add", "Forum", "--level", "info"],
                        env=env, catch_exceptions=False).output
    assert re.fullmatch(said[0] + "\n", out), out
    result = runner.invoke(cli, ["-c", str(path), "incident", "open", "X", "--service",
                                 "nope", "--message", "m"], env=env, catch_exceptions=False)
    assert result.exit_code == 3 and result.output.strip() == said[1]
