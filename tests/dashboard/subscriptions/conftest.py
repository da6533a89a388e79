"""Fixtures of the subscription page tests: the seeded status page with ``mail:`` set
(subscriptions offered), the core's real service on a private copy of the seeded
database, the Flask app and its client, and readers of what the service wrote."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from dashboard import _load_config, create_app
from monitor.incidents.models import OutboxEntry
from monitor.store import Store
from monitor.subscriptions.jobs import MemberMailJob
from monitor.subscriptions.models import Subscriber
from monitor.subscriptions.service import Subscriptions
from tests.dashboard import seed

#: mail set (no server needed: the pages only queue the mails)
MAIL = """
mail: {host: 127.0.0.1, port: 2525, security: none, from_address: "etat@example.coop"}
"""


@dataclass
class Site:
    """The app, its service, store and data folder."""

    app: object
    service: Subscriptions
    store: Store
    clock: object

    def client(self):
        """A test client (French unless asked otherwise)."""
        return self.app.test_client()

    def subscriber(self, email: str = "alice@example.org") -> Subscriber | None:
        """The row of an address, or None."""
        with self.store.session() as s:
            return s.scalars(select(Subscriber)
                             .where(Subscriber.email_key == email.lower())).first()

    def jobs(self) -> list[MemberMailJob]:
        """The member mails queued, oldest first."""
        with self.store.session() as s:
            rows = s.scalars(select(OutboxEntry).order_by(OutboxEntry.id))
            return [MemberMailJob.from_json(r.payload) for r in rows
                    if r.hook == "vigie_member_mail"]

    def confirm_token(self) -> str:
        """The confirmation link's secret of the newest confirmation mail queued."""
        token = self.jobs()[-1].token
        assert token is not None
        return token


def make_site(template: Path, folder: Path, clock, extra: str = MAIL,
              test_config: dict | None = None) -> Site:
    """The seeded page with ``extra`` added to its configuration (default: mail set) on a
    private copy of the seeded database ``template``."""
    url = f"sqlite:///{folder / 'vigie.sqlite'}"
    shutil.copyfile(template, folder / "vigie.sqlite")
    path = seed.write_config(folder, url)
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    config = _load_config(path)
    store = Store(url)
    store.upgrade()  # the subscription tables
    service = Subscriptions(config, store, clock=clock)
    app = create_app(config, {"TESTING": True, "CLOCK": clock, **(test_config or {})},
                     store=store, subscriptions=service)
    return Site(app, service, store, clock)


@pytest.fixture
def site(seeded_template, tmp_path, clock):
    """Subscriptions offered, default settings."""
    made = make_site(seeded_template[1], tmp_path, clock)
    yield made
    made.store.dispose()


@pytest.fixture
def site_with(seeded_template, tmp_path, clock):
    """``site_with(extra)``: a site whose configuration ends with ``extra``."""
    made: list[Site] = []

    def build(extra: str) -> Site:
        folder = tmp_path / f"site{len(made)}"
        folder.mkdir()
        made.append(make_site(seeded_template[1], folder, clock, extra))
        return made[-1]

    yield build
    for s in made:
        s.store.dispose()
