"""Fixtures of the subscriptions tests: a configuration with services in groups and
``mail:`` set, a migrated store (SQLite file, or a fresh PostgreSQL schema), the service
with a hand-moved clock, and readers of what it wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.incidents.models import OutboxEntry
from monitor.store import Store
from monitor.subscriptions.jobs import MemberMailJob
from monitor.subscriptions.models import Subscriber
from monitor.subscriptions.service import Subscriptions
from tests.monitor.test_incidents import Clock, make_config

SERVICES = """\
groups:
  - {id: hosting, name: {fr: Hébergement, en: Hosting}}
  - {id: lists, name: {fr: Listes, en: Lists}}
services:
  - id: web
    name: {fr: Hébergement web, en: Web hosting}
    group: hosting
    checks: [{id: http, kind: fake}]
  - id: db
    name: {fr: Bases de données, en: Databases}
    group: hosting
    checks: [{id: pg, kind: fake}]
  - id: sympa
    name: {fr: Listes de diffusion, en: Mailing lists}
    group: lists
    checks: [{id: http, kind: fake}]
  - id: cloud
    name: Nextcloud
    checks: [{id: status, kind: fake}]
"""
MAIL = """\
site: {public_url: "https://etat.example.coop", timezone: Europe/Paris}
mail: {host: 127.0.0.1, port: 2525, security: none, from_address: "etat@example.coop"}
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


@dataclass
class Setup:
    """A configuration, its store, the clock and the service."""

    config: object
    store: Store
    clock: Clock
    service: Subscriptions
    woken: list

    def ask(self, email: str = "alice@example.org", language: str = "fr", *,
            everything: bool = False, services=("web",), groups=(),
            client: str = "203.0.113.7") -> None:
        self.service.request(email, language, everything=everything, services=services,
                             groups=groups, client_address=client)

    def row(self, email: str = "alice@example.org") -> Subscriber | None:
        with self.store.session() as s:
            return s.scalars(select(Subscriber)
                             .where(Subscriber.email_key == email.lower())).first()

    def outbox(self) -> list[OutboxEntry]:
        with self.store.session() as s:
            return list(s.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))

    def jobs(self) -> list[MemberMailJob]:
        return [MemberMailJob.from_json(e.payload) for e in self.outbox()]

    def last_token(self) -> str:
        token = self.jobs()[-1].token
        assert token
        return token

    def subscribe(self, email: str = "alice@example.org", **choice) -> int:
        """A confirmed subscriber (asked, then confirmed through its link); its id."""
        self.ask(email, **choice)
        view = self.service.confirm(self.last_token())
        assert view is not None
        return view.id


def build(store_url: str, tmp_path: Path, extra: str = MAIL) -> Setup:
    config = make_config(tmp_path, extra, base=SERVICES)
    store = Store(store_url)
    store.upgrade()
    clock = Clock()
    woken: list = []
    service = Subscriptions(config, store, clock=clock, on_written=lambda: woken.append(1))
    return Setup(config, store, clock, service, woken)


@pytest.fixture
def setup(store_url, tmp_path):
    s = build(store_url, tmp_path)
    yield s
    s.store.dispose()


@pytest.fixture
def sqlite_setup(tmp_path):
    s = build(f"sqlite:///{tmp_path / 'vigie.sqlite'}", tmp_path)
    yield s
    s.store.dispose()
