"""A local stand-in for a Discourse forum, following its documented API shapes.

Discourse itself (Rails, PostgreSQL, Redis) cannot be started by a test; this aiohttp
application answers as it does (REFERENCE.md, "Discourse"):

- ``Api-Key`` / ``Api-Username`` auth; a bad key → 403 ``invalid_access``;
- ``POST /posts.json``: a topic (``title``, ``raw``, ``category``, ``tags``,
  ``external_id``) or a reply (``topic_id``, ``raw``) → 200 post object; validation
  failures → 422 ``record_invalid`` (title under 15 characters or already used, whatever
  the case; body under 20 characters; external id not ``[\\w-]{1,50}`` or already used;
  a reply identical to a recent one: "Body is too similar to what you recently posted");
- ``GET /t/external_id/{id}.json`` → 302 to ``/t/{slug}/{id}.json``, or 404;
- ``GET /t/{slug}/{id}.json``, ``PUT /t/{id}/status.json``, ``GET /search.json?q=``
  (words, ``after:YYYY-MM-DD``, ``order:latest``, ``status:public``: only categories
  that are not read-restricted, ``categories:5,=7``: those category ids) → ``posts``,
  ``topics`` (with ``category_id``), ``grouped_search_result``. Like Discourse, the search
  sees what the API user sees: an admin bot sees the read-restricted categories too;
- a visitor who sends no ``Api-Key`` and no ``Api-Username`` may search: like an anonymous
  visitor of Discourse, it sees neither read-restricted categories nor private messages;
  each post found has a ``blurb`` (HTML: entities, the words found in
  ``<span class="search-highlight">``); every answer sets a ``_forum_session`` cookie, as
  Discourse does;
- scripted failures: :meth:`FakeDiscourse.fail_next` (e.g. 429 with ``Retry-After`` and
  ``extras.wait_seconds``, 500), :meth:`FakeDiscourse.fail_search_next` (the same for
  searches), :attr:`FakeDiscourse.hang_after_record` (the request is recorded, then no
  answer ever comes) and :attr:`FakeDiscourse.hang_searches` (a search is received,
  :attr:`FakeDiscourse.search_received` is set, and no answer comes until
  :attr:`FakeDiscourse.release` is).
"""

from __future__ import annotations

import asyncio
import html
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from aiohttp import web

from tests.peers import Changes

API_KEY = "d1sc0urse-api-key-for-tests-0123456789"
API_USER = "vigie"
_EXTERNAL_ID = re.compile(r"^[\w-]{1,50}$")


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c)).casefold()


