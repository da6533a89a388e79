"""The ``guides`` plugin wired as Vigie wires it: entry point, config section, hooks."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from docs_bridge import guides_plugin
from docs_bridge.guide_pages import GuidePages
from docs_bridge.guides_plugin import GuidesPlugin
from docs_bridge.library import GuideLibrary
from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from tests.docs_bridge.helpers import make_event

GUIDES = Path(__file__).parent / "guides"

CONFIG = """\
site:
  public_url: https://etat.exemple.coop/
services:
  - id: nextcloud
    name: Nextcloud (fichiers et agendas)
    checks:
      - id: status
        kind: nextcloud
        url: https://cloud.exemple.coop
guides:
  limit: 2
  refresh: 1h
  sources:
    - type: markdown
      id: guides
      path: guides
  services:
    nextcloud:
      keywords: cloud
"""


def write_config(tmp_path: Path, text: str = CONFIG) -> Path:
    shutil.copytree(GUIDES, tmp_path / "guides")
    path = tmp_path / "vigie.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, plugin: GuidesPlugin):
    pm = build_plugin_manager(extra_plugins=[("guides-test", plugin)], blocked=["guides"])
    return pm, load_config(path, ProbeRegistry.from_plugin_manager(pm), config_sections(pm))


class Runtime(SimpleNamespace):
    """The part of monitor.startup.StartupContext plugins use here."""

    def mount(self, prefix, app):
        self.mounted[prefix] = app


def test_entry_point_registers_the_plugin_object():
    pm = build_plugin_manager()
    assert pm.get_plugin("guides") is guides_plugin.plugin
    assert "guides" in config_sections(pm)


def test_config_errors_name_the_file_line_and_key(tmp_path):
    path = write_config(tmp_path, CONFIG.replace("      path: guides", "      path: guides\n"
                                                 "      colour: blue"))
    with pytest.raises(ConfigError) as error:
        load(path, GuidesPlugin())
    # the key's own line and path (pydantic's union tag 'markdown' is not in the path)
    assert ("vigie.yaml:17: guides.sources[0].colour: unknown key 'colour'"
            in str(error.value))


async def test_startup_serves_links_from_memory_and_mounts_local_guides(tmp_path,
                                                                        monkeypatch):
    refreshed = asyncio.Event()
    read_sources = GuideLibrary.refresh

    async def refresh(self, session):  # the library's own refresh, telling the test
        try:
            return await read_sources(self, session)
        finally:
            refreshed.set()

    monkeypatch.setattr(GuideLibrary, "refresh", refresh)
    plugin = GuidesPlugin()
    pm, config = load(write_config(tmp_path), plugin)
    runtime = Runtime(config=config, mounted={})
    await plugin.vigie_startup(runtime)
    try:
        # the first refresh runs in the background task, then writes the cache
        cache = tmp_path / "data" / "guides-cache.json"
        await asyncio.wait_for(refreshed.wait(), 10)
        assert len(plugin.library.index) and cache.exists()
        results = pm.hook.vigie_incident_links(event=make_event(title="Nextcloud en maintenance"))
        links = [link for result in results if result for link in result]
        assert links[0].title == "Nextcloud est en maintenance : que faire ?"
        assert 1 <= len(links) <= 2  # guides.limit
        assert links[0].url == "https://etat.exemple.coop/guides/guides/nextcloud/maintenance"
        assert isinstance(runtime.mounted["/guides"], GuidePages)
        assert cache.exists()
    finally:
        await plugin.vigie_shutdown(runtime)
    assert plugin._task is None and plugin._session is None


async def test_without_a_guides_section_the_plugin_stays_quiet(tmp_path):
    plugin = GuidesPlugin()
    _, config = load(write_config(tmp_path, CONFIG.split("guides:\n")[0]), plugin)
    await plugin.vigie_startup(Runtime(config=config, mounted={}))
    assert plugin.vigie_incident_links(make_event()) is None
    await plugin.vigie_shutdown(None)


def call_wsgi(app, path: str) -> tuple[str, str]:
    seen = {}

    def start_response(status, headers):
        seen["status"] = status

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET",
                         "wsgi.input": io.BytesIO()}, start_response))
    return seen["status"], body.decode()


def test_guide_pages_render_markdown_and_refuse_escapes(tmp_path):
    app = GuidePages([("guides", GUIDES)])
    status, body = call_wsgi(app, "/guides/nextcloud/maintenance")
    assert status == "200 OK"
    assert "<h1>Nextcloud est en maintenance : que faire ?</h1>" in body
    assert "<li>" in body and 'lang="fr"' in body
    (tmp_path / "secret.md").write_text("# Secret", encoding="utf-8")
    for path in ("/guides/../secret", "/guides/nextcloud/../../secret", "/autre/x", "/guides/"):
        assert call_wsgi(app, path)[0] == "404 Not Found", path
