"""The ``guides`` plugin: links the right guides to every incident.

Wiring: ``vigie_startup`` builds the :class:`~docs_bridge.library.GuideLibrary` from the
``guides:`` section, loads the disk cache at once (so matching works even when every
source is down at start), serves Markdown folders that have no ``base_url`` under
``/guides``, and starts the background refresh task; ``vigie_shutdown`` stops it.
``vigie_incident_links`` and ``vigie_assistance_suggestions`` (the guides for a member's
question, :mod:`docs_bridge.questions`) answer from memory only: no network, a few
milliseconds.

The entry point is the :data:`plugin` object; tests and embedding applications build
their own :class:`GuidesPlugin`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from docs_bridge.library import GuideLibrary
from docs_bridge.matcher import GuideMatcher, service_infos
from docs_bridge.settings import GuidesSettings, MarkdownSource
from docs_bridge.sources import make_source
from monitor.api import AssistanceQuery, IncidentEvent, Link, Suggestion, hookimpl

if TYPE_CHECKING:
    from monitor.api import StartupContext

log = logging.getLogger(__name__)

CACHE_FILE = "guides-cache.json"


class GuidesPlugin:
    """Hook implementations of the ``guides`` plugin, with the state they share."""

    def __init__(self) -> None:
        self.settings: GuidesSettings | None = None
        self.library: GuideLibrary | None = None
        self.matcher: GuideMatcher | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task | None = None

    def configure(self, settings: GuidesSettings, *, services: Any = (), data_dir: Path,
                  base_dir: Path, public_url: str | None = None) -> GuideLibrary:
        """Build the library and matcher (no I/O besides reading the disk cache)."""
        from docs_bridge.guide_pages import PREFIX  # with Markdown and nh3: guides only

        infos = service_infos(services)
        served_prefix = f"{(public_url or '').rstrip('/')}{PREFIX}"
        sources = [make_source(s, base_dir=base_dir, served_prefix=served_prefix,
                               synonyms=settings.synonyms) for s in settings.sources]
        self.settings = settings
        self.library = GuideLibrary(sources, data_dir / CACHE_FILE, infos)
        self.matcher = GuideMatcher(settings, infos)
        known = {s.id for s in infos}
        for service_id in settings.services:
            if known and service_id not in known:
                log.warning("guides: 'guides.services.%s' names no configured service",
                            service_id)
        loaded = self.library.load_cache()
        if loaded:
            log.info("guides: %d guides loaded from the cache", loaded)
        return self.library

    def links(self, event: IncidentEvent) -> list[Link]:
        """The guide links for ``event`` (empty before configuration)."""
        if self.library is None or self.matcher is None:
            return []
        return [g.link() for g in self.matcher.match(self.library.index, event)]

    def suggestions(self, question: AssistanceQuery) -> list[Suggestion]:
        """The guides for a member's question (empty before configuration)."""
        if self.library is None or self.matcher is None:
            return []
        from docs_bridge.questions import suggest_guides, suggestion

        return [suggestion(g) for g in suggest_guides(self.matcher, self.library.index,
                                                      question)]

    def served_folders(self, base_dir: Path) -> list[tuple[str, Path]]:
        """Markdown folders without a ``base_url``: Vigie serves them itself."""
        out = []
        for source in self.settings.sources if self.settings else ():
            if isinstance(source, MarkdownSource) and source.base_url is None:
                path = Path(source.path)
                out.append((source.id, path if path.is_absolute() else base_dir / path))
        return out

    # Hooks ------------------------------------------------------------------------------

    @hookimpl
    def vigie_register_config_sections(self) -> dict[str, type]:
        """The ``guides:`` section."""
        return {"guides": GuidesSettings}

    @hookimpl
    async def vigie_startup(self, ctx: StartupContext) -> None:
        """Load the cache, serve local guide folders, start refreshing the sources."""
        config = ctx.config
        settings = config.sections.get("guides")
        if settings is None:
            return
        base_dir = Path(config.path).parent
        library = self.configure(settings, services=config.services,
                                 data_dir=config.data_dir, base_dir=base_dir,
                                 public_url=config.file.site.public_url)
        folders = self.served_folders(base_dir)
        if folders:
            from docs_bridge.guide_pages import PREFIX, GuidePages

            # offered: enabled, and mail to send them with
            subscriptions = bool(getattr(getattr(ctx, "subscriptions", None), "available",
                                         False))
            ctx.mount(PREFIX, GuidePages(folders, config.file.site,
                                         assistance=getattr(ctx, "assistance", None) is not None,
                                         subscriptions=subscriptions))
        self._session = aiohttp.ClientSession(
            headers={"User-Agent": "Vigie guides"},
            timeout=aiohttp.ClientTimeout(total=60))
        self._task = asyncio.create_task(
            library.run(self._session, settings.refresh, settings.retry), name="vigie-guides")

    @hookimpl
    async def vigie_shutdown(self, ctx: StartupContext) -> None:
        """Stop the refresh task and close the HTTP session."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @hookimpl
    def vigie_incident_links(self, event: IncidentEvent) -> list[Link] | None:
        """The best guides for the incident, from the in-memory index."""
        return self.links(event) or None

    @hookimpl
    def vigie_assistance_suggestions(self, query: AssistanceQuery) -> list[Suggestion] | None:
        """The guides that may answer a member's question, from the in-memory index."""
        return self.suggestions(query) or None


#: the object the ``guides`` entry point registers
plugin = GuidesPlugin()
