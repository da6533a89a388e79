"""Guides from a BookStack site, through its search API.

BookStack has no cheap "every page with its text" call, so the source asks its search
what the cooperative needs: for each configured service, the pages tagged
``[<service_tag>=<service id>]``, then a search per word of the services' vocabulary
(service id, check kinds and their synonyms). The union of the pages found (name,
preview text, book name and tags) is the local corpus the ranked matcher works on. A
page's ``[<service_tag>=<id>]`` tags say which services it is about, and its book where
it sits (:mod:`docs_bridge.subjects`).

``GET /api/search?query=<q>&page=1&count=<n>`` with ``Authorization: Token <id>:<secret>``
answers ``{"data": [{"id", "name", "slug", "type", "url", "book": {...},
"preview_html": {"name", "content"}, "tags": [{"name", "value"}]}], "total": N}``.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from docs_bridge.guides import MAX_TITLE, SERVICE_TAG, Guide, clip, tagged_services
from monitor.api import call, clean_line, web_address
from docs_bridge.matcher import ServiceInfo
from docs_bridge.settings import BookStackSource
from docs_bridge.text import STOP_WORDS, strip_html, tokens
from docs_bridge.vocabulary import expand, merged

#: searches per refresh, at most (one refresh must stay light on the guide site)
MAX_SEARCHES = 40


def search_terms(services: list[ServiceInfo], tag: str,
                 synonyms: dict[str, str] | None = None) -> list[str]:
    """The BookStack queries for a refresh: tag searches first, then single words.

    Single words, because BookStack's handling of several terms differs between
    versions; one word per search is understood the same everywhere.
    """
    table = merged(synonyms)
    queries = [f"[{tag}={s.id}] {{type:page}}" for s in services]
    words: list[str] = []
    for service in services:
        seeds = [service.id, *service.id.replace("_", "-").split("-"), *service.kinds,
                 *tokens(service.name)]
        for seed in seeds:
            words += [w for w in tokens(seed) if w not in STOP_WORDS and len(w) > 2]
            words += [w for w in tokens(expand(seed, table)) if w not in STOP_WORDS and len(w) > 2]
    queries += [f"{word} {{type:page}}" for word in dict.fromkeys(words)]
    return queries[:MAX_SEARCHES]


def guide_from_result(item: dict[str, Any], source_id: str,
                      service_tag: str = SERVICE_TAG) -> Guide | None:
    """A guide for one search result, None for what is not a page (or has no web
    address). The site's text is outside text: made safe here (:mod:`monitor.safetext`)."""
    if item.get("type") != "page" or "id" not in item or not item.get("url"):
        return None
    url = web_address(str(item["url"]))
    if url is None:
        return None
    preview = item.get("preview_html") or {}
    book_item = item.get("book") if isinstance(item.get("book"), dict) else {}
    book = clean_line(book_item.get("name"), 200)
    book_slug = clean_line(book_item.get("slug"), 200) or book
    tags = tuple(f"{clean_line(t.get('name'), 100)}={clean_line(t.get('value'), 100)}"
                 .rstrip("=") for t in item.get("tags") or ()
                 if isinstance(t, dict) and clean_line(t.get("name"), 100))
    text = " ".join([strip_html(str(preview.get("content") or "")), str(book)])
    return Guide(id=f"{source_id}:{clean_line(item['id'], 100)}", source=source_id,
                 title=clean_line(item.get("name"), MAX_TITLE), url=url,
                 slug=clean_line(item.get("slug"), 200), text=clip(text), tags=tags,
                 services=tagged_services(tags, service_tag),
                 sections=(book_slug,) if book_slug else ())


class BookStackReader:
    """A :class:`docs_bridge.sources.GuideSource` over BookStack's search API."""

    def __init__(self, settings: BookStackSource, synonyms: dict[str, str] | None = None) -> None:
        self.id = settings.id
        self.settings = settings
        self.synonyms = synonyms

    def _headers(self) -> dict[str, str]:
        token = (f"{self.settings.token_id.get_secret_value()}:"
                 f"{self.settings.token_secret.get_secret_value()}")
        return {"Authorization": f"Token {token}", "Accept": "application/json"}

    async def search(self, session: aiohttp.ClientSession, query: str) -> list[dict[str, Any]]:
        """One search; the raw result items."""
        answer = await call(
            session, "GET", f"{self.settings.url}/api/search", service=f"BookStack {self.id}",
            timeout=self.settings.timeout, headers=self._headers(),
            params={"query": query, "page": "1", "count": str(self.settings.count)},
            secrets=(self.settings.token_secret.get_secret_value(),
                     self.settings.token_id.get_secret_value()))
        data = answer.json()
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise ValueError(f"BookStack {self.id}: unexpected search answer")
        return [item for item in data["data"] if isinstance(item, dict)]

    async def fetch(self, session: aiohttp.ClientSession,
                    services: list[ServiceInfo]) -> list[Guide]:
        """Run the searches and merge their pages (see the module's docstring)."""
        found: dict[str, Guide] = {}
        for query in search_terms(services, self.settings.service_tag, self.synonyms):
            for item in await self.search(session, query):
                guide = guide_from_result(item, self.id, self.settings.service_tag)
                if guide is not None and (guide.id not in found
                                          or len(guide.text) > len(found[guide.id].text)):
                    found[guide.id] = guide
        return sorted(found.values(), key=lambda g: g.id)
