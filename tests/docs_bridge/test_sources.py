"""Guide sources (Markdown folder, MkDocs index, BookStack search) and the cached library."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from docs_bridge.guides import GUIDE_LINK_KIND
from monitor.httpcall import DeliveryError
from docs_bridge.library import GuideLibrary
from docs_bridge.matcher import GuideMatcher, ServiceInfo
from docs_bridge.settings import BookStackSource, GuidesSettings, MkDocsSource
from docs_bridge.sources.bookstack import BookStackReader, search_terms
from docs_bridge.sources.markdown import MarkdownReader, parse_page, read_folder
from docs_bridge.sources.mkdocs import MkDocsReader, guides_from_index
from monitor.notifications import PermanentFailure
from tests.docs_bridge.fake_docs import (
    GUIDES,
    TOKEN_ID,
    TOKEN_SECRET,
    FakeBookStack,
    FakeMkDocs,
)
from tests.docs_bridge.helpers import make_event

SERVICES = [ServiceInfo("nextcloud", "Nextcloud (fichiers et agendas)", ("nextcloud",)),
            ServiceInfo("messagerie", "Messagerie", ("imap", "smtp"))]
MAINTENANCE_TITLE = "Nextcloud est en maintenance : que faire ?"


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def serve(fake):
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    return server


@pytest.fixture
async def bookstack():
    fake = FakeBookStack()
    server = await serve(fake)
    yield fake
    await server.close()


@pytest.fixture
async def mkdocs():
    fake = FakeMkDocs()
    server = await serve(fake)
    yield fake
    await server.close()


def bookstack_settings(url: str, secret: str = TOKEN_SECRET) -> BookStackSource:
    return BookStackSource.model_validate({"type": "bookstack", "id": "doc", "url": url,
                                           "token_id": TOKEN_ID, "token_secret": secret})


def settings() -> GuidesSettings:
    return GuidesSettings.model_validate({"sources": [{"type": "markdown", "path": "."}]})


# Markdown ------------------------------------------------------------------------------


def test_markdown_title_from_front_matter_else_first_heading():
    page = parse_page("---\ntitle: Titre choisi\ntags: [a, b]\n---\n# Autre titre\ntexte",
                      "x/y")
    assert (page.title, page.tags) == ("Titre choisi", ("a", "b"))
    page = parse_page("Intro\n\n# Le vrai titre ##\n\n## Section\ntexte", "x/y")
    assert page.title == "Le vrai titre"
    assert parse_page("sans titre", "dossier/mon-guide").title == "Mon guide"


def test_markdown_folder_reads_every_guide_but_readmes(tmp_path):
    (tmp_path / "sous").mkdir()
    (tmp_path / "sous" / "guide.md").write_text("# Guide\n\nTexte **gras**.", encoding="utf-8")
    (tmp_path / "README.md").write_text("# Lisez-moi", encoding="utf-8")
    (tmp_path / "_brouillon.md").write_text("# Brouillon", encoding="utf-8")
    assert [p.slug for p in read_folder(tmp_path)] == ["sous/guide"]
    with pytest.raises(FileNotFoundError):
        read_folder(tmp_path / "absent")


async def test_markdown_guides_link_under_the_base_url():
    guides = await MarkdownReader("g", GUIDES, "https://doc.exemple.coop/guides/").fetch()
    maintenance = next(g for g in guides if g.slug == "nextcloud/maintenance")
    assert maintenance.url == "https://doc.exemple.coop/guides/nextcloud/maintenance"
    assert maintenance.id == "g:nextcloud/maintenance"
    assert "**" not in maintenance.text and "client de synchronisation" in maintenance.text


# MkDocs --------------------------------------------------------------------------------


async def test_mkdocs_index_gives_one_guide_per_page_with_its_sections(http, mkdocs):
    guides = await MkDocsReader(MkDocsSource(type="mkdocs", id="docs", url=mkdocs.url)).fetch(http)
    assert len(guides) == len(list(GUIDES.rglob("*.md")))
    maintenance = next(g for g in guides if g.slug == "nextcloud/maintenance")
    assert maintenance.title == MAINTENANCE_TITLE
    assert maintenance.url == f"{mkdocs.url}/nextcloud/maintenance/"
    # text of the "## Si la maintenance dure" section folded into its page, HTML stripped
    assert "annoncées sur la page d'état" in maintenance.text
    assert "<p>" not in maintenance.text


def test_mkdocs_rejects_what_is_not_an_index():
    with pytest.raises(ValueError):
        guides_from_index({"pages": []}, "docs", "https://x.coop")


async def test_mkdocs_down_raises(http, mkdocs):
    mkdocs.failing = True
    with pytest.raises(DeliveryError):
        await MkDocsReader(MkDocsSource(type="mkdocs", url=mkdocs.url)).fetch(http)


# BookStack -----------------------------------------------------------------------------


def test_bookstack_searches_tags_first_then_single_words():
    queries = search_terms(SERVICES, "service")
    assert queries[:2] == ["[service=nextcloud] {type:page}", "[service=messagerie] {type:page}"]
    assert "nextcloud {type:page}" in queries
    assert "courriel {type:page}" in queries  # a synonym of imap/smtp
    assert all(len(q.split()) == 2 for q in queries[2:])


async def test_bookstack_pages_become_guides_with_tags(http, bookstack):
    reader = BookStackReader(bookstack_settings(bookstack.url))
    guides = await reader.fetch(http, SERVICES)
    assert "[service=nextcloud] {type:page}" in bookstack.queries
    maintenance = next(g for g in guides if g.title == MAINTENANCE_TITLE)
    assert maintenance.url == f"{bookstack.url}/books/nextcloud/page/maintenance"
    assert maintenance.id.startswith("doc:") and maintenance.has_tag("service=nextcloud")
    assert maintenance.has_tag("nextcloud")
    assert any(g.slug == "parametres-imap-smtp" for g in guides)


async def test_bookstack_bad_token_is_a_permanent_failure_without_the_secret(http, bookstack):
    reader = BookStackReader(bookstack_settings(bookstack.url, secret="wrong-secret-value"))
    with pytest.raises(PermanentFailure) as failure:
        await reader.fetch(http, SERVICES)
    assert "401" in str(failure.value) and "wrong-secret-value" not in str(failure.value)


# Same links from every source ------------------------------------------------------------


async def test_mkdocs_and_bookstack_give_the_same_kind_of_links(http, mkdocs, bookstack):
    event = make_event(title="Nextcloud en maintenance")
    results = {}
    for source in (MkDocsReader(MkDocsSource(type="mkdocs", id="docs", url=mkdocs.url)),
                   BookStackReader(bookstack_settings(bookstack.url))):
        library = GuideLibrary([source], services=SERVICES)
        assert await library.refresh(http)
        guides = GuideMatcher(settings(), SERVICES).match(library.index, event)
        results[source.id] = [g.link("guides") for g in guides]
    for source_id, links in results.items():
        assert links, source_id
        assert links[0].title == MAINTENANCE_TITLE
        assert {(link.kind, link.public, link.plugin) for link in links} == {
            (GUIDE_LINK_KIND, True, "guides")}
        assert all(link.external_id is None for link in links)
    assert results["docs"][0].url.startswith(mkdocs.url)
    assert results["doc"][0].url.startswith(bookstack.url)


# The cache -----------------------------------------------------------------------------


async def test_cache_keeps_serving_when_the_source_goes_down(http, tmp_path):
    fake = FakeBookStack()
    server = await serve(fake)
    cache = tmp_path / "guides-cache.json"
    library = GuideLibrary([BookStackReader(bookstack_settings(fake.url))], cache, SERVICES)
    assert await library.refresh(http)
    known = len(library.index)
    assert known > 5 and cache.exists()

    fake.failing = True  # the site answers 500
    assert not await library.refresh(http)
    assert len(library.index) == known
    assert library.status()[0].last_error and library.status()[0].failures == 1

    await server.close()  # the site is gone; Vigie restarts
    restarted = GuideLibrary([BookStackReader(bookstack_settings(fake.url))], cache, SERVICES)
    assert restarted.load_cache() == known
    assert not await restarted.refresh(http)
    event = make_event(title="Nextcloud en maintenance")
    guides = GuideMatcher(settings(), SERVICES).match(restarted.index, event)
    assert guides and guides[0].title == MAINTENANCE_TITLE


def test_an_unreadable_cache_is_ignored(tmp_path):
    cache = tmp_path / "guides-cache.json"
    cache.write_text("{not json", encoding="utf-8")
    library = GuideLibrary([MarkdownReader("g", GUIDES, "https://x.coop")], cache)
    assert library.load_cache() == 0 and len(library.index) == 0


# Hostile guide sites: their text is outside text, made safe where it enters -----------


def test_bookstack_text_is_made_safe_and_odd_addresses_left_out():
    from docs_bridge.sources.bookstack import guide_from_result

    item = {"type": "page", "id": 7, "name": "Thunderbird\x00\u202e\r\nIMAP" + "x" * 500,
            "slug": "thunderbird\x1b", "url": "https://docs.example.coop/books/mail/page/7",
            "preview_html": {"content": "<p>Ouvrez\x00 les\x08 paramètres</p>"},
            "book": {"name": "Courriel\x07"}, "tags": [{"name": "service\x00", "value": "mail"}]}
    guide = guide_from_result(item, "docs")
    assert guide.title.startswith("Thunderbird IMAPxx") and len(guide.title) <= 300
    assert guide.slug == "thunderbird" and guide.tags == ("service=mail",)
    assert guide.text == "Ouvrez les paramètres Courriel"
    for url in ("javascript:alert(1)", "https://docs.example.coop/a b", "//evil.example/x"):
        assert guide_from_result({**item, "url": url}, "docs") is None


def test_mkdocs_index_text_is_made_safe():
    index = {"docs": [
        {"location": "mail/imap/", "title": "IMAP\x00 et\u202e Thunderbird", "text": "a\x00b"},
        {"location": "mail/imap/#reglages", "title": "Réglages", "text": "c\x1bd"},
        {"location": "bad path/\x00", "title": "Ailleurs", "text": "x"},
    ]}
    [guide] = guides_from_index(index, "mk", "https://docs.example.coop")
    assert guide.title == "IMAP et Thunderbird"
    assert guide.text == "a b c d"
    assert guide.url == "https://docs.example.coop/mail/imap/"


# What a guide is about: each source reads it from its own structure ---------------------


def test_bookstack_pages_say_their_services_by_tag_and_sit_in_their_book():
    from docs_bridge.sources.bookstack import guide_from_result

    item = {"type": "page", "id": 7, "name": "Synchroniser", "slug": "synchroniser",
            "url": "https://docs.example.coop/books/cloud/page/synchroniser",
            "book": {"id": 2, "name": "Le cloud", "slug": "le-cloud"},
            "tags": [{"name": "Service", "value": "nextcloud"},
                     {"name": "logiciel", "value": "nextcloud"}]}
    guide = guide_from_result(item, "doc")
    assert guide.services == ("nextcloud",) and guide.sections == ("le-cloud",)
    # a site that names its tag otherwise (BookStackSource.service_tag)
    other = guide_from_result(item, "doc", service_tag="logiciel")
    assert other.services == ("nextcloud",)
    assert guide_from_result({**item, "tags": []}, "doc").services == ()


def test_markdown_pages_say_their_services_in_front_matter_and_sit_in_folders():
    page = parse_page("---\nservices: [nextcloud, sites-web]\n---\n# T", "cloud/a/t")
    assert page.services == ("nextcloud", "sites-web") and page.folders == ("cloud", "a")
    assert parse_page("---\nservice: nextcloud\n---\n# T", "t").services == ("nextcloud",)
    assert parse_page("---\ntags: [service=listes, sympa]\n---\n# T", "t").services == (
        "listes",)
    assert parse_page("# T", "t").services == () and parse_page("# T", "t").folders == ()


async def test_markdown_and_mkdocs_guides_know_where_they_sit(http, mkdocs):
    for guides in (await MarkdownReader("g", GUIDES, "https://x.coop").fetch(),
                   await MkDocsReader(MkDocsSource(type="mkdocs", url=mkdocs.url)).fetch(http)):
        maintenance = next(g for g in guides if g.slug == "nextcloud/maintenance")
        assert maintenance.sections == ("nextcloud",)
    index = {"docs": [{"location": "cloud/sync/", "title": "Sync", "text": "x",
                       "tags": ["service=nextcloud", "client"]}]}
    [guide] = guides_from_index(index, "mk", "https://docs.example.coop")
    assert guide.services == ("nextcloud",) and guide.sections == ("cloud",)


def test_the_cache_keeps_what_guides_are_about(tmp_path):
    from docs_bridge.guides import Guide

    guide = Guide("g:a", "g", "A", "https://x.coop/a", services=("nextcloud",),
                  sections=("cloud",))
    assert Guide.from_dict(guide.to_dict()) == guide
    # a cache written before guides knew their services reads as guides declaring none
    old = {k: v for k, v in guide.to_dict().items() if k not in ("services", "sections")}
    assert Guide.from_dict(old).services == () and Guide.from_dict(old).sections == ()


def test_odd_front_matter_lists_are_ignored_not_fatal():
    page = parse_page("---\ntags: 12\nservices: {a: b}\n---\n# T", "t")
    assert page.tags == () and page.services == ()
    assert parse_page("---\ntags: a, b\nservice: x\n---\n# T", "t").tags == ("a", "b")
