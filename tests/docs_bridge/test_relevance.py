"""The relevance tables: French incidents and the guide each one must get first.

Two guide sets, one rule (docs/bridges.md, "Matching"):

- the project's own guides (``plugins/demo/guides``, with the demo's configuration): a
  precision at 1 of at least 0.9, and never a guide about another service in the top 3;
- a second set written for this test (``guides_tilleuls``: a fictional cooperative, "les
  Tilleuls"; each folder is a book, front-matter tags ``service=<id>`` are the pages'
  tags; pages of one service mention others on purpose), served by the BookStack and the
  MkDocs stand-ins (``fake_docs.py``) and read by the real sources. Its words are not in
  the matcher's vocabulary (checked below): what it gets right comes from the rule, not
  from the synonym table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer

from docs_bridge.library import GuideLibrary
from docs_bridge.matcher import GuideMatcher, ServiceInfo, service_infos
from docs_bridge.ranking import GuideIndex
from docs_bridge.settings import BookStackSource, MkDocsSource
from docs_bridge.sources.bookstack import BookStackReader
from docs_bridge.sources.markdown import MarkdownReader, read_folder
from docs_bridge.sources.mkdocs import MkDocsReader
from docs_bridge.text import terms
from docs_bridge.vocabulary import STATES, SYNONYMS
from monitor.config_loader import load_config
from monitor.incidents.lifecycle import auto_title
from monitor.notifications import CheckSnapshot, IncidentEvent, ServiceSnapshot
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from monitor.words import Bilingual
from plugins.demo.democonfig import DEMO_CONFIG, GUIDES_DIR
from tests.docs_bridge.fake_docs import TOKEN_ID, TOKEN_SECRET, FakeBookStack, FakeMkDocs
from tests.docs_bridge.helpers import T0

TILLEULS = Path(__file__).parent / "guides_tilleuls"

#: the only service the demo configuration lacks that a demo guide is about
DATABASES = ServiceInfo("bases-de-donnees", "Bases de données", ("mysql", "postgresql"))


@dataclass(frozen=True)
class Case:
    """One row: an incident on one check of one service, and the guide it must get first
    (None: no guide at all)."""

    service: str
    check: str
    reason: str
    expected: str | None
    impact: str = "major_outage"


@dataclass(frozen=True)
class Checked:
    """A configured check, as an incident event names it."""

    kind: str
    name: str


def incident(case: Case, names: dict[str, str], checks: dict[str, Checked]) -> IncidentEvent:
    """The event the incident engine writes when ``case.check`` fails."""
    check = checks[f"{case.service}/{case.check}"]
    name = names[case.service]
    title = auto_title(Bilingual(name, name), case.impact)
    return IncidentEvent(
        kind="opened", idempotency_key="k", incident_id=1, reference="INC-2026-0001",
        title_fr=title.fr, title_en=title.say("en"), impact=case.impact, phase="investigating",
        automatic=True, opened_at=T0, at=T0,
        services=(ServiceSnapshot(case.service, name, name, None, case.impact),),
        checks=(CheckSnapshot(case.service, case.check, check.kind, check.name, check.name,
                              "degraded" if case.impact == "degraded" else "down",
                              case.reason, case.reason, T0 - 120),))


def evaluate(matcher: GuideMatcher, index: GuideIndex, cases: list[Case],
             names: dict[str, str], checks: dict[str, Checked],
             about: dict[str, frozenset[str]]) -> tuple[float, list[str], list[str]]:
    """Precision at 1, the table as read by a person, and the rows that show a guide about
    another service in their top 3. ``about``: guide slug → the services the test set says
    it is about (empty: a general guide)."""
    hits, table, unrelated = 0, [], []
    for case in cases:
        found = [g.slug for g in matcher.match(index, incident(case, names, checks))]
        first = found[0] if found else None
        hits += first == case.expected
        table.append(f"{'ok ' if first == case.expected else 'BAD'} {case.service:<16} "
                     f"{case.impact:<14} {case.reason[:48]:<48} → {found}")
        strangers = [s for s in found[:3] if about[s] and case.service not in about[s]]
        if strangers:
            unrelated.append(f"{case.service} « {case.reason} »: {strangers}")
    return hits / len(cases), table, unrelated


def load(path: Path):
    pm = build_plugin_manager()
    return load_config(path, ProbeRegistry.from_plugin_manager(pm), config_sections(pm))


def configured(config) -> tuple[dict[str, str], dict[str, Checked]]:
    names = {s.id: s.name.text("fr") for s in config.services}
    checks = {c.ref.key: Checked(c.ref.kind, c.name.text("fr"))
              for s in config.services for c in s.checks}
    return names, checks


# The project's guide set ----------------------------------------------------------------

DEMO_CASES = [
    Case("nextcloud", "status", "Nextcloud a une erreur interne (status.php répond 500 sans "
         "contenu ; voir nextcloud.log)", "nextcloud-inaccessible"),
    Case("nextcloud", "status", "La page d'état de Nextcloud : pas de réponse en 10 s",
         "nextcloud-inaccessible"),
    Case("nextcloud", "status", "La page d'état de Nextcloud a répondu 502 au lieu de 200",
         "nextcloud-inaccessible", "partial_outage"),
    Case("nextcloud", "status", "Nextcloud est en mode maintenance", "nextcloud-maintenance"),
    Case("nextcloud", "status", "Nextcloud attend la mise à jour de sa base de données "
         "(occ upgrade)", "nextcloud-maintenance", "degraded"),
    Case("nextcloud", "status", "Réponse lente : 4,2 s (seuil 2 s)", "nextcloud-lent",
         "degraded"),
    Case("sites-web", "accueil", "Le serveur a répondu 502 au lieu de 200-399",
         "hebergement-site-inaccessible"),
    Case("sites-web", "accueil", "Le serveur a répondu 500 au lieu de 200-399",
         "hebergement-site-inaccessible", "partial_outage"),
    Case("sites-web", "php-fpm", "14 requête(s) attendent un processus PHP libre",
         "hebergement-site-lent", "degraded"),
    Case("sites-web", "apache", "0 processus libre(s), 150 occupé(s) (au moins 5 attendus)",
         "hebergement-site-lent", "degraded"),
    Case("sites-web", "php-base", "database vaut error au lieu de ok",
         "bases-de-donnees-connexion", "partial_outage"),
    Case("bases-de-donnees", "mysql", "Connexion refusée par mysql.exemple.coop:3306",
         "bases-de-donnees-connexion"),
    Case("bases-de-donnees", "postgresql", "Réplication en retard de 340 s (seuil 60 s)",
         "bases-de-donnees-replication", "degraded"),
    Case("bases-de-donnees", "mysql", "Le réplica a 12 min de retard sur le serveur "
         "principal", "bases-de-donnees-replication", "degraded"),
    Case("messagerie", "smtp", "Connexion refusée par smtp.exemple.coop:587",
         "messagerie-envoi-reception"),
    Case("messagerie", "imap", "Pas de réponse de imap.exemple.coop en 10 s",
         "messagerie-envoi-reception", "partial_outage"),
    Case("messagerie", "smtp", "Le serveur a répondu 421 au lieu de 220",
         "messagerie-envoi-reception", "partial_outage"),
    Case("webmail", "web", "Le serveur a répondu 503 au lieu de 200-399",
         "webmail-inaccessible"),
    Case("webmail", "sieve", "Connexion refusée par 127.0.0.1:8709", "webmail-inaccessible",
         "partial_outage"),
    Case("listes", "sympa", "Serveur SOAP de Sympa : pas de réponse en 10 s",
         "listes-gestion", "partial_outage"),
    Case("listes", "sympa", "Interface web des listes : le serveur a répondu 500",
         "listes-gestion", "partial_outage"),
    Case("listes", "sympa", "Serveur de messagerie des listes : connexion refusée",
         "listes-de-diffusion"),
    Case("espace-membre", "web", "Réponse lente : 3,4 s (seuil 1 s)",
         "espace-membre-connexion", "degraded"),
    Case("espace-membre", "web", "Le serveur a répondu 502 au lieu de 200-399",
         "espace-membre-connexion"),
    Case("dns", "www", "Le serveur DNS 127.0.0.1 n'a pas pu répondre pour www.demo.coop.test "
         "(SERVFAIL)", "dns-noms-de-domaine"),
    Case("sauvegardes", "hors-site", "Aucun signal depuis 2 h 10 min (attendu toutes les "
         "1 h)", "sauvegardes"),
    # the forum has no guide of its own: the general guide that names it, nothing else
    Case("forum", "web", "Le serveur a répondu 502 au lieu de 200-399",
         "assistance-demander-aide"),
    Case("forum", "web", "Réponse lente : 5,1 s (seuil 1 s)", "assistance-demander-aide",
         "degraded"),
]


@pytest.fixture(scope="module")
def demo():
    config = load(DEMO_CONFIG)
    settings = config.sections["guides"]
    names, checks = configured(config)
    names[DATABASES.id] = DATABASES.name
    checks |= {f"{DATABASES.id}/{kind}": Checked(kind, f"Serveur {kind}")
               for kind in DATABASES.kinds}
    matcher = GuideMatcher(settings, [*service_infos(config.services), DATABASES])
    import asyncio

    index = GuideIndex(asyncio.run(MarkdownReader("demo", GUIDES_DIR, "/guides/demo").fetch()))
    return matcher, index, names, checks, declared(GUIDES_DIR)


def declared(folder: Path) -> dict[str, frozenset[str]]:
    """Slug → the services a demo guide's front matter names (read here, not by the code
    under test)."""
    out = {}
    for path in folder.glob("*.md"):
        head = path.read_text(encoding="utf-8").split("---\n")
        meta = yaml.safe_load(head[1]) if len(head) > 2 and head[0] == "" else {}
        out[path.stem] = frozenset(meta.get("services", ()))
    return out


def test_the_demo_table_is_large_and_covers_every_guide_and_service(demo):
    _, index, names, _, _ = demo
    assert len(DEMO_CASES) >= 20
    assert {c.service for c in DEMO_CASES} == set(names)
    assert {c.expected for c in DEMO_CASES} == {g.slug for g in index.guides} - {
        "espace-membre-fermer-compte", "nextcloud-synchronisation", "messagerie-parametres"}
    assert {c.impact for c in DEMO_CASES} == {"degraded", "partial_outage", "major_outage"}


def test_the_demo_guides_rank_first_what_each_incident_needs(demo):
    matcher, index, names, checks, about = demo
    precision, table, unrelated = evaluate(matcher, index, DEMO_CASES, names, checks, about)
    shown = "\n".join(table)
    assert precision >= 0.9, shown
    assert not unrelated, shown


# A second set, written for the test --------------------------------------------------

TILLEULS_CONFIG = """\
services:
  - id: agora
    name: Agora (visioconférence)
    checks:
      - {id: salon, name: Salon de réunion, kind: http, url: "https://agora.tilleuls.test/"}
      - {id: relais, name: Relais audio (TURN), kind: tcp, host: turn.tilleuls.test, port: 3478}
  - id: pelican
    name: Pélican (galerie de photos)
    checks:
      - {id: galerie, name: Galerie, kind: http, url: "https://photos.tilleuls.test/"}
  - id: grimoire
    name: Grimoire (wiki)
    checks:
      - {id: pages, name: Pages du wiki, kind: http, url: "https://wiki.tilleuls.test/"}
      - {id: copie, name: Copie de secours, kind: tcp, host: db2.tilleuls.test, port: 5432}
  - id: carillon
    name: Carillon (téléphonie)
    checks:
      - {id: central, name: Central téléphonique, kind: tcp, host: sip.tilleuls.test, port: 5060}
  - id: sextant
    name: Sextant (cartographie)
    checks:
      - {id: accueil, name: Accueil, kind: http, url: "https://cartes.tilleuls.test/"}
      - {id: tuiles, name: Serveur de tuiles, kind: http, url: "https://tuiles.tilleuls.test/"}
  - id: tambour
    name: Tambour (radio en ligne)
    checks:
      - {id: flux, name: Flux audio, kind: http, url: "https://radio.tilleuls.test/"}
  - id: boussole
    name: Boussole (portail)
    checks:
      - {id: accueil, name: Accueil, kind: http, url: "https://tilleuls.test/"}
