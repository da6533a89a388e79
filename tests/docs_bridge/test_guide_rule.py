"""Regressions of the ranking rule (docs/bridges.md, "Matching"): a service's own guides
first, guides about another service only when the service has none, never more than
``limit``, and an update replaces the incident's guides."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from docs_bridge.guides_plugin import GuidesPlugin
from docs_bridge.library import GuideLibrary
from docs_bridge.matcher import GuideMatcher, ServiceInfo
from docs_bridge.ranking import GuideIndex
from docs_bridge.settings import BookStackSource, GuidesSettings
from docs_bridge.sources.bookstack import BookStackReader
from docs_bridge.sources.markdown import MarkdownReader
from monitor.config_loader import load_config
from monitor.incidents.context import IncidentContext
from monitor.incidents.emit import incident_links
from monitor.incidents.engine import IncidentEngine, StatusChange
from monitor.incidents.models import Incident
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from monitor.probe import ProbeResult, Status, reason
from monitor.state import ServiceTransition, StateBook
from monitor.store import Store
from plugins.demo.democonfig import GUIDES_DIR
from tests.docs_bridge.fake_docs import GUIDES, TOKEN_ID, TOKEN_SECRET, FakeBookStack
from tests.docs_bridge.helpers import make_event

NEXTCLOUD_500 = ("Nextcloud a une erreur interne (status.php répond 500 sans contenu ; voir "
                 "nextcloud.log)")

SERVICES = [
    ServiceInfo("nextcloud", "Nextcloud (fichiers et agendas)", ("nextcloud",)),
    ServiceInfo("sites-web", "Hébergement web", ("http", "php_fpm")),
    ServiceInfo("espace-membre", "Espace membre", ("http",)),
    ServiceInfo("messagerie", "Messagerie", ("imap", "smtp")),
    ServiceInfo("bases-de-donnees", "Bases de données", ("mysql", "postgresql")),
    ServiceInfo("forum", "Forum d'entraide", ("http",)),
]


def settings(folder: Path = GUIDES, **extra) -> GuidesSettings:
    return GuidesSettings.model_validate(
        {"sources": [{"type": "markdown", "path": str(folder)}], **extra})


@pytest.fixture(scope="module")
def bookstack_index():
    """The test guide set as BookStack serves it: each page tagged ``service=<book>``."""

    async def fetch():
        fake = FakeBookStack()
        server = TestServer(fake.app(), host="127.0.0.1")
        await server.start_server()
        fake.url = str(server.make_url("")).rstrip("/")
        try:
            source = BookStackSource(type="bookstack", id="doc", url=fake.url,
                                     token_id=TOKEN_ID, token_secret=TOKEN_SECRET)
            library = GuideLibrary([BookStackReader(source)], services=SERVICES)
            async with aiohttp.ClientSession() as http:
                assert await library.refresh(http)
            return library.index
        finally:
            await server.close()

    return asyncio.run(fetch())


@pytest.fixture(scope="module")
def demo_index() -> GuideIndex:
    return GuideIndex(asyncio.run(MarkdownReader("demo", GUIDES_DIR, "/guides/demo").fetch()))


def front_matter_services(slug: str) -> set[str]:
    text = (GUIDES_DIR / f"{slug}.md").read_text(encoding="utf-8")
    return set(yaml.safe_load(text.split("---\n")[1]).get("services", ()))


def nextcloud_event(impact: str, why: str):
    return make_event(impact=impact, checks=[("nextcloud", "status", "nextcloud", why, why)],
                      title=f"Nextcloud (fichiers et agendas) : {impact}")


def test_a_nextcloud_outage_gets_its_tagged_pages_not_the_hosting_error_500(bookstack_index):
    event = nextcloud_event("major_outage", NEXTCLOUD_500)
    found = GuideMatcher(settings(), SERVICES).match(bookstack_index, event)
    assert found, "Nextcloud has tagged pages"
    # every guide is a page tagged service=nextcloud (docs/bridges.md: tagged pages first)
    assert [g.has_tag("service=nextcloud") for g in found] == [True] * len(found), \
        [g.title for g in found]


@pytest.mark.parametrize("why", [
    "Nextcloud attend la mise à jour de sa base de données (occ upgrade)",
    "WebDAV refuse le compte de test vigie (mot de passe d'application faux ou révoqué)",
    "Réponse lente : 4,2 s (seuil 2 s)",
])
def test_a_degraded_nextcloud_never_gets_closing_an_account(bookstack_index, demo_index, why):
    # "Fermer son compte" (member panel) talks of Nextcloud files, agendas, synchronisation
    event = nextcloud_event("degraded", why)
    for index, folder in ((bookstack_index, GUIDES), (demo_index, GUIDES_DIR)):
        titles = [g.title for g in GuideMatcher(settings(folder), SERVICES).match(index, event)]
        assert titles and "Fermer son compte" not in titles, titles


def test_a_forum_outage_without_mapping_gets_no_guide_of_another_service(demo_index):
    event = make_event(services=[("forum", "Forum d'entraide")],
                       checks=[("forum", "web", "http",
                                "Le serveur a répondu 502 au lieu de 200-399", "502")],
                       title="Forum d'entraide : panne majeure")
    found = GuideMatcher(settings(GUIDES_DIR), SERVICES).match(demo_index, event)
    others = [g.slug for g in found if front_matter_services(g.slug) - {"forum"}]
    assert others == []


def test_guides_of_another_service_only_when_the_service_has_none(bookstack_index):
    # the forum has no page of its own: a page whose title names it may come, then
    m = GuideMatcher(settings(), SERVICES)
    forum = make_event(services=[("forum", "Forum d'entraide")],
                       checks=[("forum", "web", "http", "Le serveur a répondu 502", "502")],
                       title="Forum d'entraide : panne majeure")
    assert [g.slug for g in m.match(bookstack_index, forum)] == ["utiliser-forum"]
    # …but not when it is below the threshold
    strict = GuideMatcher(settings(min_score=1000), SERVICES)
    assert strict.match(bookstack_index, forum) == []


def test_never_more_than_limit_whatever_the_mapping(bookstack_index):
    every_page = [g.id for g in bookstack_index.guides]
    m = GuideMatcher(settings(limit=2, services={"nextcloud": {"guides": every_page}}),
                     SERVICES)
    assert len(m.match(bookstack_index, nextcloud_event("major_outage", NEXTCLOUD_500))) == 2


CONFIG = """\
incidents: {{quiet_period: 5m}}
services:
  - id: nextcloud
    name: Nextcloud (fichiers et agendas)
    checks:
      - {{id: status, kind: nextcloud, url: "https://cloud.exemple.coop", confirm: 1}}
