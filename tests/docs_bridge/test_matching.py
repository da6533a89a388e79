"""Guide matching over the realistic French guide set shipped as test data."""

from __future__ import annotations

from pathlib import Path

import pytest

from docs_bridge.matcher import GuideMatcher, ServiceInfo
from docs_bridge.ranking import GuideIndex
from docs_bridge.settings import GuidesSettings
from docs_bridge.sources.markdown import MarkdownReader
from docs_bridge.text import fold, stem, terms
from tests.docs_bridge.helpers import make_event

GUIDES = Path(__file__).parent / "guides"

SERVICES = [
    ServiceInfo("nextcloud", "Nextcloud (fichiers et agendas)", ("nextcloud", "http")),
    ServiceInfo("bases-de-donnees", "Bases de données", ("mysql", "postgresql")),
    ServiceInfo("messagerie", "Messagerie", ("imap", "smtp")),
    ServiceInfo("sites-web", "Hébergement web", ("http", "php_fpm")),
    ServiceInfo("calcul", "Calcul scientifique", ("tcp",)),
]


@pytest.fixture(scope="module")
def index() -> GuideIndex:
    import asyncio

    guides = asyncio.run(MarkdownReader("g", GUIDES, "https://doc.exemple.coop").fetch())
    return GuideIndex(guides)


def matcher(**settings) -> GuideMatcher:
    return GuideMatcher(GuidesSettings.model_validate(
        {"sources": [{"type": "markdown", "path": str(GUIDES)}], **settings}), SERVICES)


def slugs(guides) -> list[str]:
    return [g.slug for g in guides]


def test_the_guide_set_is_large_and_french(index):
    assert len(index) >= 30
    titles = " ".join(g.title for g in index.guides)
    for word in ("Nextcloud", "MySQL", "phpMyAdmin", "PostgreSQL", "IMAP", "SMTP", "Sympa",
                 "DNS", "certificat", "espace membre", "sauvegardes"):
        assert fold(word) in fold(titles), word


def test_normalisation_meets_accents_plurals_and_verb_forms():
    assert terms("Données") == terms("donnees") == terms("DONNÉE")
    assert stem("synchroniser") == stem("synchronisation")
    assert terms("les courriels") == ["courriel"]
    assert "de" not in terms("base de données")
    assert fold("Œuvre Élève") == "oeuvre eleve"


def test_words_are_stemmed_by_snowball_french_after_folding():
    import Stemmer

    french = Stemmer.Stemmer("french")
    for word in ("hebergement", "sauvegardes", "parametres", "expiration"):
        assert stem(word) == french.stemWord(word)
    # folded first, so a word typed without its accents gets the same stem
    assert terms("réception") == terms("reception") == ["recept"]


def test_nextcloud_maintenance_links_the_maintenance_guide_and_nothing_else(index):
    event = make_event(title="Nextcloud en maintenance")
    found = slugs(matcher().match(index, event))
    assert found[0] == "nextcloud/maintenance"
    assert 1 <= len(found) <= 3
    assert all(s.startswith("nextcloud/") for s in found), found


def test_database_outage_links_the_connection_guide_first(index):
    event = make_event(services=[("bases-de-donnees", "Bases de données")],
                       checks=[("bases-de-donnees", "mysql", "mysql",
                                "Connexion au serveur MySQL impossible : Can't connect to "
                                "MySQL server on 'mysql.exemple.coop'",
                                "Cannot connect to the MySQL server")],
                       title="Bases de données MySQL indisponibles")
    found = slugs(matcher().match(index, event))
    assert found[0] == "bases-de-donnees/connexion-base-impossible"
    assert all(s.startswith("bases-de-donnees/") for s in found), found
    # WordPress needs a database too, but it is not what helps during a database outage
    assert "hebergement/installer-wordpress" not in found


def test_mail_outage_links_mail_settings_and_sending_guides(index):
    event = make_event(services=[("messagerie", "Messagerie")],
                       checks=[("messagerie", "imap", "imap",
                                "Le serveur IMAP ne répond pas (délai dépassé)",
                                "The IMAP server does not answer (timeout)"),
                               ("messagerie", "smtp", "smtp",
                                "Le serveur SMTP a refusé la connexion",
                                "The SMTP server refused the connection")],
                       title="Messagerie en panne")
    found = slugs(matcher().match(index, event))
    assert found[0] == "messagerie/parametres-imap-smtp"
    assert "messagerie/courriels-ne-partent-pas" in found
    assert all(s.startswith("messagerie/") for s in found), found


