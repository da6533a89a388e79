"""A small Discourse API client: create a topic, reply, close, find by external id, search.

Shapes (Discourse's API documentation): ``Api-Key`` and ``Api-Username`` headers;
``POST /posts.json`` creates a topic (``title``, ``raw``, ``category``, ``tags``,
``external_id``) or a reply (``topic_id``, ``raw``) and answers a post object
(``id``, ``topic_id``, ``topic_slug``…); ``GET /t/external_id/{id}.json`` redirects to
the topic's JSON or answers 404; ``PUT /t/{id}/status.json`` closes a topic;
``GET /search.json?q=`` answers ``topics[]`` (each with its ``category_id``; search filters
such as ``status:public`` and ``categories:=5,=7`` narrow it) and ``posts[]`` (each with its
``topic_id`` and a ``blurb``, an excerpt around the words found). Every error is mapped by
:mod:`monitor.httpcall` (429 → retry later, 422 → dead letter, …).

:func:`anonymous_search` asks the same search as a visitor who is not signed in: no
``Api-Key``, no ``Api-Username``, and a session that keeps no cookie, so only what anyone
can read comes back (for members' pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from monitor.api import PermanentFailure, call, clean_line
from docs_bridge.settings import ForumSettings

SERVICE = "Discourse"


@dataclass(frozen=True, slots=True)
class Topic:
    """A forum topic, as much as Vigie needs of it."""

    id: int
    slug: str
    title: str
    url: str
    #: the topic's category (None for a private message, which has none)
    category_id: int | None = None


class DiscourseClient:
    """Calls one Discourse forum with the configured key."""

    def __init__(self, settings: ForumSettings, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.session = session
        self.base = settings.url

    def _headers(self) -> dict[str, str]:
        return {"Api-Key": self.settings.api_key.get_secret_value(),
                "Api-Username": self.settings.api_username,
                "Accept": "application/json"}

    async def _call(self, method: str, path: str, **kwargs: Any):
        return await call(self.session, method, f"{self.base}{path}", service=SERVICE,
                          timeout=self.settings.timeout, headers=self._headers(),
                          secrets=(self.settings.api_key.get_secret_value(),), **kwargs)

    def topic_url(self, slug: str, topic_id: int) -> str:
        """The topic's public address (:func:`topic_url`)."""
        return topic_url(self.base, slug, topic_id)

    async def create_topic(self, title: str, raw: str, external_id: str) -> Topic:
        """Create a topic in the configured category, with its first post."""
        body: dict[str, Any] = {"title": title, "raw": raw, "category": self.settings.category,
                                "external_id": external_id}
        if self.settings.tags:
            body["tags"] = list(self.settings.tags)
        post = (await self._call("POST", "/posts.json", json=body)).json() or {}
        try:
            topic_id = int(post["topic_id"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("Discourse: the answer to a topic creation has no topic_id") from None
        slug = str(post.get("topic_slug") or "")
        return Topic(topic_id, slug, title, self.topic_url(slug, topic_id))

    async def reply(self, topic_id: int, raw: str) -> int | None:
        """Post a reply; return its post id (None when Discourse says the same text was
        just posted, which means an earlier attempt of this reply went through)."""
        try:
            post = (await self._call("POST", "/posts.json",
                                     json={"topic_id": topic_id, "raw": raw})).json() or {}
        except PermanentFailure as failure:
            if "too similar" in str(failure).lower():
                return None
            raise
        return post.get("id")

    async def close(self, topic_id: int) -> None:
        """Close the topic (members can read it, not reply)."""
        await self._call("PUT", f"/t/{topic_id}/status.json",
                         json={"status": "closed", "enabled": "true"})

    async def topic_by_external_id(self, external_id: str) -> Topic | None:
        """The topic created with ``external_id``, or None."""
        answer = await self._call("GET", f"/t/external_id/{external_id}.json", accept=(404,))
        if answer.status == 404:
            return None
        data = answer.json() or {}
        if "id" not in data:
            return None
        topic_id = int(data["id"])
        slug = str(data.get("slug") or "")
        return Topic(topic_id, slug, _title(data.get("title")), self.topic_url(slug, topic_id))

    async def search_topics(self, query: str) -> list[Topic]:
        """Topics found by Discourse's search (``q`` may hold ``after:``, ``#category``…).

        The search runs as ``api_username``, who may read private categories and messages:
        callers showing the topics to members filter with :func:`public_search`."""
        data = (await self._call("GET", "/search.json", params={"q": query})).json() or {}
        topics = []
        for item in data.get("topics") or ():
            if isinstance(item, dict) and "id" in item:
                slug = str(item.get("slug") or "")
                category = item.get("category_id")
                topics.append(Topic(int(item["id"]), slug, _title(item.get("title")),
                                    self.topic_url(slug, int(item["id"])),
                                    category if isinstance(category, int) else None))
        return topics


@dataclass(frozen=True, slots=True)
class Found:
    """A topic an anonymous search found, with the blurb of its first matching post."""

    topic: Topic
    blurb: str = ""


async def anonymous_search(session: aiohttp.ClientSession, base: str, query: str,
                           timeout: float) -> list[Found]:
    """``GET {base}/search.json?q=query`` without credentials (``session`` must send none
    and keep no cookie): the topics anyone can read, best first, with their blurbs as
    Discourse wrote them (HTML)."""
    answer = await call(session, "GET", f"{base}/search.json", service=SERVICE,
                        timeout=timeout, headers={"Accept": "application/json"},
                        params={"q": query})
    data = answer.json()
    if not isinstance(data, dict):
        return []
    blurbs: dict[int, str] = {}
    for post in data.get("posts") or ():
        if isinstance(post, dict) and isinstance(post.get("topic_id"), int):
            blurbs.setdefault(post["topic_id"], str(post.get("blurb") or ""))
    found = []
    for item in data.get("topics") or ():
        if not (isinstance(item, dict) and isinstance(item.get("id"), int)):
            continue
        slug = clean_line(item.get("slug"), 200)
        category = item.get("category_id")
        topic = Topic(item["id"], slug, _title(item.get("title")),
                      topic_url(base, slug, item["id"]),
                      category if isinstance(category, int) else None)
        found.append(Found(topic, blurbs.get(topic.id, "")))
    return found


def topic_url(base: str, slug: str, topic_id: int) -> str:
    """A topic's public address ``{base}/t/{slug}/{id}``; ``slug`` comes from the forum,
    so it is made safe (:mod:`monitor.safetext`) and quoted as one path segment."""
    slug = quote(clean_line(slug, 200), safe="-_.~%") or "topic"
    return f"{base}/t/{slug}/{topic_id}"


def _title(value: Any) -> str:
    """A topic title from the forum: outside text, made safe (:mod:`monitor.safetext`)."""
    return clean_line(value, 300)


def public_search(terms: str, categories: tuple[int, ...] | list[int] = ()) -> str:
    """Search filters that keep only what anonymous visitors may read.

    ``status:public`` keeps topics of categories that are not read-restricted (private
    messages have no category, so they go too); ``categories:=5,=7`` keeps those exact
    categories, without their subcategories.
    """
    query = f"{terms} status:public"
    if categories:
        query += " categories:" + ",".join(f"={c}" for c in categories)
    return query


def is_public(topic: Topic, categories: tuple[int, ...] | list[int] = ()) -> bool:
    """Second line of defence after :func:`public_search`: a topic without a category (a
    private message) or outside ``categories`` (when given) is never shown."""
    if topic.category_id is None:
        return False
    return not categories or topic.category_id in categories
