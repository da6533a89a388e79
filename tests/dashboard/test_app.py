"""The app factory, the secret key, and the dashboard as a Vigie plugin."""

from __future__ import annotations

import os
import stat

from click.testing import CliRunner

from dashboard import create_app, load_secret_key
from dashboard.settings import DashboardSettings
from tests.dashboard import seed


def test_secret_key_is_generated_once_with_private_permissions(tmp_path):
    key = load_secret_key(DashboardSettings(), tmp_path / "data")
    path = tmp_path / "data" / "secret_key"
    assert len(key) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret_key(DashboardSettings(), tmp_path / "data") == key
    other = tmp_path / "other"
    assert load_secret_key(DashboardSettings(), other) != key


def test_secret_key_from_configuration_or_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    settings = DashboardSettings.model_validate({"secret_key_file": str(secret)})
    assert load_secret_key(settings, tmp_path) == "from-a-file"
    assert not (tmp_path / "secret_key").exists()


def test_create_app_from_a_configuration_path(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'v.sqlite'}"
    path = seed.write_config(tmp_path, url)
    store = seed.prepare_store(url)
    store.dispose()
    monkeypatch.setenv("VIGIE_CONFIG", str(path))
    app = create_app(test_config={"TESTING": True})
    assert app.config["SECRET_KEY"] == "test-secret-key-not-for-production"
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    # nothing stored yet: every service is unknown, and says so in words
    assert 'data-banner="unknown"' in page and "État inconnu" in page
    assert client.get("/healthz").get_json() == {"ok": True}


def test_create_app_on_a_new_embedded_database_migrates_it(tmp_path):
    path = seed.write_config(tmp_path, "null")
    app = create_app(path, {"TESTING": True})
    assert (tmp_path / "data" / "vigie.sqlite").exists()
    assert app.test_client().get("/api/v1/summary.json").status_code == 200


def test_plugin_mounts_the_app_on_the_runtime_store(seeded):
    from dashboard import plugin
    from monitor.startup import StartupContext
    from monitor.state import StateBook

    config, store, _ = seeded
    mounted = []
    ctx = StartupContext(config=config, state=StateBook(config.services), store=store,
                         mount=lambda prefix, app: mounted.append((prefix, app)))
    plugin.vigie_startup(ctx)
    [(prefix, app)] = mounted
    assert prefix == "/"
    assert app.extensions["vigie"].store is store
    assert plugin.vigie_register_config_sections() == {"dashboard": DashboardSettings}


def test_plugin_is_registered_and_its_command_exists():
    from monitor.cli import cli, main  # noqa: F401 (the import is the test)
    from monitor.plugins import build_plugin_manager, plugin_commands

    pm = build_plugin_manager()
    assert pm.get_plugin("dashboard") is not None
    commands = {c.name for _, c in plugin_commands(pm)}
    assert "dashboard" in commands
    from dashboard.plugin import dashboard_command

    result = CliRunner().invoke(dashboard_command, ["--help"])
    assert result.exit_code == 0 and "Vigie's listener" in result.output



def test_an_id_past_the_database_range_is_a_404_on_every_route(app):
    """Every ``<int:…>`` route of the app, admin area included, stops at the largest
    database id: a larger number is answered 404 by the router, never a 500 from the
    database driver."""
    from dashboard import MAX_DATABASE_ID

    id_routes = [r for r in app.url_map.iter_rules()
                 if any(getattr(c, "max", None) == MAX_DATABASE_ID
                        for c in r._converters.values())]
    every_int_route = [r for r in app.url_map.iter_rules() if "<int" in r.rule]
    assert every_int_route and len(id_routes) == len(every_int_route)
    client = app.test_client()
    assert client.get(f"/incidents/{MAX_DATABASE_ID + 1}").status_code == 404
    assert client.get(f"/api/v1/incidents/{MAX_DATABASE_ID + 1}").status_code == 404
