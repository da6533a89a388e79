"""Vigie short of its own resources: counted, and told to the volunteers once per episode.

Two sources note a shortage:

- ``checks``: a check run failed because the OS refused Vigie a local resource (too many
  open files…). The run is not counted against its target (:mod:`monitor.state`), so no
  outage is declared, but the checks are blind meanwhile: a *critical* alert.
- ``listener``: the HTTP listener stopped accepting connections to keep its reserve of
  file descriptors for the checks, or the OS refused it one (a flood of connections,
  most likely): a *warning*, since the checks go on.

Each source raises one :class:`~monitor.notifications.SystemAlert` (code
``vigie.resources``) when an episode begins, and nothing more until it has been calm for
:data:`CALM_AFTER` seconds; then it may raise again. The runtime delivers the alerts
(:meth:`monitor.runtime.Runtime`), and the counts feed ``vigie_resource_shortages_total``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.notifications import SystemAlert
from monitor.resources import Descriptors
from monitor.waits import wait_event
from monitor.words import Words, _, load, n_

if TYPE_CHECKING:
    from monitor.runtime import Runtime

log = logging.getLogger(__name__)

CODE = "vigie.resources"
#: seconds without a shortage that end an episode
CALM_AFTER = 600.0
SOURCES = ("checks", "listener")
#: seconds between two looks for episodes to tell or end (a new one is told at once), and
#: before an alert that could not be written is tried again
LOOK_EVERY = 60.0
RETRY_AFTER = 5.0


@dataclass(slots=True)
class _Episode:
    first: float
    last: float
    count: int = 0
    raised: bool = False


class Shortage:
    """Counts shortages by source and turns each new episode into one alert.

    ``note`` may be called from any thread (the listener has its own); ``on_new`` is
    called, from the noting thread, when an episode begins.
    """

    def __init__(self, descriptors: Descriptors | None = None, *, reserve: int = 0,
                 calm_after: float = CALM_AFTER, clock: Callable[[], float] = time.time,
                 on_new: Callable[[], None] | None = None) -> None:
        self.descriptors = descriptors
        self.reserve = reserve
        load()  # the alerts are worded when descriptors are short: no catalogue opens then
        self.calm_after = calm_after
        self.clock = clock
        self.on_new = on_new
        #: shortages noted since start, by source
        self.counts: Counter[str] = Counter()
        self._episodes: dict[str, _Episode] = {}
        self._lock = threading.Lock()

    def note(self, source: str) -> None:
        """One more shortage from ``source`` (``checks`` or ``listener``)."""
        now = self.clock()
        with self._lock:
            self.counts[source] += 1
            episode = self._episodes.get(source)
            began = episode is None or now - episode.last >= self.calm_after
            if began:
                episode = self._episodes[source] = _Episode(now, now)
            episode.last = now
            episode.count += 1
        if began and self.on_new is not None:
            self.on_new()

    def due(self, now: float | None = None) -> list[SystemAlert]:
        """The alerts of episodes not told yet (marked told); ends calm episodes."""
        now = self.clock() if now is None else now
        alerts = []
        with self._lock:
            for source, episode in list(self._episodes.items()):
                if now - episode.last >= self.calm_after:
                    del self._episodes[source]
                elif not episode.raised:
                    episode.raised = True
                    alerts.append(self._alert(source, episode, now))
        return alerts

    def retry(self, alert: SystemAlert) -> None:
        """``alert`` could not be delivered: :meth:`due` gives it again."""
        with self._lock:
            episode = self._episodes.get(alert.details.get("source", ""))
            if episode is not None:
                episode.raised = False

    def _alert(self, source: str, episode: _Episode, now: float) -> SystemAlert:
        details = {"source": source, "count": str(episode.count),
                   "since": f"{episode.first:.0f}"}
        key = f"{CODE}:{source}:{int(episode.first)}"
        if source == "checks":
            return SystemAlert.worded(
                CODE, key, "critical",
                _("Vigie is short of resources: some checks could not be judged"),
                self._with_descriptors(n_(
                    "{n} check run failed for want of local resources (file descriptors or "
                    "memory): it could not be judged, and the services keep their previous "
                    "status (no outage declared, none cleared). While this lasts Vigie is "
                    "blind.",
                    "{n} check runs failed for want of local resources (file descriptors or "
                    "memory): they could not be judged, and the services keep their previous "
                    "status (no outage declared, none cleared). While this lasts Vigie is "
                    "blind.", episode.count)),
                now, details=details)
        if self.reserve:
            why = n_("The HTTP listener stopped accepting connections to keep {n} file "
                     "descriptor for the checks, which go on. A flood of connections? See "
                     "the limits of the listener in docs/operations.md.",
                     "The HTTP listener stopped accepting connections to keep {n} file "
                     "descriptors for the checks, which go on. A flood of connections? See "
                     "the limits of the listener in docs/operations.md.", self.reserve)
        else:
            why = _("The HTTP listener cannot accept connections: no file descriptor is "
                    "free. A flood of connections? See the limits of the listener in "
                    "docs/operations.md.")
        return SystemAlert.worded(
            CODE, key, "warning",
            _("Vigie is refusing connections: file descriptors nearly exhausted"),
            self._with_descriptors(why), now, details=details)

    def _with_descriptors(self, message: Words) -> Words:
        """``message`` followed by how many file descriptors are open, when known."""
        used = self.descriptors.open_count() if self.descriptors is not None else None
        if used is None:
            return message
        return _("{message} File descriptors open: {used} of {limit}.", message=message,
                 used=used, limit=self.descriptors.limit())


class ShortageTeller:
    """Delivers a running Vigie's shortage alerts: through the outbox (kept and retried
    like every alert) once the database is prepared, directly and best effort before
    (as the "database unreachable" alert). Takes over ``runtime.shortage.on_new``."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.shortage = runtime.shortage
        self.shortage.on_new = self.wake
        self._news = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """An episode began (any thread): tell it without waiting."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._news.set)

    async def run(self) -> None:
        """Tell each episode as it begins, until cancelled."""
        self._loop = asyncio.get_running_loop()
        while True:
            await wait_event(self._news, LOOK_EVERY)
            self._news.clear()
            for alert in self.shortage.due():
                await self._tell(alert)

    async def _tell(self, alert: SystemAlert) -> None:
        if not await self.runtime.incidents.tell(alert):
            log.warning("retrying the resource alert in %.0fs", RETRY_AFTER)
            self.shortage.retry(alert)
            asyncio.get_running_loop().call_later(RETRY_AFTER, self._news.set)
