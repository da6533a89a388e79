"""Fixtures of the webhook tests: a local HTTP receiver (aiohttp on 127.0.0.1) that
verifies every request with the ``standardwebhooks`` package, and :class:`Hooks`: the
incident harness, an outbox worker, the webhook system and its operations, wired as
``vigie run`` wires them (the subscribers follow the endpoints' plugins)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from monitor.incidents.context import IncidentContext
from monitor.incidents.outbox import DeliveryStats, OutboxWorker
from monitor.plugins import build_plugin_manager, hookimpl
from monitor.webhooks.service import NewSecret, WebhookOperations
from monitor.webhooks.system import WebhookSystem
from tests.monitor.test_incidents import Clock, build_harness
from tests.monitor.test_outbox import Outcomes
from tests.peers import Changes


@dataclass
class Received:
    """One request as the receiver read it."""

    headers: dict[str, str]
    body: bytes
    #: the receiver's secrets whose signature is in the request
    verified_with: list[str]
    #: what it answered
    status: int


class SignedReceiver:
    """Answers the statuses of ``script`` in order (then 200), each request checked with
    ``standardwebhooks`` against every secret in :attr:`secrets`; a request no secret
    verifies is answered 401, like a careful receiver."""

    def __init__(self, script=(), retry_after: str | None = None) -> None:
        self.script = list(script)
        self.retry_after = retry_after
        self.secrets: list[str] = []
        self.requests: list[Received] = []
        self.url = ""
        self.changes = Changes()

    @property
    def verified(self) -> list[Received]:
        """The requests some secret verified and that were answered 2xx."""
        return [r for r in self.requests if r.verified_with and r.status == 200]

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = dict(request.headers)
        verified = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(raw, headers)
            except WebhookVerificationError:
                continue
            verified.append(secret)
        status = self.script.pop(0) if self.script else 200
        if not verified:
            status = 401
        self.requests.append(Received({k.lower(): v for k, v in headers.items()}, raw,
                                      verified, status))
        self.changes.note()
        extra = {"Retry-After": self.retry_after} if self.retry_after and status != 200 else {}
        if 300 <= status < 400:
            extra["Location"] = "/elsewhere"
        return web.Response(status=status, headers=extra, text="ok" if status == 200 else "no")


@pytest.fixture
async def signed_receiver():
    runners = []

    async def start(**kwargs) -> SignedReceiver:
        receiver = SignedReceiver(**kwargs)
        app = web.Application()
        app.router.add_post("/hooks/vigie", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        receiver.url = f"http://127.0.0.1:{port}/hooks/vigie"
        runners.append(runner)
        return receiver

    yield start
    for runner in runners:
        await runner.cleanup()


class Volunteers:
    """The volunteers' alert plugin: notes each system alert delivered."""

    def __init__(self) -> None:
        self.alerts: list = []

    @hookimpl
    def vigie_system_alert(self, alert):
        self.alerts.append(alert)


@dataclass
class Hooks:
    """The incident harness with an outbox worker and the webhook system."""

    harness: object
    pm: object
    ctx: IncidentContext
    worker: OutboxWorker
    system: WebhookSystem
    ops: WebhookOperations
    volunteers: Volunteers
    added: list[str] = field(default_factory=list)

    def add_endpoint(self, url: str, **kwargs) -> NewSecret:
        with self.harness.store.write_session() as s, s.begin():
            return self.ops.add_endpoint(s, name=kwargs.pop("name", "Partenaire"), url=url,
                                         **kwargs)

    def change(self, fn):
        with self.harness.store.write_session() as s, s.begin():
            return fn(s)

    async def sync(self) -> None:
        assert await self.system.sync_once()

    async def close(self) -> None:
        await self.system.sender.aclose()
        self.harness.store.dispose()


def build_hooks(store_url: str, tmp_path, extra: str = "") -> Hooks:
    """:class:`Hooks` on a migrated store; the worker's clock is a hand-moved
    :class:`Clock` (``drain`` moves it past each backoff)."""
    h = build_harness(store_url, tmp_path, extra)
    volunteers = Volunteers()
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("volunteers", volunteers)])
    ctx = IncidentContext.build(h.config, pm, clock=h.clock)
    h.ctx = h.engine.ctx = h.ticker.ctx = h.ops.ctx = ctx
    worker = OutboxWorker(h.store.session, pm, initial_backoff=0.01, max_backoff=0.05,
                          clock=Clock(time.time()), stats=DeliveryStats(deliveries=Outcomes()),
                          write_sessions=h.store.write_session)

    def add(plugin, name):
        pm.register(plugin, name=name)
        ctx.refresh_subscribers()
        worker.wake()

    def remove(name):
        found = pm.get_plugin(name)
        if found is not None:
            pm.unregister(found)
            ctx.refresh_subscribers()
        return found

    system = WebhookSystem(h.config, h.store, ctx, add_plugin=add, remove_plugin=remove,
                           wake=worker.wake)
    return Hooks(h, pm, ctx, worker, system, WebhookOperations(system.settings), volunteers)


@pytest.fixture
async def hooks(tmp_path):
    made = build_hooks(f"sqlite:///{tmp_path / 'vigie.sqlite'}", tmp_path)
    yield made
    await made.close()
