"""Fixtures of the dashboard tests: an app on a temporary SQLite store seeded with
realistic data (tests/dashboard/seed.py), its test client, and a movable clock."""

from __future__ import annotations

import shutil

import pytest

from dashboard import _load_config, create_app
from monitor.store import Store
from tests.dashboard import seed


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    """Time frozen at :data:`tests.dashboard.seed.NOW`."""
    return Clock(seed.NOW)


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory):
    """The configuration and a seeded SQLite file, made once for the session."""
    folder = tmp_path_factory.mktemp("dashboard-seed")
    url = f"sqlite:///{folder / 'vigie.sqlite'}"
    config = _load_config(seed.write_config(folder, url))
    store = seed.prepare_store(url)
    ids = seed.seed_all(store, config)
    store.dispose()
    return config, folder / "vigie.sqlite", ids


@pytest.fixture
def seeded(seeded_template, tmp_path):
    """``(config, store, seeded ids)`` on a private copy of the seeded database."""
    config, template, ids = seeded_template
    copy = tmp_path / "vigie.sqlite"
    shutil.copyfile(template, copy)
    store = Store(f"sqlite:///{copy}")
    yield config, store, ids
    store.dispose()


@pytest.fixture
def app(seeded, clock):
    """The dashboard app on the seeded store, at the seed's "now"."""
    config, store, _ = seeded
    return create_app(config, {"TESTING": True, "CLOCK": clock}, store=store)


@pytest.fixture
def client(app):
    """A Flask test client (French unless a test asks otherwise)."""
    return app.test_client()


@pytest.fixture
def ids(seeded):
    """Ids of the seeded open incident, resolved incident and notice."""
    open_incident, resolved_incident, notice = seeded[2]
    return {"open": open_incident, "resolved": resolved_incident, "notice": notice}


def refreshed(app, client, path: str = "/") -> None:
    """Ask ``path`` (which wakes the snapshot's refresh when its database check is due)
    and wait until the refresh is done, so the next request sees its outcome."""
    client.get(path)
    assert app.extensions["vigie"].cache.wait_idle(60), "the refresh never ended"
