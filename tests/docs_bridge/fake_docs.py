"""Local stand-ins for the guide sites: a BookStack search API and an MkDocs site.

Both serve the test guide set (``tests/docs_bridge/guides``) in the documented shapes
(REFERENCE.md, "Documentation sources"):

- BookStack ``GET /api/search?query=&page=&count=`` with ``Authorization: Token
  <id>:<secret>`` (else 401 ``{"error": {"code", "message"}}``): every word must prefix
  a word of the page (BookStack's term matching), ``[name=value]`` filters by tag,
  ``{type:page}`` by type; results ``{"data": [{"id", "name", "slug", "type", "url",
  "book", "preview_html": {"name", "content"}, "tags"}], "total"}``. Each guide's folder
  becomes its book (and, with ``folder_tags``, its ``service`` tag); front-matter tags
  ``name=value`` become BookStack's ``{"name", "value"}`` tags.
- MkDocs ``GET /search/search_index.json``: ``{"config": {...}, "docs": [...]}`` with one
  entry per page and one per ``##`` section, texts in HTML as older MkDocs writes them,
  front-matter tags on the page's entry (Material for MkDocs).
"""

from __future__ import annotations

import html
import re
import unicodedata
from pathlib import Path

from aiohttp import web

from docs_bridge.sources.markdown import parse_page, plain_text, read_folder

GUIDES = Path(__file__).parent / "guides"
TOKEN_ID = "vigie-reader"
TOKEN_SECRET = "b00kst4ck-secret-for-tests"


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c)).casefold()


class FakeBookStack:
    """BookStack's search API over the test guides."""

    def __init__(self, folder: Path = GUIDES, folder_tags: bool = True) -> None:
        self.pages = []
        for number, page in enumerate(read_folder(folder), start=1):
            book = page.slug.split("/")[0]
            slug = page.slug.split("/")[-1]
            tags = [{"name": "service", "value": book}] if folder_tags else []
            for tag in page.tags:
                name, _, value = tag.partition("=")
                tags.append({"name": name, "value": value})
            self.pages.append({
                "id": number, "name": page.title, "slug": slug, "book": book,
                "text": plain_text(page.body), "tags": tags})
        self.queries: list[str] = []
        self.failing = False
        self.url = ""

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get("/api/search", self.search)
        return app

    def _matches(self, page: dict, words: list[str], tags: list[tuple[str, str]]) -> bool:
        for name, value in tags:
            if not any(_fold(t["name"]) == name and (not value or _fold(t["value"]) == value)
                       for t in page["tags"]):
                return False
        indexed = set(re.findall(r"\w+", _fold(page["name"] + " " + page["text"])))
        return all(any(term.startswith(word) for term in indexed) for word in words)

    async def search(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Token {TOKEN_ID}:{TOKEN_SECRET}":
            return web.json_response({"error": {"code": 401, "message": "No authorization "
                                                "token found on the request"}}, status=401)
        if self.failing:
            return web.json_response({"error": {"code": 500, "message": "Server Error"}},
                                     status=500)
        query = request.query.get("query", "")
        self.queries.append(query)
        tags = [(_fold(m.group(1)), _fold(m.group(2) or ""))
                for m in re.finditer(r"\[([^\]=]+)(?:=([^\]]*))?\]", query)]
        rest = re.sub(r"\[[^\]]*\]|\{[^}]*\}", " ", query)
        words = [_fold(w) for w in re.findall(r"\w+", rest)]
        count = int(request.query.get("count", "20"))
        found = [p for p in self.pages if self._matches(p, words, tags)]
        base = self.url
        data = [{"id": p["id"], "name": p["name"], "slug": p["slug"], "type": "page",
                 "url": f"{base}/books/{p['book']}/page/{p['slug']}",
                 "book_id": 1, "chapter_id": 0, "draft": False, "template": False,
                 "created_at": "2026-01-10T10:00:00.000000Z",
                 "updated_at": "2026-02-10T10:00:00.000000Z",
                 "book": {"id": 1, "name": p["book"].replace("-", " ").capitalize(),
                          "slug": p["book"]},
                 "preview_html": {"name": html.escape(p["name"]),
                                  "content": html.escape(p["text"][:400])},
                 "tags": [dict(t, order=i) for i, t in enumerate(p["tags"])]}
                for p in found[:count]]
        return web.json_response({"data": data, "total": len(found)})


def mkdocs_index(folder: Path = GUIDES) -> dict:
    """The ``search_index.json`` MkDocs would write for the guides."""
    docs = []
    for path in sorted(folder.rglob("*.md")):
        slug = path.relative_to(folder).with_suffix("").as_posix()
        page = parse_page(path.read_text(encoding="utf-8"), slug)
        sections = re.split(r"^## +(.+)$", page.body, flags=re.MULTILINE)
        intro, rest = sections[0], sections[1:]
        entry = {"location": f"{slug}/", "title": page.title,
                 "text": f"<p>{html.escape(plain_text(intro))}</p>"}
        if page.tags:  # as Material for MkDocs' tags plugin writes them
            entry["tags"] = list(page.tags)
        docs.append(entry)
        for heading, body in zip(rest[::2], rest[1::2]):
            anchor = "-".join(re.findall(r"[a-z0-9]+", _fold(heading)))
            docs.append({"location": f"{slug}/#{anchor}", "title": heading.strip(),
                         "text": f"<p>{html.escape(plain_text(body))}</p>"})
    return {"config": {"lang": ["fr"], "separator": "[\\s\\-]+", "pipeline": ["stopWordFilter"]},
            "docs": docs}


class FakeMkDocs:
    """An MkDocs site serving its search index (and 503 while ``failing``)."""

    def __init__(self, folder: Path = GUIDES) -> None:
        self.index = mkdocs_index(folder)
        self.failing = False
        self.url = ""

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get("/search/search_index.json", self.serve)
        return app

    async def serve(self, request: web.Request) -> web.Response:
        if self.failing:
            return web.Response(status=503, text="Service Unavailable")
        return web.json_response(self.index)
