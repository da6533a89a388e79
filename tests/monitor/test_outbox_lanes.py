"""Side effects never wait on each other (issue 12, point 3): inside ``vigie run``, the
volunteers' alert goes out while the forum and the helpdesk do not answer.

Everything is real but the forum and the desk: the runtime, its scheduler, state book,
incident engine and outbox worker, the real ``forum``, ``tickets`` and ``apprise`` plugins.
Discourse and Zammad are the local stand-ins of the bridges' tests (their documented API
shapes), told to record each request and then not answer until released; Apprise posts to
a local ``json://`` receiver. No wall-clock bound is asserted: the alert must arrive
*while* the forum and desk calls are still hanging (the latency itself is measured by
``bench/alert_latency.py``).
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from docs_bridge.forum_plugin import ForumPlugin
from monitor.config_loader import load_config
from monitor.incidents.models import OutboxEntry
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections, hookimpl
from monitor.probe import Probe, ProbeConfig, ProbeResult, reason
from monitor.runtime import Runtime
from plugins import notify_apprise
from tests.conftest import free_port
from tests.docs_bridge.fake_discourse import API_KEY, API_USER, FakeDiscourse
from tests.monitor.test_incidents_runtime import Services
from tests.monitor.test_outbox import Outcomes
from tests.peers import Changes
from tests.plugins.test_notify_apprise import receiver  # noqa: F401 (fixture)
from tests.tickets_bridge.fake_desks import ZAMMAD_TOKEN, FakeZammad
from tickets_bridge.plugin import TicketsPlugin


class Levers:
    """The services whose checks fail (shared by the lever probe)."""

    down: set[str] = set()


class LeverProbe(Probe):
    """Down while its service is in :attr:`Levers.down`."""

    kind = "lever"
    Config = ProbeConfig
    description = "test lever"
    samples = ()

    async def check(self, config, ctx):
        if ctx.check.service_id in Levers.down:
            return ProbeResult.down(reason("lever.down", "Levier baissé", "Lever down"))
        return ProbeResult.up()


class LeverPlugin:
    @hookimpl
    def vigie_register_probes(self):
        return [LeverProbe]


async def serve(fake):
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    return server


@pytest.fixture
async def forum_and_desk():
    """A forum and a desk that record each creation and then do not answer."""
    forum, desk = FakeDiscourse(), FakeZammad()
    forum.hang_after_record = desk.hang_after_record = True
    servers = [await serve(forum), await serve(desk)]
    yield forum, desk
    forum.release.set()
    desk.release.set()
    for server in servers:
        await server.close()


def config_text(port: int, forum: FakeDiscourse, desk: FakeZammad, alerts: str) -> str:
    # the plugins' own timeouts are long: the forum and the desk "never" answer here
    return f"""\
data_dir: data
server: {{listen: '127.0.0.1:{port}'}}
scheduler: {{spread_first_runs: false}}
store: {{flush_interval: 0.1s}}
site: {{public_url: "https://etat.exemple.coop/"}}
incidents: {{quiet_period: 1s}}
services:
  - id: files
    name: {{fr: Fichiers, en: Files}}
    checks:
      - {{id: lever, kind: lever, interval: 1s, retry_interval: 0.2s, confirm: 2}}
  - id: mail
    name: {{fr: Messagerie, en: Mail}}
    checks:
      - {{id: lever, kind: lever, interval: 1s, retry_interval: 0.2s, confirm: 2}}
forum:
  url: {forum.url}
  api_key: {API_KEY}
  api_username: {API_USER}
  category: 7
  related_max: 0
  timeout: 10m
helpdesk:
  desk: {{type: zammad, url: {desk.url}, token: {ZAMMAD_TOKEN}, customer: vigie@exemple.coop,
          timeout: 10m}}
notifications:
  urls: [{{url: "{alerts}"}}]
  storm: {{enabled: false}}
