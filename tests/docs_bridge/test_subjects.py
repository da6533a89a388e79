"""What each guide is about (docs_bridge.subjects): read from the site, never guessed."""

from __future__ import annotations

from docs_bridge.guides import Guide
from docs_bridge.matcher import GuideMatcher, ServiceInfo
from docs_bridge.ranking import GuideIndex
from docs_bridge.settings import GuidesSettings
from tests.docs_bridge.helpers import make_event

SERVICES = [ServiceInfo("nextcloud", "Nextcloud (fichiers et agendas)"),
            ServiceInfo("sites-web", "Hébergement web"),
            ServiceInfo("bases-de-donnees", "Bases de données"),
            ServiceInfo("espace-membre", "Espace membre")]


def guide(slug: str, **fields) -> Guide:
    return Guide(f"doc:{slug}", "doc", slug, f"https://doc.exemple.coop/{slug}", slug=slug,
                 **fields)


def about(*guides: Guide, **settings) -> dict[str, set[str]]:
    matcher = GuideMatcher(GuidesSettings.model_validate(
        {"sources": [{"type": "markdown", "path": "."}], **settings}), SERVICES)
    index = GuideIndex(guides)
    subjects = matcher.subjects(index, make_event())
    return {g.slug: set(subjects.of(g)) for g in guides}


def test_declared_services_win_and_an_unknown_one_is_still_another_service():
    assert about(guide("a", services=("Nextcloud",), sections=("hebergement",)),
                 guide("b", services=("compta",))) == {"a": {"nextcloud"}, "b": {"compta"}}


def test_a_place_belongs_to_the_service_whose_words_it_uses():
    assert about(guide("a", sections=("hebergement",)),
                 guide("b", sections=("Bases de données",)),
                 guide("c", sections=("bases",)),
                 guide("d", sections=("espace",)),
                 guide("e", sections=("assistance",)),
                 guide("f", sections=("docs", "nextcloud")),
                 guide("g")) == {
        "a": {"sites-web"}, "b": {"bases-de-donnees"}, "c": {"bases-de-donnees"},
        "d": {"espace-membre"}, "e": set(), "f": {"nextcloud"}, "g": set()}


def test_the_configuration_maps_guides_and_names_places_with_keywords():
    found = about(guide("a"), guide("b", tags=("cloud-incident",)),
                  guide("c", sections=("fichiers-partages",)),
                  services={"nextcloud": {"guides": ["doc:a"], "tags": ["cloud-incident"],
                                          "keywords": "partages"}})
    assert found == {"a": {"nextcloud"}, "b": {"nextcloud"}, "c": {"nextcloud"}}
