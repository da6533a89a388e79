"""The three bridges behind the real incident engine and outbox worker (SQLite store).

A Nextcloud outage is confirmed by the state book; the engine opens an incident (asking
the guides plugin for links), the outbox delivers to the forum and tickets plugins, and
the links they return are stored on the incident. Recovery resolves it: the forum topic
gets its last reply and the Zammad ticket is closed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from docs_bridge.forum_plugin import ForumPlugin
from docs_bridge.guides_plugin import GuidesPlugin
from monitor.config_loader import load_config
from monitor.incidents.context import IncidentContext
from monitor.incidents.emit import incident_links
from monitor.incidents.engine import IncidentEngine, StatusChange
from monitor.incidents.models import Incident, OutboxEntry
from monitor.incidents.outbox import OutboxWorker
from monitor.plugins import (
    ProbeRegistry,
    build_plugin_manager,
    config_sections,
    hookimpl,
)
from monitor.probe import Probe, ProbeConfig, ProbeResult, Status, reason
from monitor.state import ServiceTransition, StateBook
from monitor.store import Store
from tests.docs_bridge.fake_discourse import API_KEY, API_USER, FakeDiscourse
from tests.tickets_bridge.fake_desks import ZAMMAD_TOKEN, FakeZammad
from tickets_bridge.journal import Journal
from tickets_bridge.plugin import TicketsPlugin, make_desk

GUIDES = Path(__file__).parent / "guides"


class NextcloudLike(Probe):
    """A probe kind for the configuration (results are fed by hand)."""

    kind = "cloudlike"
    Config = ProbeConfig
    description = "test"

    async def check(self, config, ctx):  # pragma: no cover - never run
        return ProbeResult.up()


class Probes:
    @hookimpl
    def vigie_register_probes(self):
        return [NextcloudLike]


CONFIG = f"""\
site: {{public_url: "https://etat.exemple.coop/"}}
incidents: {{quiet_period: 5m}}
services:
  - id: nextcloud
    name: {{fr: "Nextcloud (fichiers et agendas)", en: Nextcloud}}
    checks:
      - {{id: status, kind: cloudlike, confirm: 1}}
guides:
  sources: [{{type: markdown, path: "{GUIDES}", base_url: "https://doc.exemple.coop"}}]
forum:
  url: FORUM
  api_key: {API_KEY}
  api_username: {API_USER}
  category: 7
  close_on_resolve: true
helpdesk:
  desk: {{type: zammad, url: ZAMMAD, token: {ZAMMAD_TOKEN}, customer: vigie@exemple.coop}}
"""


async def serve(fake):
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    return server


@pytest.fixture
async def desks():
    forum, zammad = FakeDiscourse(), FakeZammad()
    servers = [await serve(forum), await serve(zammad)]
    yield forum, zammad
    for server in servers:
        await server.close()


async def test_an_outage_gets_guides_a_topic_and_a_ticket_then_all_are_closed(tmp_path, desks):
    forum, zammad = desks
    guides, forum_plugin, tickets = GuidesPlugin(), ForumPlugin(), TicketsPlugin()
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("probes", Probes()), ("guides", guides), ("forum", forum_plugin), ("tickets", tickets)])
    path = tmp_path / "vigie.yaml"
    path.write_text(CONFIG.replace("FORUM", forum.url).replace("ZAMMAD", zammad.url))
    config = load_config(path, ProbeRegistry.from_plugin_manager(pm), config_sections(pm))

    store = Store(f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    store.upgrade()
    store.sync_catalog(config)
    async with aiohttp.ClientSession() as http:
        library = guides.configure(config.sections["guides"], services=config.services,
                                   data_dir=tmp_path, base_dir=tmp_path)
        assert await library.refresh(http)
        forum_plugin.configure(config.sections["forum"], http)
        helpdesk = config.sections["helpdesk"]
        tickets.configure(helpdesk, make_desk(helpdesk, http), Journal(tmp_path / "j.json"))

        clock = {"now": time.time()}
        ctx = IncidentContext.build(config, pm, clock=lambda: clock["now"])
        engine = IncidentEngine(store.session, ctx)
        state = StateBook(config.services)
        worker = OutboxWorker(store.session, pm, initial_backoff=0.01, max_backoff=0.05,
                              clock=lambda: clock["now"])

        def result(status: Status) -> None:
            why = None if status == Status.UP else reason(
                "nextcloud.maintenance", "Nextcloud est en mode maintenance",
                "Nextcloud is in maintenance mode")
            for t in state.apply("nextcloud/status",
                                 ProbeResult(status, why, started_at=clock["now"])):
                if isinstance(t, ServiceTransition):
                    engine.on_change(StatusChange.from_transition(t))

        async def drain(until) -> None:
            """Deliver round after round until ``until()``; when nothing is due, move the
            clock to the next attempt (a backoff passes without waiting for it)."""
            async with asyncio.timeout(30):  # only stops a hung test
                while not until():
                    if not await worker.run_once():
                        with store.session() as session:
                            next_at = session.scalar(
                                select(func.min(OutboxEntry.next_attempt_at)).where(
                                    OutboxEntry.status == "pending",
                                    OutboxEntry.next_attempt_at > clock["now"]))
                        assert next_at is not None, "nothing left to deliver"
                        clock["now"] = next_at

        result(Status.DOWN)
        await drain(lambda: zammad.tickets and any(t.external_id for t in forum.topics.values()))
        with store.session() as session:
            incident_id = session.scalars(select(Incident.id)).one()
            links = incident_links(session, incident_id)
        kinds = [(link.kind, link.public, link.plugin) for link in links]
        assert kinds[0] == ("guide", True, "guides")
        assert links[0].title == "Nextcloud est en maintenance : que faire ?"
        assert ("forum", True, "forum") in kinds and ("ticket", False, "tickets") in kinds
        [topic] = [t for t in forum.topics.values() if t.external_id]
        assert "Nextcloud est en maintenance : que faire ?" in topic.posts[0]
        [ticket] = zammad.tickets.values()
        assert "https://doc.exemple.coop/nextcloud/maintenance" in ticket.articles[0]["body"]

        clock["now"] += 60
        result(Status.UP)
        clock["now"] += 600
        engine.tick(clock["now"])
        await drain(lambda: ticket.state == "closed" and topic.closed)
        assert len(topic.posts) == 2 and "Résolu le" in topic.posts[1]
        assert len(zammad.tickets) == 1 and len(forum.topics) == 1
    store.dispose()
