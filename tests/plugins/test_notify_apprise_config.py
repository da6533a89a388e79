"""The ``notifications:`` section: strict validation with file, line and key."""

from __future__ import annotations

import logging
import textwrap

import pytest

from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from plugins.notify_apprise.notifier import Notifier
from plugins.notify_apprise.settings import NotifierSettings

HEAD = """\
groups:
  - id: databases
    name: Bases de données
services:
  - id: mysql
    name: MySQL
    group: databases
    checks:
      - {id: port, kind: tcp, host: 127.0.0.1, port: 3306}
"""


@pytest.fixture(scope="module")
def loader():
    """``load(text)`` → Config, with the built-in plugins' kinds and sections."""
    pm = build_plugin_manager()
    registry = ProbeRegistry.from_plugin_manager(pm)
    sections = config_sections(pm)

    def load(tmp_path, notifications: str):
        path = tmp_path / "vigie.yaml"
        path.write_text(HEAD + textwrap.dedent(notifications), encoding="utf-8")
        return load_config(path, registry, sections)

    return load


def errors(loader, tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        loader(tmp_path, text)
    return str(caught.value)


def test_a_valid_section_is_loaded_with_its_defaults(loader, tmp_path, monkeypatch):
    monkeypatch.setenv("DBA_MAIL_PASSWORD", "p4ss")
    (tmp_path / "matrix-url").write_text("matrixs://vigie:syt_secret@matrix.example.org/#alertes\n")
    config = loader(tmp_path, """\
        notifications:
          urls:
            - url: mailto://vigie:${DBA_MAIL_PASSWORD}@smtp.example.org?to=dba@example.org
              tags: [dba]
            - url_file: matrix-token-url
              tags: [all]
          routes:
            - {groups: [databases], severities: [critical, warning], tags: [dba]}
          languages: [fr, en]
          storm: {window: 3m}
        """.replace("matrix-token-url", str(tmp_path / "matrix-url")))

    settings = config.sections["notifications"]
    assert isinstance(settings, NotifierSettings)
    assert "p4ss" in settings.urls[0].url.get_secret_value()
    assert "p4ss" not in repr(settings)
    assert "syt_secret" in settings.urls[1].url.get_secret_value()
    assert settings.storm.window == 180 and settings.storm.threshold == 3
    assert settings.storm.hold == 20  # the default docs/alerts.md gives (issue 13: <= 30 s)
    assert settings.timeout == 15 and settings.default_tags == ["all"]
    assert settings.events[0] == "incident.opened" and len(settings.events) == 9
    assert "maintenance.cancelled" in settings.events  # volunteers hear of a cancellation


def test_unknown_keys_are_refused_with_file_line_and_key(loader, tmp_path):
    text = errors(loader, tmp_path, """\
        notifications:
          urls:
            - url: json://127.0.0.1:8000/alerts
              tag: [dba]
          storms: {window: 2m}
        """)
    path = tmp_path / "vigie.yaml"
    assert f"{path}:13: notifications.urls[0].tag: unknown key 'tag' (did you mean 'tags'?)" \
        in text
    assert f"{path}:14: notifications.storms: unknown key 'storms' (did you mean 'storm'?)" \
        in text


def test_invalid_routes_are_refused(loader, tmp_path):
    text = errors(loader, tmp_path, """\
        notifications:
          urls:
            - {url: "json://127.0.0.1:8000/dba", tags: [dba]}
          routes:
            - {groups: [databases], severities: [urgent], tags: [dba]}
            - {events: [incident.open], tags: [dba]}
            - {services: [mysql]}
            - {groups: [databases], tags: [DBA team]}
        """)
    path = tmp_path / "vigie.yaml"
    assert f"{path}:14: notifications.routes[0].severities[0]: expected 'critical', " \
           "'warning', 'info' or 'success', got 'urgent'" in text
    assert f"{path}:15: notifications.routes[1].events[0]: expected 'incident.opened'" in text
    assert f"{path}:16: notifications.routes[2].tags: required key is missing" in text
    assert f"{path}:17: notifications.routes[3].tags: invalid tag 'DBA team'" in text


def test_a_route_to_a_tag_no_receiver_has_is_refused(loader, tmp_path):
    text = errors(loader, tmp_path, """\
        notifications:
          urls:
            - {url: "json://127.0.0.1:8000/dba", tags: [dba]}
          routes:
            - {groups: [databases], tags: [dab]}
        """)
    assert (f"{tmp_path / 'vigie.yaml'}:13: notifications.routes: the rule routes[0] names "
            "the tag 'dab', which no receiver has (tags in use: dba)") in text


def test_a_bad_apprise_url_is_refused_without_echoing_it(loader, tmp_path):
    text = errors(loader, tmp_path, """\
        notifications:
          urls:
            - url: mailt://vigie:Tr3sS3cret@smtp.example.org
        """)
    assert (f"{tmp_path / 'vigie.yaml'}:12: notifications.urls[0].url: not a usable Apprise "
            "URL (scheme 'mailt')") in text
    assert "Tr3sS3cret" not in text


def test_a_section_without_receivers_is_refused(loader, tmp_path):
    text = errors(loader, tmp_path, """\
        notifications:
          languages: [fr, en]
        """)
    assert (f"{tmp_path / 'vigie.yaml'}:10: notifications: give at least one receiver: "
            "'urls' (a list of Apprise URLs) or 'config_file'") in text


def test_languages_and_storm_settings_are_checked(loader, tmp_path):
    text = errors(loader, tmp_path, """\
        notifications:
          config_file: apprise.yml
          languages: [fr, fr]
          storm: {threshold: 1, window: soon}
        """)
    path = tmp_path / "vigie.yaml"
    assert f"{path}:12: notifications.languages: a language is listed twice" in text
    assert f"{path}:13: notifications.storm.threshold: must be at least 2, got 1" in text
    assert f"{path}:13: notifications.storm.window: invalid duration 'soon'" in text


def test_a_hold_longer_than_the_window_is_refused(loader, tmp_path):
    text = errors(loader, tmp_path, """\
        notifications:
          config_file: apprise.yml
          storm: {window: 1m, hold: 90s}
        """)
    assert (f"{tmp_path / 'vigie.yaml'}:12: notifications.storm.hold: must not be longer "
            "than window (1m), got 1m30s") in text


def test_routes_naming_unknown_services_or_groups_are_reported_at_start(loader, tmp_path,
                                                                         caplog):
    config = loader(tmp_path, """\
        notifications:
          urls:
            - {url: "json://127.0.0.1:8000/dba", tags: [dba]}
          routes:
            - {groups: [database], services: [mysql, pgsql], tags: [dba]}
        """)

    with caplog.at_level(logging.WARNING, logger="plugins.notify_apprise.notifier"):
        Notifier.from_config(config.sections["notifications"], config)

    assert [r.getMessage() for r in caplog.records] == [
        "notifier: notifications.routes[0].services: unknown service 'pgsql'",
        "notifier: notifications.routes[0].groups: unknown group 'database'",
    ]
