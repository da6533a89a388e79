"""The demo guide set (``plugins/demo/guides``) fits the demo's services."""

from __future__ import annotations

from pathlib import Path

import plugins.demo
from docs_bridge.matcher import GuideMatcher, ServiceInfo
from docs_bridge.ranking import GuideIndex
from docs_bridge.settings import GuidesSettings
from docs_bridge.sources.markdown import MarkdownReader
from tests.docs_bridge.helpers import make_event

DEMO_GUIDES = Path(plugins.demo.__file__).parent / "guides"


async def test_each_demo_service_outage_finds_its_demo_guide():
    guides = await MarkdownReader("demo", DEMO_GUIDES, "/guides/demo").fetch()
    assert len(guides) >= 4 and all(g.title for g in guides)
    index = GuideIndex(guides)
    matcher = GuideMatcher(GuidesSettings.model_validate(
        {"sources": [{"type": "markdown", "path": str(DEMO_GUIDES)}]}),
        [ServiceInfo("sites-web", "Hébergement web", ("http",)),
         ServiceInfo("nextcloud", "Nextcloud (fichiers et agendas)", ("http",)),
         ServiceInfo("messagerie", "Messagerie", ("smtp", "tcp"))])
    cases = {
        "nextcloud-maintenance": make_event(checks=[("nextcloud", "status", "http",
                                                     "maintenance vaut true au lieu de false",
                                                     "maintenance is true instead of false")]),
        "hebergement-site-inaccessible": make_event(
            services=[("sites-web", "Hébergement web")],
            checks=[("sites-web", "accueil", "http", "Le serveur a répondu 500",
                     "The server answered 500")], title="Hébergement web en panne"),
        "messagerie-envoi-reception": make_event(
            services=[("messagerie", "Messagerie")],
            checks=[("messagerie", "smtp", "smtp", "Le serveur SMTP ne répond pas",
                     "The SMTP server does not answer")], title="Messagerie en panne"),
    }
    for expected, event in cases.items():
        found = matcher.match(index, event)
        assert found and found[0].slug == expected, (expected, [g.slug for g in found])
        assert found[0].url == f"/guides/demo/{expected}"
