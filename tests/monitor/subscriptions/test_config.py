"""The ``subscriptions:`` section: its defaults when absent (on, 48 h links, 7 days before
an unconfirmed address goes, 5 sign-ups an hour per address and 20 per client, a reminder
a day before maintenance, 10 mails a second, batches of 200), read with durations, and
refused with file, line and key when wrong."""

from __future__ import annotations

import pytest

from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from monitor.subscriptions.settings import SubscriptionSettings, settings_of


def load(tmp_path, text: str):
    path = tmp_path / "vigie.yaml"
    path.write_text(text)
    pm = build_plugin_manager(load_entry_points=False)
    return load_config(path, ProbeRegistry.from_plugin_manager(pm), config_sections(pm))


def test_absent_the_section_is_its_defaults(tmp_path):
    settings = settings_of(load(tmp_path, "services: []\n"))
    assert isinstance(settings, SubscriptionSettings)
    assert (settings.enabled, settings.confirm_within, settings.forget_unconfirmed_after) == (
        True, 48 * 3600, 7 * 86400)
    assert (settings.per_address_per_hour, settings.per_client_per_hour) == (5, 20)
    assert (settings.maintenance_reminder, settings.send_rate, settings.batch_size) == (
        86400, 10.0, 200)


def test_the_section_is_read(tmp_path):
    settings = settings_of(load(tmp_path, """\
subscriptions:
  confirm_within: 24h
  forget_unconfirmed_after: 3d
  per_address_per_hour: 2
  per_client_per_hour: 50
  maintenance_reminder: off
  send_rate: 2.5
  batch_size: 50
services: []
"""))
    assert (settings.confirm_within, settings.forget_unconfirmed_after) == (86400, 3 * 86400)
    assert settings.maintenance_reminder is None
    assert (settings.send_rate, settings.batch_size, settings.per_client_per_hour) == (
        2.5, 50, 50)


@pytest.mark.parametrize(("body", "line", "key"), [
    ("subscriptions:\n  confirm_within: 5min\n", 2, "subscriptions.confirm_within"),
    ("subscriptions:\n  confirm_with: 2d\n", 2, "subscriptions.confirm_with"),
    ("subscriptions:\n  enabled: true\n  batch_size: 0\n", 3, "subscriptions.batch_size"),
    ("subscriptions:\n  send_rate: 0\n", 2, "subscriptions.send_rate"),
    ("subscriptions:\n  confirm_within: 1m\n", 2, "subscriptions.confirm_within"),
])
def test_a_wrong_key_is_refused_with_file_line_and_key(tmp_path, body, line, key):
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, body + "services: []\n")
    text = str(refused.value)
    assert f"vigie.yaml:{line}: {key}" in text, text