def test_web_hosting_error_links_the_500_guide(index):
    event = make_event(services=[("sites-web", "Hébergement web")],
                       checks=[("sites-web", "accueil", "http",
                                "Le serveur a répondu 500 au lieu de 200-399",
                                "The server answered 500 instead of 200-399")],
                       title="Hébergement web en panne")
    found = slugs(matcher().match(index, event))
    assert found[0] == "hebergement/erreur-500"
    assert all(s.startswith("hebergement/") for s in found), found


def test_a_service_no_guide_talks_about_gets_no_guide_rather_than_noise(index):
    event = make_event(services=[("calcul", "Calcul scientifique")],
                       checks=[("calcul", "port", "tcp", "Le serveur ne répond pas",
                                "The server does not answer")],
                       title="Calcul scientifique indisponible")
    assert matcher().match(index, event) == []


def test_relative_score_cuts_weak_guides_of_the_service(index):
    event = make_event(checks=[("nextcloud", "status", "nextcloud",
                                "Le client de synchronisation ne se connecte plus", "")])
    everything = slugs(matcher(limit=10, relative_score=0).match(index, event))
    strict = slugs(matcher(limit=10).match(index, event))
    assert strict[0] == everything[0] == "nextcloud/client-synchronisation"
    assert len(strict) < len(everything)


def test_thresholds_cut_weak_guides_of_other_services(index):
    # the forum has no guide of its own: guides that name it, or a general guide naming
    # its check's kind ("site" for http), above the thresholds
    event = make_event(services=[("forum", "Forum d'entraide")],
                       checks=[("forum", "web", "http", "Le serveur a répondu 502", "")],
                       title="Forum d'entraide : panne majeure")
    everything = slugs(matcher(limit=10, min_score=0, relative_score=0).match(index, event))
    strict = slugs(matcher(limit=10).match(index, event))
    assert strict == ["assistance/utiliser-forum"]
    assert "certificats/certificat-lets-encrypt" in everything
    assert matcher(limit=10, min_score=1000).match(index, event) == []


def test_explicit_mapping_comes_first_then_ranked_guides(index):
    m = matcher(services={"nextcloud": {"guides": ["sauvegardes/restaurer-fichiers"],
                                        "tags": []}})
    found = slugs(m.match(index, make_event(title="Nextcloud en maintenance")))
    assert found == ["sauvegardes/restaurer-fichiers", "nextcloud/maintenance"]


def test_explicit_mapping_by_tag_and_id(index):
    m = matcher(limit=5, services={"bases-de-donnees": {
        "guides": ["g:bases-de-donnees/phpmyadmin"], "tags": ["wordpress"]}})
    event = make_event(services=[("bases-de-donnees", "Bases de données")], checks=[],
                       title="Bases de données lentes")
    found = slugs(m.match(index, event))
    assert found[:2] == ["bases-de-donnees/phpmyadmin", "hebergement/installer-wordpress"]


def test_configured_keywords_and_synonyms_reach_guides_the_name_does_not(index):
    event = make_event(services=[("calcul", "Calcul scientifique")], checks=[],
                       title="Calcul scientifique indisponible")
    assert matcher().match(index, event) == []
    with_keywords = matcher(services={"calcul": {"keywords": "sauvegardes"}})
    assert slugs(with_keywords.match(index, event))[0].startswith("sauvegardes/")
    with_synonyms = matcher(synonyms={"calcul": "sauvegardes restauration"})
    assert slugs(with_synonyms.match(index, event))[0].startswith("sauvegardes/")


def test_html_from_a_guide_source_becomes_plain_words():
    from docs_bridge.text import strip_html

    assert strip_html("<p>Pour <strong>configurer</strong></p><ul><li>un</li>"
                      "<li>deux&nbsp;&amp; trois</li></ul>") == "Pour configurer un deux & trois"
    assert strip_html("a<br>b") == "a b"
    # a browser's reading: a '>' inside an attribute, comments and scripts are not text
    assert strip_html('<a href="x>y">lien</a><!-- note --><script>f()</script>') == "lien"
    assert strip_html("x < y &lt;z&gt;") == "x < y <z>"
