"""``vigie webhook`` through click's runner: add (the secret printed once), list (never
the secret), rotate, disable, enable, test, remove; hostile values refused with one clear
message and exit 3."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from standardwebhooks.webhooks import Webhook

from monitor.cli import command_line
from monitor.plugins import build_plugin_manager

root = command_line(build_plugin_manager())
ENGLISH = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None, "VIGIE_USER": None}
FRENCH = {**ENGLISH, "LANG": "fr_FR.UTF-8"}


def config(tmp_path) -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text("services:\n  - id: mail\n    name: Courriel\n    checks:\n"
                    "      - {id: smtp, kind: tcp, host: 127.0.0.1, port: 9}\n")
    from monitor.config_loader import load_with_plugins
    from monitor.store import Store

    _pm, _registry, loaded = load_with_plugins(path)
    loaded.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(loaded.database_url)
    store.upgrade()
    store.sync_catalog(loaded)  # the services `vigie run` would have recorded
    store.dispose()
    return path


def run(path, *args, env=ENGLISH):
    return CliRunner().invoke(root, ["-c", str(path), "webhook", *args], env=env)


async def test_the_commands_from_add_to_remove(tmp_path, signed_receiver):
    receiver = await signed_receiver()
    path = config(tmp_path)
    added = run(path, "add", "Partenaire", receiver.url, "--event", "incident.opened",
                "--service", "mail")
    assert added.exit_code == 0, added.output
    secret = added.output.splitlines()[-1]
    assert secret.startswith("whsec_") and "shown this once" in added.output
    listed = run(path, "list")
    assert listed.exit_code == 0 and secret not in listed.output
    assert listed.output.splitlines()[1].split()[:5] == ["1", "enabled", "0", "incident.opened",
                                                         "mail"]
    receiver.secrets = [secret]
    tested = await _in_thread(run, path, "test", "1")
    assert tested.exit_code == 0, tested.output
    assert "HTTP 200" in tested.output
    [ping] = receiver.requests
    assert Webhook(secret).verify(ping.body, ping.headers)["type"] == "webhook.test"
    rotated = run(path, "rotate", "1", "--overlap", "1h")
    assert rotated.exit_code == 0 and rotated.output.splitlines()[-1] != secret
    assert run(path, "disable", "1", "--reason", "maintenance").exit_code == 0
    assert "disabled" in run(path, "list").output
    assert run(path, "enable", "1").exit_code == 0
    assert run(path, "remove", "1").exit_code == 0
    assert len(run(path, "list").output.splitlines()) == 1


async def _in_thread(fn, *args):
    import asyncio

    return await asyncio.to_thread(fn, *args)


def test_hostile_values_get_one_clear_message_and_exit_3(tmp_path):
    path = config(tmp_path)
    plain = run(path, "add", "Partenaire", "http://partner.example.org/h")
    assert plain.exit_code == 3
    assert plain.output.strip() == ("Error: URL: Only https:// addresses are accepted (plain "
                                    "http:// only to this machine: 127.0.0.1, ::1, localhost).")
    bad = run(path, "add", "Partenaire", "not a url", env=FRENCH)
    assert bad.exit_code == 3 and bad.output.startswith("Erreur : URL :")
    huge = run(path, "add", "x" * 5000, "https://partner.example.org/h")
    assert huge.exit_code == 3 and "NAME: Text too long" in huge.output
    assert "Traceback" not in huge.output + bad.output + plain.output
    missing = run(path, "rotate", "42")
    assert missing.exit_code == 3 and "Webhook not found" in missing.output
    assert len(run(path, "list").output.splitlines()) == 1  # nothing was written


def test_an_incident_opened_from_the_command_line_has_the_endpoints_rows(tmp_path):
    """`vigie run` is not running: the command writes the rows, the service delivers
    them later."""
    from sqlalchemy import select

    from monitor.incidents.models import OutboxEntry
    from monitor.store import Store

    path = config(tmp_path)
    assert run(path, "add", "Partenaire", "https://partner.example.org/h").exit_code == 0
    assert run(path, "add", "Autre", "https://partner.example.org/g", "--event",
               "incident.resolved").exit_code == 0
    opened = CliRunner().invoke(root, ["-c", str(path), "incident", "open", "Lenteurs",
                                       "--service", "mail", "--message", "On regarde"],
                                env=ENGLISH)
    assert opened.exit_code == 0, opened.output
    from monitor.config_loader import load_with_plugins

    store = Store(load_with_plugins(path)[2].database_url)
    with store.session() as s:
        plugins = sorted(s.scalars(select(OutboxEntry.plugin)))
    store.dispose()
    assert "webhook-1" in plugins and "webhook-2" not in plugins
