"""Fixtures of the assistance page tests: the seeded status page (an open incident on
mail) with ``assistance:`` enabled, the core's real service with a real test plugin
registered for suggestions, the Flask app and its client."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from dashboard import _load_config, create_app
from monitor.assistance.service import AssistanceService
from monitor.plugins import build_plugin_manager
from monitor.store import Store
from tests.dashboard import seed
from tests.dashboard.assistance.helpers import ASSISTANCE, GuidesPlugin


@dataclass
class Site:
    """The app, its service, store, test plugin and data folder."""

    app: object
    service: AssistanceService
    store: Store
    plugin: GuidesPlugin
    data_dir: Path

    def client(self):
        """A test client (French)."""
        return self.app.test_client()

    def counts(self) -> dict:
        """The outcomes counted so far."""
        return dict(self.service.counts)


def make_site(template: Path, folder: Path, clock, extra: str = "",
              test_config: dict | None = None) -> Site:
    """The seeded page with assistance enabled (``extra``: more of the section, indented
    two spaces) on a private copy of the seeded database ``template``."""
    url = f"sqlite:///{folder / 'vigie.sqlite'}"
    shutil.copyfile(template, folder / "vigie.sqlite")
    path = seed.write_config(folder, url)
    path.write_text(path.read_text(encoding="utf-8") + ASSISTANCE.format(extra=extra),
                    encoding="utf-8")
    config = _load_config(path)
    store = Store(url)
    store.upgrade()  # the assistance tables
    plugin = GuidesPlugin()
    pm = build_plugin_manager(extra_plugins=[("test-guides", plugin)],
                              load_entry_points=False)
    service = AssistanceService(config, store, plugins=pm, clock=clock)
    app = create_app(config, {"TESTING": True, "CLOCK": clock, **(test_config or {})},
                     store=store, assistance=service)
    return Site(app, service, store, plugin, config.data_dir)


@pytest.fixture
def site(seeded_template, tmp_path, clock):
    """The default site (no proof of work, default limits)."""
    made = make_site(seeded_template[1], tmp_path, clock)
    yield made
    made.service.close()
    made.store.dispose()


@pytest.fixture
def site_with(seeded_template, tmp_path, clock):
    """``site_with(extra)``: a site whose ``assistance:`` section has ``extra`` too."""
    made: list[Site] = []

    def build(extra: str) -> Site:
        folder = tmp_path / f"site{len(made)}"
        folder.mkdir()
        made.append(make_site(seeded_template[1], folder, clock, extra))
        return made[-1]

    yield build
    for s in made:
        s.service.close()
        s.store.dispose()
