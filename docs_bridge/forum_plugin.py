"""The ``forum`` plugin: a Discourse topic per serious incident, kept up to date.

- **opened** (impact at least ``forum.min_impact``): find the topic by its external id
  (``<prefix>-<reference>``; a topic created by an earlier attempt whose answer was lost
  is found, never duplicated), else create it; then search recent related topics.
  Returns the topic (public link, kind ``forum``, ``external_id`` = topic id) and the
  related topics (public links, kind ``discussion``): the search runs as the bot account,
  which may read private categories, so it asks Discourse for public topics only
  (``status:public``, and ``related_categories`` when set) and drops anything else.
- **updated**: reply on the topic found in ``event.own_links``; an incident that becomes
  serious enough only now gets its topic now. Reminders are not posted.
- **resolved**: a last reply, then the topic is closed when ``close_on_resolve``.
- **a member's question** (``vigie_assistance_suggestions``): public threads that may
  answer it, searched as an anonymous visitor (:mod:`docs_bridge.forum_questions`); a
  failing or slow forum gives nothing, and the member sees the guides.

Errors are mapped by :mod:`monitor.httpcall`: the outbox retries, honours
``Retry-After`` and dead-letters a 4xx with Discourse's message.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import date, timedelta
from typing import TYPE_CHECKING

import aiohttp

from docs_bridge import forum_text
from docs_bridge.discourse import DiscourseClient, Topic, is_public, public_search
from docs_bridge.forum_questions import forum_suggestions
from docs_bridge.settings import ForumSettings, impact_reaches
from monitor.api import (
    AssistanceQuery,
    IncidentEvent,
    Link,
    LogThrottle,
    Suggestion,
    hookimpl,
    left_out,
)

if TYPE_CHECKING:
    from monitor.api import StartupContext

log = logging.getLogger(__name__)

TOPIC_KIND = "forum"
DISCUSSION_KIND = "discussion"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def external_id(prefix: str, reference: str) -> str:
    """The topic's stable external id: letters, digits, ``_`` and ``-``, 50 at most
    (Discourse's rule)."""
    return _UNSAFE.sub("-", f"{prefix}-{reference}").strip("-")[:50]


def own_topic(event: IncidentEvent) -> Link | None:
    """The topic this plugin attached to the incident earlier, if any."""
    return next((link for link in event.own_links
                 if link.kind == TOPIC_KIND and link.external_id), None)


class ForumPlugin:
    """Hook implementations of the ``forum`` plugin, with the state they share."""

    def __init__(self) -> None:
        self.settings: ForumSettings | None = None
        self.client: DiscourseClient | None = None
        self.zone = "Europe/Paris"
        self._session: aiohttp.ClientSession | None = None
        #: the session of anonymous searches: no credentials, no cookie jar
        self.anonymous: aiohttp.ClientSession | None = None
        self._failures = LogThrottle(300.0)

    def configure(self, settings: ForumSettings, session: aiohttp.ClientSession,
                  zone: str = "Europe/Paris",
                  anonymous: aiohttp.ClientSession | None = None) -> None:
        """Use ``settings`` and ``session`` (the caller closes the sessions);
        ``anonymous`` (a session that keeps no cookie) searches for members' questions,
        none without it."""
        self.settings = settings
        self.client = DiscourseClient(settings, session)
        self.zone = zone
        self.anonymous = anonymous

    # The work ---------------------------------------------------------------------------

    def _topic_link(self, topic: Topic) -> Link:
        return Link(kind=TOPIC_KIND, title=topic.title, url=topic.url, public=True,
                    external_id=str(topic.id))

    async def ensure_topic(self, event: IncidentEvent) -> Topic:
        """The incident's topic: found by external id, else created."""
        assert self.client is not None and self.settings is not None
        ext = external_id(self.settings.external_id_prefix, event.reference)
        found = await self.client.topic_by_external_id(ext)
        if found is not None:
            return found
        return await self.client.create_topic(forum_text.topic_title(event),
                                              forum_text.topic_body(event, self.zone), ext)

    async def related(self, event: IncidentEvent, exclude: int | None) -> list[Link]:
        """Recent public topics about the incident's services (best effort: a failing
        search never fails the delivery). Only topics anonymous visitors can read: the
        links are shown on the status page."""
        assert self.client is not None and self.settings is not None
        if not self.settings.related_max:
            return []
        after = (date.fromtimestamp(event.at or time.time())
                 - timedelta(days=self.settings.related_days)).isoformat()
        links: list[Link] = []
        seen = {exclude}
        categories = self.settings.related_categories
        for service in event.services:
            words = re.sub(r"\(.*?\)", " ", service.name_fr).split()
            query = public_search(f"{' '.join(words)} after:{after} order:latest", categories)
            try:
                topics = await self.client.search_topics(query)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("forum: related-topic search failed: %s", exc)
                return links
            for topic in topics:
                if not is_public(topic, categories):
                    continue
                if topic.id not in seen and len(links) < self.settings.related_max:
                    seen.add(topic.id)
                    links.append(Link(kind=DISCUSSION_KIND, title=topic.title, url=topic.url,
                                      public=True, external_id=str(topic.id)))
        return links

    async def open_topic(self, event: IncidentEvent) -> list[Link]:
        """Find or create the topic, then the related discussions."""
        topic = await self.ensure_topic(event)
        return [self._topic_link(topic), *await self.related(event, exclude=topic.id)]

    def _serious(self, event: IncidentEvent) -> bool:
        assert self.settings is not None
        return impact_reaches(event.impact, self.settings.min_impact)

    # Hooks ------------------------------------------------------------------------------

    @hookimpl
    def vigie_register_config_sections(self) -> dict[str, type]:
        """The ``forum:`` section."""
        return {"forum": ForumSettings}

    @hookimpl
    async def vigie_startup(self, ctx: StartupContext) -> None:
        """Open the HTTP session when a ``forum:`` section is configured."""
        settings = ctx.config.sections.get("forum")
        if settings is None:
            return
        self._session = aiohttp.ClientSession(headers={"User-Agent": "Vigie forum"})
        # a cookie set by an answer to the bot's calls must never reach a member's search
        anonymous = aiohttp.ClientSession(headers={"User-Agent": "Vigie forum"},
                                          cookie_jar=aiohttp.DummyCookieJar())
        self.configure(settings, self._session, ctx.config.file.site.timezone, anonymous)

    @hookimpl
    async def vigie_shutdown(self, ctx: StartupContext) -> None:
        """Close the HTTP sessions."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.anonymous is not None:
            await self.anonymous.close()
            self.anonymous = None

    @hookimpl
    async def vigie_incident_opened(self, event: IncidentEvent) -> list[Link] | None:
        """Create (or find) the incident's topic when it is serious enough."""
        if self.client is None or not self._serious(event) or own_topic(event):
            return None
        return await self.open_topic(event)

    @hookimpl
    async def vigie_incident_updated(self, event: IncidentEvent) -> list[Link] | None:
        """Reply on the topic; create it if the incident just became serious enough."""
        if self.client is None or self.settings is None or event.kind == "reminder":
            return None
        topic = own_topic(event)
        if topic is None:
            return await self.open_topic(event) if self._serious(event) else None
        if self.settings.reply_on_update:
            await self.client.reply(int(topic.external_id),
                                    forum_text.update_body(event, self.zone))
        return None

    @hookimpl
    async def vigie_incident_resolved(self, event: IncidentEvent) -> list[Link] | None:
        """A last reply, then close the topic if configured."""
        if self.client is None or self.settings is None:
            return None
        topic = own_topic(event)
        if topic is None:
            return None
        topic_id = int(topic.external_id)
        await self.client.reply(topic_id, forum_text.resolution_body(event, self.zone))
        if self.settings.close_on_resolve:
            await self.client.close(topic_id)
        return None


    @hookimpl
    async def vigie_assistance_suggestions(self,
                                           query: AssistanceQuery) -> list[Suggestion] | None:
        """Public threads that may answer a member's question (nothing when the forum
        fails or is slow: the member still gets the guides)."""
        settings = self.settings
        if settings is None or self.anonymous is None or not settings.suggestions:
            return None
        try:
            found = await forum_suggestions(self.anonymous, settings.url, query,
                                            settings.suggestions, settings.suggestions_timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever the forum did, the member's page goes on
            count = self._failures.allow()
            if count is not None:
                log.warning("forum: the search for a member's question failed: %s%s", exc,
                            left_out(count))
            return None
        return found or None

#: the object the ``forum`` entry point registers
plugin = ForumPlugin()
