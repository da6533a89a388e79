"""Fixtures of the member-mail tests: a real SMTP server on 127.0.0.1 (aiosmtpd) keeping
every message it accepts, and a Vigie in one process around it: a migrated store, the
subscriptions service, the ``member-mail`` plugin registered as ``vigie run`` registers
it, the incident engine, the maintenance ticker, the volunteers' operations and an outbox
worker, all on clocks the test moves."""

from __future__ import annotations

import asyncio
import secrets
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from monitor.incidents.context import IncidentContext
from monitor.incidents.models import OutboxEntry
from monitor.incidents.outbox import OutboxWorker
from monitor.membermail import plugin as member_mail
from monitor.membermail.models import MemberMailRow
from monitor.membermail.pace import SendRate
from monitor.plugins import build_plugin_manager
from monitor.store import Store
from monitor.subscriptions.models import Subscriber as SubscriberRow
from monitor.subscriptions.service import Subscriptions
from tests.conftest import free_port
from tests.monitor.test_incidents import Clock, Harness, Subscriber, make_config

SERVICES = """\
groups:
  - {id: hosting, name: {fr: Hébergement, en: Hosting}}
incidents: {quiet_period: 5m, cooldown: 30m, reminder_every: 2h}
services:
  - id: web
    name: {fr: Hébergement web, en: Web hosting}
    group: hosting
    checks:
      - {id: http, kind: fake, confirm: 1}
  - id: mail
    name: {fr: Courriel, en: Mail}
    checks:
      - {id: smtp, kind: fake, confirm: 1}
  - id: cloud
    name: Nextcloud
    checks:
      - {id: status, kind: fake, confirm: 1}
"""
SITE = "https://etat.example.coop"
SENDER = "etat@example.coop"


class Mailbox:
    """An SMTP server's handler keeping every message it accepts (parsed), with scripted
    answers: ``rcpt[address]`` and ``data`` are lists of answers given in turn before
    accepting."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        #: (connection, recipient) of each message accepted
        self.deliveries: list[tuple[int, str]] = []
        self.rcpt: dict[str, list[str]] = {}
        self.data: list[str] = []
        self.changed = threading.Condition()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        script = self.rcpt.get(address)
        if script:
            return script.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data:
            return self.data.pop(0)
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        with self.changed:
            for to in envelope.rcpt_tos:
                self.messages.append(message)
                self.deliveries.append((id(session), to))
            self.changed.notify_all()
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        """The messages accepted for ``address``, in order."""
        return [m for m, (_, to) in zip(self.messages, self.deliveries, strict=True)
                if to == address]

    def connections(self) -> int:
        return len({conn for conn, _ in self.deliveries})


@pytest.fixture
def smtp():
    """A started SMTP server: ``(port, mailbox)``."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, mailbox
    controller.stop()


class Monotonic:
    """A monotonic clock moved by the sends' waits (the send rate sleeps on it)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Vigie:
    """Everything of a running Vigie the member mails go through."""

    h: Harness
    subscriptions: Subscriptions
    plugin: member_mail.MemberMail
    worker: OutboxWorker
    mailbox: Mailbox
    clock: Clock
    monotonic: Monotonic
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        return self.h.store

    def subscribe(self, email: str, language: str = "fr", *, everything: bool = False,
                  services=(), groups=(), state: str = "confirmed") -> int:
        """A subscriber written directly (as the kill test and the bench do); its id."""
        with self.store.session() as s, s.begin():
            row = SubscriberRow(
                email=email, email_key=email.lower(), language=language,
                everything=everything, services=list(services), groups=list(groups),
                state=state, manage_token=secrets.token_urlsafe(32), requests=1,
                created_at=self.clock.now, confirmed_at=self.clock.now,
                updated_at=self.clock.now, failures=0)
            s.add(row)
            s.flush()
            self.ids[email] = row.id
            return row.id

    def subscriber(self, email: str) -> SubscriberRow:
        with self.store.session() as s:
            return s.scalars(select(SubscriberRow).where(SubscriberRow.email == email)).one()

    async def deliver(self, rounds: int = 200) -> None:
        """Deliver every entry due now, round after round, until none is left due."""
        async with asyncio.timeout(60):  # only stops a hung test
            for _ in range(rounds):
                if not await self.worker.run_once():
                    return
        raise AssertionError("the outbox kept delivering")

    def rows(self, hook: str | None = None) -> list[OutboxEntry]:
        with self.store.session() as s:
            query = select(OutboxEntry).order_by(OutboxEntry.id)
            if hook is not None:
                query = query.where(OutboxEntry.hook == hook)
            return list(s.scalars(query))

    def ledger(self) -> list[MemberMailRow]:
        with self.store.session() as s:
            return list(s.scalars(select(MemberMailRow).order_by(MemberMailRow.id)))

    def pending(self) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(OutboxEntry)
                            .where(OutboxEntry.status == "pending")) or 0


def build_vigie(store_url: str, tmp_path: Path, port: int, mailbox: Mailbox, *,
                extra: str = "", rate: float = 1000.0, **overrides) -> Vigie:
    config = make_config(tmp_path, f"""\
site: {{public_url: "{SITE}", timezone: Europe/Paris}}
mail: {{host: 127.0.0.1, port: {port}, security: none, from_address: "{SENDER}",
        from_name: "État des services"}}
{extra}""", base=SERVICES)
    store = Store(store_url)
    store.upgrade()
    store.sync_catalog(config)
    clock = Clock()
    monotonic = Monotonic()
    subscriptions = Subscriptions(config, store, clock=clock)
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("volunteers",
                                                                      Subscriber())])
    ctx = IncidentContext.build(config, pm, clock=clock)
    values = dict(clock=clock, monotonic=monotonic,
                  rate=SendRate(rate, clock=monotonic, sleep=monotonic.sleep))
    values.update(overrides)
    plugin = member_mail.build(config, store, subscriptions, **values)
    assert plugin is not None
    member_mail.register(pm, ctx, plugin, subscriptions.settings)
    worker = OutboxWorker(store.session, pm, write_sessions=store.write_session, clock=clock,
                          initial_backoff=1.0, max_backoff=2.0)
    return Vigie(Harness(store, config, ctx, clock), subscriptions, plugin, worker, mailbox,
                 clock, monotonic)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def vigie(store_url, tmp_path, smtp):
    """A Vigie on SQLite and on PostgreSQL, mailing the local SMTP server."""
    port, mailbox = smtp
    v = build_vigie(store_url, tmp_path, port, mailbox)
    yield v
    v.plugin.mailer.close()
    v.store.dispose()


@pytest.fixture
def sqlite_vigie(tmp_path, smtp):
    """The same on SQLite only."""
    port, mailbox = smtp
    v = build_vigie(f"sqlite:///{tmp_path / 'vigie.sqlite'}", tmp_path, port, mailbox)
    yield v
    v.plugin.mailer.close()
    v.store.dispose()