"""


def rows(runtime: Runtime, plugin: str) -> list[OutboxEntry]:
    with runtime.store.session() as s:
        return list(s.scalars(select(OutboxEntry).where(OutboxEntry.plugin == plugin)
                              .order_by(OutboxEntry.id)))


async def test_the_alert_leaves_while_the_forum_and_the_desk_do_not_answer(
        tmp_path, receiver, forum_and_desk, monkeypatch):
    monkeypatch.setattr("monitor.incidents.system.TICK_EVERY", 0.2)
    forum, desk = forum_and_desk
    Levers.down = set()
    port = free_port()
    path = tmp_path / "vigie.yaml"
    path.write_text(config_text(port, forum, desk, receiver.url("volunteers")))
    services = Services()
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("lever", LeverPlugin()), ("forum", ForumPlugin()), ("tickets", TicketsPlugin()),
        ("apprise", notify_apprise.ApprisePlugin()), ("services", services)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(path, registry, config_sections(pm)), pm, registry)
    outcomes = runtime.incidents.stats.deliveries = Outcomes()
    forum.changes = desk.changes = Changes()  # noted at each topic or ticket written
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    alerts = receiver.received["volunteers"]
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await services.changes.wait(lambda: services.status == {
            "files": "operational", "mail": "operational"})

        Levers.down.add("files")
        # a forum topic or a ticket is created on the other side… and no answer comes
        await forum.changes.wait(lambda: forum.topics or desk.tickets, within=30)
        Levers.down.add("mail")
        # the second outage's alert goes out while that call hangs; both calls are made
        await receiver.changes.wait(lambda: any("Messagerie" in a["title"] for a in alerts),
                                    within=30)
        await forum.changes.wait(lambda: forum.topics and desk.tickets, within=30)
        assert not forum.release.is_set() and not desk.release.is_set()
        for plugin in ("forum", "tickets"):
            first = rows(runtime, plugin)[0]
            # still in flight: never answered, not even counted as an attempt yet
            assert (first.status, first.attempts) == ("pending", 0), plugin
        titles = [a["title"] for a in alerts]
        assert "🔴 Fichiers : panne majeure" in titles
        assert "🔴 Messagerie : panne majeure" in titles

        forum.release.set()
        desk.release.set()
        Levers.down.clear()
        # each plugin gets each incident's events in order: opened, then resolved
        await receiver.changes.wait(
            lambda: len([a for a in alerts if a["title"].startswith("✅")]) == 2, within=30)
        await outcomes.changes.wait(
            lambda: all(r.status == "delivered" for p in ("forum", "tickets")
                        for r in rows(runtime, p)) and len(rows(runtime, "forum")) == 4,
            within=30)
        for plugin in ("forum", "tickets", "apprise"):
            by_incident: dict[int, list[str]] = {}
            for r in rows(runtime, plugin):
                by_incident.setdefault(r.incident_id, []).append(r.hook)
            assert all(hooks == ["vigie_incident_opened", "vigie_incident_resolved"]
                       for hooks in by_incident.values()), (plugin, by_incident)
        assert sorted(len(t.posts) for t in forum.topics.values()) == [2, 2]
        assert all(t.state == "closed" for t in desk.tickets.values())
    finally:
        stop.set()
        forum.release.set()
        desk.release.set()
        await asyncio.wait_for(task, 30)


@pytest.mark.parametrize(("yaml", "error"), [
    ("incidents:\n  outbox:\n    plugin_concurrency:\n      forum: 0\n",
     "{f}:4: incidents.outbox.plugin_concurrency.forum: must be at least 1, got 0"),
    ("incidents:\n  outbox: {concurrency: 65}\n",
     "{f}:2: incidents.outbox.concurrency: must be at most 64, got 65"),
    ("incidents: {buffer_limit: 5}\n",
     "{f}:1: incidents.buffer_limit: must be at least 100, got 5"),
])
def test_lane_and_buffer_settings_are_checked_at_load(tmp_path, yaml, error):
    from monitor.config_loader import ConfigError

    path = tmp_path / "vigie.yaml"
    path.write_text(yaml + "services: []\n")
    pm = build_plugin_manager(load_entry_points=False)
    with pytest.raises(ConfigError) as exc:
        load_config(path, ProbeRegistry.from_plugin_manager(pm))
    assert str(exc.value) == error.format(f=path)
