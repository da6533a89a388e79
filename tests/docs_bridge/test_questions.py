"""Guides proposed to a member who asks for help: the guides matcher on the member's words,
the service they chose and its group, over the realistic French guide set."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from docs_bridge.guides_plugin import GuidesPlugin
from docs_bridge.questions import EXCERPT
from docs_bridge.settings import GuidesSettings
from monitor.assistance.request import AssistanceQuery
from monitor.config import LocalizedText, Service

GUIDES = Path(__file__).parent / "guides"
NEXTCLOUD = ("nextcloud", "Nextcloud (fichiers et agendas)", "outils")
SITES = ("sites-web", "Hébergement web", "hebergement")
MAIL = ("messagerie", "Messagerie", "outils")


def service(service_id: str, name: str, group: str | None) -> Service:
    return Service(service_id, LocalizedText(fr=name), group, None, ())


SERVICES = [service(*NEXTCLOUD), service(*SITES), service(*MAIL),
            service("bases-de-donnees", "Bases de données", "hebergement"),
            service("espace-membre", "Espace membre", None)]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> GuidesPlugin:
    return asyncio.run(configured(tmp_path_factory.mktemp("data")))


async def configured(data_dir: Path, **settings) -> GuidesPlugin:
    plugin = GuidesPlugin()
    plugin.configure(GuidesSettings.model_validate(
        {"sources": [{"type": "markdown", "path": str(GUIDES),
                      "base_url": "https://doc.exemple.coop"}], **settings}),
        services=SERVICES, data_dir=data_dir, base_dir=GUIDES)
    async with aiohttp.ClientSession() as session:
        assert await plugin.library.refresh(session)
    return plugin


def ask(text: str, about: tuple | None = None, group: str | None = "same") -> AssistanceQuery:
    if about is None:
        return AssistanceQuery(category="account", service_id=None, service_name="Mon compte",
                               group=None, text=text)
    service_id, name, own_group = about
    return AssistanceQuery(category=service_id, service_id=service_id, service_name=name,
                           group=own_group if group == "same" else group, text=text)


def slugs(plugin: GuidesPlugin, question: AssistanceQuery) -> list[str]:
    found = plugin.vigie_assistance_suggestions(question) or []
    return [s.url.removeprefix("https://doc.exemple.coop/") for s in found]


def test_the_members_words_pick_the_services_guides(plugin):
    found = slugs(plugin, ask("Mes fichiers ne se synchronisent plus depuis ce matin",
                              NEXTCLOUD))
    assert {"nextcloud/client-synchronisation", "nextcloud/conflits-synchronisation"} <= set(found)
    assert all(s.startswith("nextcloud/") for s in found), found
    assert len(found) <= 3  # guides.limit
    assert slugs(plugin, ask("Mes courriels ne partent plus, boîte pleine ?", MAIL))[:2] == [
        "messagerie/courriels-ne-partent-pas", "messagerie/boite-pleine-quota"]


def test_without_a_service_every_guide_is_considered(plugin):
    assert slugs(plugin, ask("J'ai oublié mon mot de passe")) == [
        "espace-membre/mot-de-passe-oublie"]
    assert slugs(plugin, ask("Comment payer ma cotisation ?")) == ["espace-membre/cotisation"]


def test_the_group_brings_its_other_services_guides_and_only_those(plugin):
    question = "Impossible de me connecter à la base MySQL depuis mon site"
    # the databases are in the web hosting's group: their guide answers first
    found = slugs(plugin, ask(question, SITES))
    assert found[0] == "bases-de-donnees/connexion-base-impossible"
    # a service outside any group: guides about other services never come
    alone = slugs(plugin, ask(question, SITES, group=None))
    assert not any(s.startswith("bases-de-donnees/") for s in alone), alone
    # the databases are in another group than Nextcloud: never proposed for it
    assert not any(s.startswith("bases-de-donnees/") for s in slugs(plugin, ask(question,
                                                                               NEXTCLOUD)))
    # mail is in Nextcloud's group: its guides may answer
    assert "messagerie/ne-recois-plus-courriels" in slugs(
        plugin, ask("Je ne reçois plus mes courriels sur mon téléphone", NEXTCLOUD))


def test_each_suggestion_is_a_guide_with_one_line_of_its_text(plugin):
    [first, *_] = plugin.vigie_assistance_suggestions(ask("J'ai oublié mon mot de passe"))
    assert (first.kind, first.url) == ("guide", "https://doc.exemple.coop/espace-membre/"
                                                "mot-de-passe-oublie")
    assert first.title and not first.excerpt.startswith(first.title)
    assert 20 < len(first.excerpt) <= EXCERPT and "\n" not in first.excerpt
    assert not first.opened


async def test_words_that_reach_nothing_give_the_services_configured_guides(plugin, tmp_path):
    assert plugin.vigie_assistance_suggestions(ask("Bonjour, ça ne marche pas", NEXTCLOUD)) \
        is None
    assert plugin.vigie_assistance_suggestions(ask("Bonjour, ça ne marche pas")) is None
    mapped = await configured(tmp_path, services={
        "nextcloud": {"guides": ["nextcloud/maintenance", "nextcloud/client-synchronisation"]}})
    assert slugs(mapped, ask("Bonjour, ça ne marche pas", NEXTCLOUD)) == [
        "nextcloud/maintenance", "nextcloud/client-synchronisation"]


def test_before_configuration_there_is_nothing_to_say():
    assert GuidesPlugin().vigie_assistance_suggestions(ask("mot de passe")) is None
