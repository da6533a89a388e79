"""Fixtures of the admin tests: the dashboard on a temporary SQLite store seeded with the
public tests' realistic data (tests/dashboard/seed.py) at the real current time, a
volunteer account, a signed-in test client, and a plugin that records the incident events
(so the tests see what an incident opened by hand sends to the plugins)."""

from __future__ import annotations

import re
import shutil
import time

import pytest
from argon2 import PasswordHasher

from dashboard import _load_config, create_app
from dashboard.admin import accounts
from dashboard.admin.passwords import Passwords
from monitor.plugins import build_plugin_manager, hookimpl
from monitor.store import Store
from tests.dashboard import seed

PASSWORD = "correct horse battery staple"


class Recorder:
    """A plugin subscribed to the incident events (delivered later by the outbox)."""

    @hookimpl
    def vigie_incident_opened(self, event):
        """Subscribed: one outbox row per incident opened."""

    @hookimpl
    def vigie_incident_updated(self, event):
        """Subscribed: one outbox row per update."""

    @hookimpl
    def vigie_incident_resolved(self, event):
        """Subscribed: one outbox row per resolution."""


def quick_hasher() -> PasswordHasher:
    """Cheaper argon2 parameters, so each login takes milliseconds (the default ones are
    checked in test_accounts.py): each test app is given its own (``PASSWORD_HASHER``)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


#: how the tests hash the passwords of the accounts they create themselves
QUICK = Passwords(quick_hasher())


@pytest.fixture(scope="session")
def admin_config(tmp_path_factory):
    """The seed's configuration, loaded once (its store URL is not used: each test has
    its own database)."""
    folder = tmp_path_factory.mktemp("admin-config")
    return _load_config(seed.write_config(folder, f"sqlite:///{folder / 'unused.sqlite'}"))


@pytest.fixture(scope="session")
def seeded_template(admin_config, tmp_path_factory):
    """A migrated and seeded SQLite file, made once and copied for each test."""
    path = tmp_path_factory.mktemp("admin-db") / "template.sqlite"
    store = seed.prepare_store(f"sqlite:///{path}")
    ids = seed.seed_all(store, admin_config, now=time.time(), result_hours=0)
    store.dispose()
    return path, ids


@pytest.fixture
def admin_seeded(admin_config, seeded_template, tmp_path):
    """``(config, store, ids)``: a copy of the seeded store (times around the real now)."""
    template, ids = seeded_template
    target = tmp_path / "vigie.sqlite"
    shutil.copyfile(template, target)
    store = Store(f"sqlite:///{target}")
    yield admin_config, store, ids
    store.dispose()


@pytest.fixture
def admin_app(admin_seeded):
    """The dashboard app (admin area included) on the seeded store."""
    config, store, _ = admin_seeded
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("recorder", Recorder())])
    return create_app(config, {"TESTING": True, "PLUGIN_MANAGER": pm,
                               "PASSWORD_HASHER": quick_hasher()}, store=store)


@pytest.fixture
def store(admin_seeded):
    """The seeded store."""
    return admin_seeded[1]


@pytest.fixture
def seeded_ids(admin_seeded):
    """Ids of the seeded open incident, resolved incident and notice."""
    open_incident, resolved_incident, notice = admin_seeded[2]
    return {"open": open_incident, "resolved": resolved_incident, "notice": notice}


@pytest.fixture
def volunteer(store):
    """The user ``camille`` with :data:`PASSWORD`."""
    with store.session() as session, session.begin():
        accounts.create_user(session, "camille", PASSWORD, passwords=QUICK)
    return "camille"


@pytest.fixture
def token(store, volunteer) -> str:
    """A valid API token of ``camille`` (an administrator: the first account)."""
    from dashboard.admin import tokens

    with store.session() as session, session.begin():
        return tokens.create_token(session, "camille", "tests").secret


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


class AdminClient:
    """A test client signed in as a volunteer, posting forms with their CSRF token."""

    def __init__(self, client) -> None:
        self.client = client

    def get(self, path: str, **kwargs):
        """GET ``path``."""
        return self.client.get(path, **kwargs)

    def token(self, path: str = "/admin/") -> str:
        """A CSRF token taken from a page, as a browser would."""
        response = self.client.get(path)
        assert response.status_code == 200, response.status_code
        return csrf_of(response.get_data(as_text=True))

    def post(self, path: str, data: dict | None = None, **kwargs):
        """POST a form with the CSRF token of the session."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.token())
        return self.client.post(path, data=data, **kwargs)


def login(client, username: str = "camille", password: str = PASSWORD, **extra):
    """Post the login form (with the CSRF token from the login page)."""
    token = csrf_of(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"username": username, "password": password,
                                              "csrf_token": token, **extra})


@pytest.fixture
def admin(admin_app, volunteer):
    """A test client signed in as ``camille``."""
    client = admin_app.test_client()
    response = login(client)
    assert response.status_code == 303, response.get_data(as_text=True)
    return AdminClient(client)
