"""The guide library: every source's guides, indexed in memory and cached on disk.

Matching must be instant and must work when the guide site is down (an outage of the
guide site is exactly when members need the guides Vigie already knows). So the library
keeps, per source, the last list of guides it read successfully: in memory, and in a JSON
file (``guides-cache.json`` in the data directory) read at start before any source is
contacted. A refresh that fails for one source keeps that source's previous guides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from docs_bridge.guides import Guide
from docs_bridge.matcher import ServiceInfo
from docs_bridge.ranking import GuideIndex
from docs_bridge.sources import GuideSource

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """How a source is doing, for the logs, the admin area and tests."""

    id: str
    guides: int
    fetched_at: float | None
    last_error: str | None
    failures: int


class GuideLibrary:
    """Guides of every configured source, searchable through :attr:`index`."""

    def __init__(self, sources: list[GuideSource], cache_path: Path | None = None,
                 services: list[ServiceInfo] | None = None) -> None:
        self.sources = sources
        self.cache_path = cache_path
        self.services = services or []
        self._guides: dict[str, list[Guide]] = {s.id: [] for s in sources}
        self._fetched_at: dict[str, float | None] = {s.id: None for s in sources}
        self._errors: dict[str, str | None] = {s.id: None for s in sources}
        self._failures: dict[str, int] = {s.id: 0 for s in sources}
        #: replaced whole after each change, so readers in other threads never see a
        #: half-built index
        self.index = GuideIndex([])

    def guides(self) -> list[Guide]:
        """Every guide known now."""
        return list(self.index.guides)

    def status(self) -> list[SourceStatus]:
        """One :class:`SourceStatus` per source."""
        return [SourceStatus(s.id, len(self._guides[s.id]), self._fetched_at[s.id],
                             self._errors[s.id], self._failures[s.id]) for s in self.sources]

    def _rebuild(self) -> None:
        self.index = GuideIndex(g for s in self.sources for g in self._guides[s.id])

    # Disk cache -------------------------------------------------------------------------

    def load_cache(self) -> int:
        """Read the disk cache (sources no longer configured are ignored); return the
        number of guides loaded. A missing or unreadable cache is not an error."""
        if self.cache_path is None or not self.cache_path.exists():
            return 0
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
            if data.get("version") != CACHE_VERSION:
                return 0
            for source_id, entry in data.get("sources", {}).items():
                if source_id in self._guides:
                    self._guides[source_id] = [Guide.from_dict(g) for g in entry["guides"]]
                    self._fetched_at[source_id] = entry.get("fetched_at")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("guides: ignoring unreadable cache %s: %s", self.cache_path, exc)
            return 0
        self._rebuild()
        return len(self.index)

    def save_cache(self) -> None:
        """Write the disk cache atomically (a crash never leaves half a file)."""
        if self.cache_path is None:
            return
        data = {"version": CACHE_VERSION, "sources": {
            s.id: {"fetched_at": self._fetched_at[s.id],
                   "guides": [g.to_dict() for g in self._guides[s.id]]}
            for s in self.sources}}
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.cache_path)

    # Refreshing -------------------------------------------------------------------------

    async def refresh(self, session: aiohttp.ClientSession) -> bool:
        """Read every source once; return True when all succeeded.

        A source that fails keeps its previous guides; the failure is logged once when
        it starts (and when it ends), not at every attempt.
        """
        changed, all_ok = False, True
        for source in self.sources:
            try:
                guides = await source.fetch(session, self.services)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any source failure leaves the cache serving
                all_ok = False
                self._failures[source.id] += 1
                if self._errors[source.id] is None:
                    log.warning("guides: source %s cannot be read (%s); serving %d cached "
                                "guides", source.id, exc, len(self._guides[source.id]))
                self._errors[source.id] = str(exc) or type(exc).__name__
                continue
            if self._errors[source.id] is not None:
                log.info("guides: source %s can be read again", source.id)
            self._errors[source.id], self._failures[source.id] = None, 0
            self._fetched_at[source.id] = time.time()
            if guides != self._guides[source.id]:
                self._guides[source.id] = guides
            changed = True
        if changed:
            self._rebuild()
            try:
                await asyncio.to_thread(self.save_cache)
            except OSError as exc:
                log.warning("guides: cannot write the cache %s: %s", self.cache_path, exc)
        return all_ok

    async def run(self, session: aiohttp.ClientSession, every: float, retry: float) -> None:
        """Refresh now and then for ever: every ``every`` seconds, or ``retry`` seconds
        after a refresh that failed somewhere."""
        while True:
            try:
                ok = await self.refresh(session)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not end refreshing for good
                log.exception("guides: refresh failed")
                ok = False
            await asyncio.sleep(every if ok else min(retry, every))
