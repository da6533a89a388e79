"""Fixtures of the assistance tests: a configuration with services and ``assistance:``
enabled, a migrated store (SQLite file, or a fresh PostgreSQL schema), the service with a
hand-moved clock, drafts and screenshot files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from monitor.assistance.request import Screenshot
from monitor.assistance.service import AssistanceService, Draft
from monitor.store import Store
from tests.monitor.test_incidents import CONFIG, Clock, make_config

ASSISTANCE = """\
site: {public_url: "https://etat.example.coop", timezone: Europe/Paris}
assistance:
  enabled: true
  desk: desk
"""
MAIL = """\
mail: {host: 127.0.0.1, port: 2525, security: none, from_address: "support@example.coop"}
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


@dataclass
class Setup:
    """A configuration, its store and the service."""

    config: object
    store: Store
    clock: Clock
    service: AssistanceService
    woken: list

    def draft(self, token: str = "tok-1", **changes) -> Draft:
        values = dict(token=token, language="fr", category="web", title="Mon site est lent",
                      description="Depuis ce matin, la page met 30 s à s'afficher.",
                      name="Alice Martin", email="alice@example.org", member_id="m-42",
                      user_agent="Mozilla/5.0 (Android 14)", client_address="203.0.113.7")
        values.update(changes)
        return Draft(**values)

    def screenshot(self, name: str = "capture.png", color: str = "red") -> Screenshot:
        """A file in the incoming folder, as the upload code leaves it (the core never
        decodes it: that is the upload code's work)."""
        data = b"\x89PNG\r\n\x1a\n" + f"{name}:{color}".encode() * 50
        path = self.service.incoming_dir() / f"up-{color}-{abs(hash(name))}.png"
        path.write_bytes(data)
        return Screenshot(name, str(path), "image/png", len(data),
                          hashlib.sha256(data).hexdigest())


def build(store_url: str, tmp_path: Path, extra: str = "") -> Setup:
    config = make_config(tmp_path, ASSISTANCE + extra, base=CONFIG)
    store = Store(store_url)
    store.upgrade()
    store.sync_catalog(config)
    clock = Clock()
    woken: list = []
    service = AssistanceService(config, store, clock=clock,
                                on_written=lambda: woken.append(True))
    return Setup(config, store, clock, service, woken)


@pytest.fixture
def setup(store_url, tmp_path):
    s = build(store_url, tmp_path)
    yield s
    s.service.close()
    s.store.dispose()


@pytest.fixture
def sqlite_setup(tmp_path):
    s = build(f"sqlite:///{tmp_path / 'vigie.sqlite'}", tmp_path)
    yield s
    s.service.close()
    s.store.dispose()