guides:
  limit: 2
  sources: [{{type: markdown, id: demo, path: "{guides}"}}]
"""


def test_an_update_replaces_the_incident_guides_never_more_than_limit(tmp_path):
    plugin = GuidesPlugin()
    pm = build_plugin_manager(extra_plugins=[("guides-test", plugin)], blocked=["guides"])
    path = tmp_path / "vigie.yaml"
    path.write_text(CONFIG.format(guides=GUIDES_DIR), encoding="utf-8")
    config = load_config(path, ProbeRegistry.from_plugin_manager(pm), config_sections(pm))
    library = plugin.configure(config.sections["guides"], services=config.services,
                               data_dir=tmp_path, base_dir=tmp_path)
    assert asyncio.run(library.refresh(None))
    store = Store(f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    store.upgrade()
    store.sync_catalog(config)
    now = {"t": 1_780_000_000.0}
    engine = IncidentEngine(store.session, IncidentContext.build(config, pm,
                                                                 clock=lambda: now["t"]))
    state = StateBook(config.services)

    def result(status: Status, why: str) -> list[str]:
        now["t"] += 60
        for t in state.apply("nextcloud/status", ProbeResult(
                status, reason("test", why, why), started_at=now["t"])):
            if isinstance(t, ServiceTransition):
                engine.on_change(StatusChange.from_transition(t))
        with store.session() as session:
            incident_id = session.scalars(select(Incident.id)).one()
            return [link.url.rsplit("/", 1)[-1] for link in incident_links(session, incident_id)
                    if link.kind == "guide"]

    try:
        down = result(Status.DOWN, NEXTCLOUD_500)
        assert down[0] == "nextcloud-inaccessible" and len(down) <= 2
        slow = result(Status.DEGRADED, "Réponse lente : 4,2 s (seuil 2 s)")
        assert slow[0] == "nextcloud-lent" and len(slow) <= 2
        again = result(Status.DOWN, NEXTCLOUD_500)
        assert again == down
    finally:
        store.dispose()
