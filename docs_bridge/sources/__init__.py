"""Guide sources: each reads one kind of documentation site into :class:`Guide` objects.

A source has an ``id`` and one coroutine, ``fetch(session, services)``, that returns every
guide it can offer now or raises (the cache then keeps serving the last good copy).
``services`` lets a search-based source (BookStack) ask about each service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import aiohttp

from docs_bridge.guides import Guide
from docs_bridge.matcher import ServiceInfo
from docs_bridge.settings import BookStackSource, MarkdownSource, MkDocsSource


class GuideSource(Protocol):
    """What the cache needs from a source."""

    id: str

    async def fetch(self, session: aiohttp.ClientSession,
                    services: list[ServiceInfo]) -> list[Guide]:
        """Every guide the source offers now; raises when the source cannot be read."""
        ...


def make_source(settings: BookStackSource | MkDocsSource | MarkdownSource, *,
                base_dir: Path, served_prefix: str,
                synonyms: dict[str, str] | None = None) -> GuideSource:
    """The reader for one configured source.

    :param base_dir: where relative folder paths start (the configuration's folder).
    :param served_prefix: URL prefix of the guides Vigie serves itself
        (``<public url>/guides``), for Markdown folders without a ``base_url``.
    :param synonyms: the configuration's extra vocabulary (BookStack searches use it).
    """
    from docs_bridge.sources.bookstack import BookStackReader
    from docs_bridge.sources.markdown import MarkdownReader
    from docs_bridge.sources.mkdocs import MkDocsReader

    if isinstance(settings, BookStackSource):
        return BookStackReader(settings, synonyms)
    if isinstance(settings, MkDocsSource):
        return MkDocsReader(settings)
    path = Path(settings.path)
    folder = path if path.is_absolute() else base_dir / path
    base_url = settings.base_url or f"{served_prefix.rstrip('/')}/{settings.id}"
    return MarkdownReader(settings.id, folder, base_url)
