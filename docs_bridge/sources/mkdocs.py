"""Guides from an MkDocs site's search index.

MkDocs writes ``search/search_index.json``: ``{"config": {...}, "docs": [{"location",
"title", "text"}]}``, one entry per page (``nextcloud/maintenance/``) and one per section
(``nextcloud/maintenance/#que-faire``). Sections are folded into their page: a guide is a
page, with the text of all its sections. Texts may hold HTML (older MkDocs, some themes);
it is stripped. Material for MkDocs' optional ``tags`` are kept (a ``service=<id>`` tag
says which service the page is about), and the folders of a page's location are where it
sits (:mod:`docs_bridge.subjects`).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from docs_bridge.guides import MAX_TITLE, Guide, clip, tagged_services
from monitor.api import call, clean_line, web_address
from docs_bridge.settings import MkDocsSource
from docs_bridge.text import strip_html


def guides_from_index(data: Any, source_id: str, site_url: str) -> list[Guide]:
    """The guides of a parsed ``search_index.json``.

    :raises ValueError: the document is not an MkDocs search index.
    """
    if not isinstance(data, dict) or not isinstance(data.get("docs"), list):
        raise ValueError("not an MkDocs search index (no 'docs' list)")
    pages: dict[str, dict[str, Any]] = {}
    for entry in data["docs"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("location"), str):
            continue
        location, _, anchor = entry["location"].partition("#")
        page = pages.setdefault(location, {"title": "", "texts": [], "tags": []})
        if not anchor:
            page["title"] = str(entry.get("title") or "")
        elif not page["title"] and not page["texts"]:
            # a page known only through its sections: its first section names it
            page["section_title"] = str(entry.get("title") or "")
        page["texts"].append(strip_html(str(entry.get("text") or "")))
        for tag in entry.get("tags") or ():
            tag = clean_line(tag, 100)
            if tag and tag not in page["tags"]:
                page["tags"].append(tag)
    guides = []
    for location, page in pages.items():
        # the index is outside text: made safe here (monitor.safetext); a page whose
        # location does not make a web address is left out
        title = clean_line(strip_html(page["title"] or page.get("section_title", "")),
                           MAX_TITLE)
        url = web_address(f"{site_url}/{location}")
        if not title or url is None:
            continue
        slug = location.strip("/") or "index"
        guides.append(Guide(id=f"{source_id}:{slug}", source=source_id, title=title,
                            url=url, slug=slug, text=clip(" ".join(page["texts"])),
                            tags=tuple(page["tags"]),
                            services=tagged_services(page["tags"]),
                            sections=tuple(clean_line(part, 200)
                                           for part in slug.split("/")[:-1])))
    return guides


class MkDocsReader:
    """A :class:`docs_bridge.sources.GuideSource` over an MkDocs search index."""

    def __init__(self, settings: MkDocsSource) -> None:
        self.id = settings.id
        self.settings = settings
        self.index_url = settings.index_url or f"{settings.url}/search/search_index.json"

    async def fetch(self, session: aiohttp.ClientSession,
                    services: list | None = None) -> list[Guide]:
        """Download and read the index."""
        answer = await call(session, "GET", self.index_url, service=f"MkDocs {self.id}",
                            timeout=self.settings.timeout)
        return guides_from_index(answer.json(), self.id, self.settings.url)
