"""The ``assistance:`` and ``mail:`` sections: validated as strictly as the others (file,
line and key in errors), their defaults when absent, never claimed by a plugin."""

from __future__ import annotations

import pytest

from monitor.assistance.service import settings_of
from monitor.assistance.settings import AssistanceSettings
from monitor.config_loader import ConfigError, load_config
from monitor.mailer import MailSettings, mail_settings
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections, hookimpl


def load(tmp_path, text: str, pm=None):
    path = tmp_path / "vigie.yaml"
    path.write_text(text)
    pm = pm or build_plugin_manager(load_entry_points=False)
    return load_config(path, ProbeRegistry.from_plugin_manager(pm), config_sections(pm))


def test_absent_sections_are_their_defaults(tmp_path):
    config = load(tmp_path, "services: []\n")
    assert isinstance(config.sections["assistance"], AssistanceSettings)
    assert not settings_of(config).enabled and not mail_settings(config).enabled


def test_the_sections_are_read(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    config = load(tmp_path, f"""\
assistance:
  enabled: true
  desk: tickets
  retention: 7d
  limits: {{per_address: 10}}
  categories: [{{id: account, label: {{fr: Mon compte, en: My account}}}}]
mail:
  host: relay.example.coop
  username: vigie
  password_file: {secret}
  from_address: support@example.coop
services: []
""")
    settings = settings_of(config)
    assert settings.enabled and settings.retention == 7 * 86400
    assert settings.limits.per_address == 10
    mail = mail_settings(config)
    assert mail.password.get_secret_value() == "s3cret" and mail.effective_port == 587


def test_errors_name_the_line_and_the_key(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, """\
services: []
assistance:
  enabled: true
  retension: 7d
mail:
  host: relay.example.coop
""")
    path = tmp_path / "vigie.yaml"
    assert str(caught.value).splitlines() == [
        f"{path}:4: assistance.retension: unknown key 'retension' (did you mean 'retention'?)",
        f"{path}:5: mail: from_address is required when host is set"]


def test_a_plugin_cannot_claim_a_core_section(tmp_path):
    class Claims:
        @hookimpl
        def vigie_register_config_sections(self):
            return {"mail": MailSettings}

    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("claims", Claims())])
    with pytest.raises(ValueError, match="shadow core sections: \\['mail'\\]"):
        load(tmp_path, "services: []\n", pm)