guides:
  sources:
    - {type: bookstack, id: doc, url: "https://doc.tilleuls.test", token_id: x, token_secret: y}
"""

TILLEULS_CASES = [
    Case("pelican", "galerie", "Le serveur a répondu 500 au lieu de 200-399",
         "pelican-erreur-500"),
    Case("pelican", "galerie", "Pas de réponse de photos.tilleuls.test en 10 s",
         "pelican-erreur-500"),
    Case("agora", "salon", "Le serveur a répondu 502 au lieu de 200-399", "salon-bloque"),
    Case("agora", "relais", "Connexion refusée par turn.tilleuls.test:3478", "salon-bloque",
         "partial_outage"),
    Case("agora", "salon", "Réponse lente : 4,2 s (seuil 1 s)", "image-saccadee", "degraded"),
    Case("grimoire", "pages", "Le serveur a répondu 503 au lieu de 200-399",
         "grimoire-introuvable"),
    Case("grimoire", "copie", "Réplication en retard de 340 s (seuil 60 s)",
         "pages-en-retard", "degraded"),
    Case("carillon", "central", "Connexion refusée par sip.tilleuls.test:5060",
         "appels-impossibles"),
    Case("sextant", "accueil", "Le serveur a répondu 500 au lieu de 200-399",
         "sextant-erreur-500", "partial_outage"),
    Case("sextant", "tuiles", "Pas de réponse de tuiles.tilleuls.test en 10 s",
         "cartes-grises", "partial_outage"),
    Case("sextant", "accueil", "Réponse lente : 6,0 s (seuil 2 s)", "sextant-attente",
         "degraded"),
    Case("tambour", "flux", "Le serveur a répondu 502 au lieu de 200-399", "emission-coupee"),
    # nothing is about the portal, and no title names it: no guide rather than noise
    Case("boussole", "accueil", "Le serveur a répondu 500 au lieu de 200-399", None),
]


def vocabulary_terms() -> set[str]:
    words: set[str] = set()
    for key, value in [*SYNONYMS.items(), *STATES.items()]:
        words |= set(terms(key)) | set(terms(value))
    return words


def test_the_second_set_uses_no_word_of_the_vocabulary():
    vocabulary = vocabulary_terms()
    for page in read_folder(TILLEULS):
        words = set(terms(" ".join((page.title, page.body, *page.tags))))
        assert not words & vocabulary, (page.slug, sorted(words & vocabulary))
    config = load_text(TILLEULS_CONFIG)
    for service in config.services:
        assert not set(terms(f"{service.id} {service.name.text('fr')}")) & vocabulary


def load_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vigie.yaml"
        path.write_text(text, encoding="utf-8")
        return load(path)


async def read_second_set(kind: str, infos: list[ServiceInfo]) -> GuideIndex:
    """The second set as the ``bookstack`` or ``mkdocs`` stand-in serves it, read by the
    real source."""
    fake = FakeBookStack(TILLEULS, folder_tags=False) if kind == "bookstack" \
        else FakeMkDocs(TILLEULS)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        if kind == "bookstack":
            reader = BookStackReader(BookStackSource(
                type="bookstack", id="doc", url=fake.url, token_id=TOKEN_ID,
                token_secret=TOKEN_SECRET))
        else:
            reader = MkDocsReader(MkDocsSource(type="mkdocs", id="doc", url=fake.url))
        library = GuideLibrary([reader], services=infos)
        async with aiohttp.ClientSession() as http:
            assert await library.refresh(http)
        return library.index
    finally:
        await server.close()


@pytest.mark.parametrize("kind", ["bookstack", "mkdocs"])
async def test_the_rule_ranks_a_second_guide_set_the_same_way(kind):
    config = load_text(TILLEULS_CONFIG)
    names, checks = configured(config)
    infos = service_infos(config.services)
    index = await read_second_set(kind, infos)
    # every page was read (through BookStack's search API): the table measures the ranking
    assert len(index) == len(read_folder(TILLEULS))
    # pages are named by their last part (MkDocs slugs hold their folders)
    index = GuideIndex(dataclasses.replace(g, slug=g.slug.rsplit("/", 1)[-1])
                       for g in index.guides)
    # what each page is about, as the test set was written: its tag, else its book
    books = {"cartographie": "sextant"}
    about = {}
    for page in read_folder(TILLEULS):
        book = page.slug.split("/")[0]
        tagged = {t.partition("=")[2] for t in page.tags if t.startswith("service=")}
        about[page.slug.rsplit("/", 1)[-1]] = frozenset(
            tagged or {books.get(book, book)} & set(names))
    matcher = GuideMatcher(config.sections["guides"], infos)
    precision, table, unrelated = evaluate(matcher, index, TILLEULS_CASES, names, checks,
                                           about)
    shown = "\n".join(table)
    assert precision >= 0.9, shown
    assert not unrelated, shown