def _slug(title: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", _fold(title))) or "topic"


@dataclass
class FakeTopic:
    """A topic as the fake stores it."""

    id: int
    title: str
    slug: str
    category: int | None
    external_id: str | None
    tags: list[str]
    created_at: float
    posts: list[str] = field(default_factory=list)
    closed: bool = False


class FakeDiscourse:
    """The forum's state and its HTTP application."""

    def __init__(self) -> None:
        self.topics: dict[int, FakeTopic] = {}
        self.requests: list[tuple[str, str]] = []
        self.scripted: list[tuple[int, dict, dict]] = []
        self.hang_after_record = False
        self.release = asyncio.Event()
        #: noted at each topic created through the API
        self.changes = Changes()
        self._next_topic = 100
        self._next_post = 1000
        self.url = ""
        #: read-restricted categories (Discourse: category security, not "everyone")
        self.restricted: set[int] = set()
        self.search_scripted: list[tuple[int, dict, dict]] = []
        self.hang_searches = False
        self.search_received = asyncio.Event()
        #: the headers of every search, and whether it was anonymous
        self.searches: list[tuple[dict, bool]] = []

    # Test controls ----------------------------------------------------------------------

    def fail_next(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        """Answer the next write (POST/PUT) with this status instead of acting."""
        self.scripted.append((status, body or {}, headers or {}))

    def fail_search_next(self, status: int, body: dict | None = None,
                         headers: dict | None = None) -> None:
        """Answer the next search with this status instead of searching."""
        self.search_scripted.append((status, body or {}, headers or {}))

    def add_topic(self, title: str, created_at: float | None = None, category: int | None = 5,
                  post: str = "Message d'un membre du forum.") -> FakeTopic:
        """A topic written by a member (``category`` None: a private message)."""
        self._next_topic += 1
        topic = FakeTopic(self._next_topic, title, _slug(title), category, None, [],
                          created_at or time.time(), [post])
        self.topics[topic.id] = topic
        return topic

    def by_external_id(self, external_id: str) -> list[FakeTopic]:
        """Topics carrying this external id (never more than one, if the client behaves)."""
        return [t for t in self.topics.values()
                if t.external_id and t.external_id.lower() == external_id.lower()]

    # HTTP -------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/posts.json", self.create_post)
        app.router.add_get("/t/external_id/{external_id}.json", self.by_external)
        app.router.add_get("/t/{slug}/{id:\\d+}.json", self.show_topic)
        app.router.add_put("/t/{id:\\d+}/status.json", self.set_status)
        app.router.add_get("/search.json", self.search)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        answer = await self._authenticated(request, handler)
        answer.set_cookie("_forum_session", "c2Vzc2lvbi1vZi10aGUtYm90", httponly=True)
        return answer

    async def _authenticated(self, request: web.Request, handler):
        self.requests.append((request.method, request.path_qs))
        if self._anonymous(request) and request.method == "GET" \
                and request.path == "/search.json":
            return await handler(request)
        if (request.headers.get("Api-Key") != API_KEY
                or request.headers.get("Api-Username") != API_USER):
            return web.json_response(
                {"errors": ["You are not permitted to view the requested resource. The API "
                            "username or key is invalid."], "error_type": "invalid_access"},
                status=403)
        if request.method in ("POST", "PUT") and self.scripted:
            status, body, headers = self.scripted.pop(0)
            return web.json_response(body, status=status, headers=headers)
        return await handler(request)

    @staticmethod
    def _anonymous(request: web.Request) -> bool:
        return "Api-Key" not in request.headers and "Api-Username" not in request.headers

    @staticmethod
    def _invalid(*errors: str) -> web.Response:
        return web.json_response({"action": "create_post", "errors": list(errors),
                                  "error_type": "record_invalid"}, status=422)

    def _post(self, topic: FakeTopic, raw: str) -> dict:
        self._next_post += 1
        topic.posts.append(raw)
        return {"id": self._next_post, "topic_id": topic.id, "topic_slug": topic.slug,
                "post_number": len(topic.posts), "raw": raw, "cooked": f"<p>{raw}</p>",
                "created_at": "2026-03-12T13:00:00.000Z", "username": API_USER}

    async def create_post(self, request: web.Request) -> web.Response:
        data = await request.json()
        raw = str(data.get("raw") or "")
        if len(raw.strip()) < 20:
            return self._invalid("Body is too short (minimum is 20 characters)")
        if "topic_id" in data:
            topic = self.topics.get(int(data["topic_id"]))
            if topic is None:
                return web.json_response({"errors": ["The requested URL or resource could "
                                                     "not be found."], "error_type": "not_found"},
                                         status=404)
            if topic.posts and topic.posts[-1] == raw:
                return self._invalid("Body is too similar to what you recently posted")
            if topic.closed:
                return self._invalid("This topic is closed")
            return web.json_response(self._post(topic, raw))
        title = str(data.get("title") or "")
        errors = []
        if len(title) < 15:
            errors.append("Title is too short (minimum is 15 characters)")
        if any(t.title.lower() == title.lower() for t in self.topics.values()):
            errors.append("Title has already been used")
        ext = data.get("external_id")
        if ext is not None and not _EXTERNAL_ID.match(str(ext)):
            errors.append("External ID is invalid")
        elif ext is not None and self.by_external_id(str(ext)):
            errors.append("External ID has already been taken")
        if errors:
            return self._invalid(*errors)
        self._next_topic += 1
        topic = FakeTopic(self._next_topic, title, _slug(title), data.get("category"),
                          ext, list(data.get("tags") or []), time.time())
        self.topics[topic.id] = topic
        body = self._post(topic, raw)
        self.changes.note()
        if self.hang_after_record:
            await self.release.wait()
        return web.json_response(body)

    def _topic_json(self, topic: FakeTopic) -> dict:
        return {"id": topic.id, "title": topic.title, "fancy_title": topic.title,
                "slug": topic.slug, "posts_count": len(topic.posts),
                "category_id": topic.category, "closed": topic.closed,
                "external_id": topic.external_id,
                "post_stream": {"posts": [{"post_number": i + 1, "cooked": f"<p>{raw}</p>"}
                                          for i, raw in enumerate(topic.posts)]}}

    async def by_external(self, request: web.Request) -> web.StreamResponse:
        found = self.by_external_id(request.match_info["external_id"])
        if not found:
            return web.json_response({"errors": ["The requested URL or resource could not "
                                                 "be found."], "error_type": "not_found"},
                                     status=404)
        topic = found[0]
        raise web.HTTPFound(f"/t/{topic.slug}/{topic.id}.json")

    async def show_topic(self, request: web.Request) -> web.Response:
        topic = self.topics.get(int(request.match_info["id"]))
        if topic is None:
            return web.json_response({"errors": ["not found"], "error_type": "not_found"},
                                     status=404)
        return web.json_response(self._topic_json(topic))

    async def set_status(self, request: web.Request) -> web.Response:
        data = await request.json()
        topic = self.topics.get(int(request.match_info["id"]))
        if topic is None:
            return web.json_response({"errors": ["not found"], "error_type": "not_found"},
                                     status=404)
        if data.get("status") == "closed":
            topic.closed = str(data.get("enabled")).lower() == "true"
        return web.json_response({"success": "OK", "topic_status_update": None})

    def _blurb(self, topic: FakeTopic, words: list[str]) -> str:
        text = html.escape(topic.posts[0], quote=False)
        for word in words:
            text = re.sub(f"(?i)({re.escape(word)})", r'<span class="search-highlight">\1</span>',
                          text)
        return text[:400]

    async def search(self, request: web.Request) -> web.Response:
        anonymous = self._anonymous(request)
        self.searches.append((dict(request.headers), anonymous))
        self.search_received.set()
        if self.search_scripted:
            status, body, headers = self.search_scripted.pop(0)
            return web.json_response(body, status=status, headers=headers)
        if self.hang_searches:
            await self.release.wait()
        query = request.query.get("q", "")
        after = None
        public_only = False
        categories: set[int] | None = None
        words = []
        for part in query.split():
            if part.startswith("after:"):
                after = date.fromisoformat(part[6:])
            elif part.lower() == "status:public":
                public_only = True
            elif part.lower().startswith(("category:", "categories:")):
                terms = part.split(":", 1)[1].split(",")
                categories = {int(t.lstrip("=")) for t in terms if t.lstrip("=").isdigit()}
            elif ":" not in part and not part.startswith("#"):
                words.append(_fold(part))
        topics = []
        for topic in sorted(self.topics.values(), key=lambda t: -t.created_at):
            text = _fold(topic.title + " " + " ".join(topic.posts))
            if after and date.fromtimestamp(topic.created_at) < after:
                continue
            hidden = topic.category is None or topic.category in self.restricted
            if (public_only or anonymous) and hidden:
                continue
            if categories is not None and topic.category not in categories:
                continue
            if words and all(w in text for w in words):
                topics.append(topic)
        return web.json_response({
            "posts": [{"id": t.id * 10, "name": "Membre", "username": "membre",
                       "created_at": "2026-03-01T10:00:00.000Z", "like_count": 0,
                       "blurb": self._blurb(t, words), "post_number": 1,
                       "topic_title_headline": html.escape(t.title), "topic_id": t.id}
                      for t in topics],
            "topics": [{"id": t.id, "title": t.title, "fancy_title": t.title, "slug": t.slug,
                        "posts_count": len(t.posts), "category_id": t.category,
                        "closed": t.closed, "created_at": "2026-03-01T10:00:00.000Z"}
                       for t in topics],
            "users": [], "categories": [], "tags": [], "groups": [],
            "grouped_search_result": {"more_posts": None, "more_users": None,
                                      "more_categories": None, "term": query,
                                      "search_log_id": 1, "more_full_page_results": None,
                                      "can_create_topic": True, "error": None,
                                      "post_ids": [t.id * 10 for t in topics],
                                      "user_ids": [], "category_ids": [], "tag_ids": [],
                                      "group_ids": []}})
