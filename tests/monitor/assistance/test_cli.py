"""``vigie assistance list`` and ``vigie assistance purge`` through click's runner."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from click.testing import CliRunner

from monitor.assistance.service import AssistanceService, Draft
from monitor.cli import command_line
from monitor.plugins import build_plugin_manager
from monitor.store import Store

root = command_line(build_plugin_manager())
ENGLISH = {"LANG": "C.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}


def test_list_and_purge(tmp_path):
    from monitor.config_loader import load_config
    from monitor.plugins import ProbeRegistry

    path = tmp_path / "vigie.yaml"
    path.write_text("assistance: {enabled: true, retention: 1d}\nservices: []\n")
    pm = build_plugin_manager()
    config = load_config(path, ProbeRegistry.from_plugin_manager(pm))
    store = Store(config.database_url)
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    store.upgrade()
    now = [1_000_000.0]  # long ago, then far ahead: the purge (today) keeps the second
    service = AssistanceService(config, store, clock=lambda: now[0])
    draft = Draft(token="t1", language="fr", category="other", title="Aide", description="…",
                  name="Alice", email="alice@example.org", member_id=None, user_agent="UA",
                  client_address="192.0.2.1")
    old = service.submit(draft, [])
    now[0] = 4_000_000_000.0
    new = service.submit(dataclasses.replace(draft, token="t2"), [])
    store.dispose()

    listed = CliRunner().invoke(root, ["-c", str(path), "assistance", "list"], env=ENGLISH)
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split()[:4] == ["REFERENCE", "SENT", "CATEGORY", "STATE"]
    assert lines[1].startswith(new.reference) and lines[2].startswith(old.reference)
    assert "alice@example.org" not in listed.output and "Alice" not in listed.output
    found = CliRunner().invoke(root, ["-c", str(path), "assistance", "list", "--email",
                                      "nobody@example.org"], env=ENGLISH)
    assert len(found.output.splitlines()) == 1  # the header only

    purged = CliRunner().invoke(root, ["-c", str(path), "assistance", "purge"], env=ENGLISH)
    assert purged.exit_code == 0, purged.output
    assert "Requests deleted: 1;" in purged.output
    again = CliRunner().invoke(root, ["-c", str(path), "assistance", "list"], env=ENGLISH)
    assert old.reference not in again.output and new.reference in again.output
