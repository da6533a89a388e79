"""The ``tickets`` plugin wired as Vigie wires it: entry point, ``helpdesk:`` section,
start-up, journal on disk."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from tests.docs_bridge.helpers import deliver, make_event
from tests.tickets_bridge.fake_desks import ZAMMAD_TOKEN
from tickets_bridge import plugin as tickets_module
from tickets_bridge.journal import Journal, Ticket
from tickets_bridge.plugin import TicketsPlugin
from tickets_bridge.zammad import ZammadAdapter

CONFIG = """\
services:
  - id: nextcloud
    name: Nextcloud
    checks:
      - {id: status, kind: nextcloud, url: "https://cloud.exemple.coop"}
helpdesk:
  min_impact: partial_outage
  desk:
    type: zammad
    url: URL
    token_file: TOKEN_FILE
    group: Users
    customer: vigie@exemple.coop
"""


def config_text(url: str, token_file) -> str:
    return CONFIG.replace("URL", url).replace("TOKEN_FILE", str(token_file))


def load(tmp_path, text: str, plugin: TicketsPlugin):
    path = tmp_path / "vigie.yaml"
    path.write_text(text, encoding="utf-8")
    pm = build_plugin_manager(extra_plugins=[("tickets-test", plugin)], blocked=["tickets"])
    return load_config(path, ProbeRegistry.from_plugin_manager(pm), config_sections(pm))


def test_entry_point_registers_the_plugin_object():
    pm = build_plugin_manager()
    assert pm.get_plugin("tickets") is tickets_module.plugin
    assert "helpdesk" in config_sections(pm)


def test_config_reads_the_token_from_a_file_and_refuses_mistakes(tmp_path):
    token = tmp_path / "zammad-token"
    token.write_text(ZAMMAD_TOKEN + "\n", encoding="utf-8")
    text = config_text("https://support.exemple.coop", token)
    config = load(tmp_path, text, TicketsPlugin())
    desk = config.sections["helpdesk"].desk
    assert desk.token.get_secret_value() == ZAMMAD_TOKEN
    assert ZAMMAD_TOKEN not in repr(config.sections["helpdesk"])

    with pytest.raises(ConfigError) as error:
        load(tmp_path, text.replace("type: zammad", "type: rt"), TicketsPlugin())
    assert "helpdesk.desk" in str(error.value) and "rt" in str(error.value)
    with pytest.raises(ConfigError) as error:
        load(tmp_path, text.replace("customer: vigie@exemple.coop", "customer: nobody"),
             TicketsPlugin())
    assert "customer" in str(error.value)


async def test_startup_builds_the_desk_and_keeps_the_journal_in_the_data_dir(tmp_path, zammad):
    token = tmp_path / "zammad-token"
    token.write_text(ZAMMAD_TOKEN, encoding="utf-8")
    plugin = TicketsPlugin()
    config = load(tmp_path, config_text(zammad.url, token), plugin)
    runtime = SimpleNamespace(config=config)
    await plugin.vigie_startup(runtime)
    try:
        assert isinstance(plugin.desk, ZammadAdapter)
        delivery = await deliver(plugin.vigie_incident_opened, make_event())
        assert delivery.outcome == "ok" and len(zammad.tickets) == 1
    finally:
        await plugin.vigie_shutdown(runtime)
    journal = Journal(tmp_path / "data" / "tickets-journal.json")
    assert journal.ticket("INC-2026-0042").number == "31001"
    assert journal.done("create:INC-2026-0042")


async def test_a_ticket_the_core_lost_is_given_again_not_created_again(zammad, http):
    from tests.tickets_bridge.test_zammad import plugin_for

    plugin = plugin_for(zammad, http)
    plugin.journal.record_ticket("INC-2026-0042", Ticket("9", "31009", f"{zammad.url}/#ticket/zoom/9"))
    delivery = await deliver(plugin.vigie_incident_opened, make_event())
    assert delivery.result[0].external_id == "9" and not zammad.tickets


def test_journal_persists_and_forgets_old_entries(tmp_path):
    path = tmp_path / "journal.json"
    journal = Journal(path, keep=3600)
    journal.begin("k1")
    journal.record_ticket("INC-1", Ticket("1", "31001", "https://x"))
    journal._write('{"tickets": {"INC-1": {"id": "1", "number": "31001", "url": "https://x", '
                   '"at": 1}}, "keys": {"k1": {"state": "pending", "at": 9999999999}}}')
    reread = Journal(path, keep=3600)
    assert reread.pending("k1") and reread.ticket("INC-1") is None  # too old, forgotten
