"""Storm control: one grouped alert when several services go down together.

The rule (``notifications.storm``):

- incidents opened in a quiet time are announced at once, each on its own: below
  ``threshold`` openings within ``window``, nothing is delayed;
- the opening that makes ``threshold`` starts a group: it and the openings that follow are
  held, and ``hold`` after the first of them one grouped alert lists them all, with the
  openings announced alone during the last ``window`` (marked so). No opening waits longer
  than ``hold``: the first alert of a storm is late by ``hold`` at most;
- openings after the group left start the next group at once (the storm goes on), held
  ``hold`` at most too.

The grouped alert is written when it is sent, so it tells each service's state at that
moment (the notifier reads the live states), not the state the opening was written with.

Holding must neither lose an alert on a crash nor stall the plugin's outbox lane, which
keeps each incident's entries in order. So a held opening's call raises
:class:`~monitor.notifications.RetryLater` until its group has left: the entry stays
pending in the outbox (durable) while the lane goes on with the next ones. The group
leaves on the gate's own timer, whenever the outbox calls again. When the outbox calls
again, the grouped alert has been sent (the call waits if it is being sent), and the
delivery memo knows which receivers it reached: the call sends the event on its own to any
receiver the group missed, and otherwise succeeds without sending anything. After a
restart the memo is empty, so a held event goes out again, alone or in a new group: a
duplicate at worst, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from monitor.api import IncidentEvent, RetryLater

log = logging.getLogger(__name__)

#: sends the grouped alert: (openings already announced, openings held)
SendGroup = Callable[[Sequence[IncidentEvent], Sequence[IncidentEvent]], Awaitable[None]]

_MEMORY = 10_000


class Clock(Protocol):
    """Where the gate reads the time and waits; tests give one they move by hand."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""


class LoopClock:
    """The event loop's monotonic clock."""

    def now(self) -> float:
        """The running loop's time."""
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


@dataclass(eq=False)
class _Storm:
    """Openings held until ``closes_at``, then sent as one grouped alert."""

    closes_at: float
    reported: list[IncidentEvent]
    held: list[IncidentEvent] = field(default_factory=list)
    #: the task sending the grouped alert, once it closed
    sending: asyncio.Task | None = None


class StormGate:
    """Decides whether an ``opened`` event goes out now or waits to be grouped."""

    def __init__(self, window: float, threshold: int, hold: float, send_group: SendGroup,
                 clock: Clock | None = None) -> None:
        self.window = window
        self.threshold = threshold
        self.hold = hold
        self._send_group = send_group
        #: the time source of every decision (tests replace it with one they control)
        self.clock: Clock = clock or LoopClock()
        # the outbox's clock and polling add their own delay: ask for a little more
        self._margin = min(1.0, hold / 10)
        #: (arrival, event) of the openings announced alone during the last window
        self._recent: deque[tuple[float, IncidentEvent]] = deque()
        self._storm: _Storm | None = None
        #: idempotency key → the storm that holds (or held) the opening
        self._member: OrderedDict[str, _Storm] = OrderedDict()
        #: idempotency keys of the openings announced alone (a retry goes out at once)
        self._seen: OrderedDict[str, None] = OrderedDict()
        #: the task sending each group when its hold is over
        self._closers: dict[asyncio.Task, _Storm] = {}

    async def admit(self, event: IncidentEvent) -> None:
        """Return when ``event`` may be delivered now (its receivers not yet reached by a
        grouped alert still need it); raise while it is held for a grouped alert.

        :raises RetryLater: held; the outbox calls again once the group has left.
        """
        now = self.clock.now()
        storm = self._member.get(event.idempotency_key)
        if storm is not None:
            if storm.sending is None:
                raise self._hold(storm, now)
            await asyncio.wait([storm.sending])  # its failure is the memo's business
            return
        if event.idempotency_key in self._seen:
            return
        while self._recent and self._recent[0][0] <= now - self.window:
            self._recent.popleft()
        storm = self._storm
        if storm is None:
            if len(self._recent) + 1 < self.threshold:
                self._recent.append((now, event))
                _remember(self._seen, event.idempotency_key, None)
                return
            storm = self._storm = _Storm(now + self.hold, [e for _, e in self._recent])
            closer = asyncio.get_running_loop().create_task(self._close_later(storm),
                                                            name="vigie-notify-storm")
            self._closers[closer] = storm
            closer.add_done_callback(lambda task: self._closers.pop(task, None))
        storm.held.append(event)
        _remember(self._member, event.idempotency_key, storm)
        raise self._hold(storm, now)

    def _hold(self, storm: _Storm, now: float) -> RetryLater:
        wait = max(0.0, storm.closes_at - now) + self._margin
        return RetryLater(wait, f"held for a grouped alert (storm control), sent in {wait:.0f}s")

    async def _close_later(self, storm: _Storm) -> None:
        await self.clock.sleep(max(0.0, storm.closes_at - self.clock.now()))
        if self._storm is storm:
            self._storm = None
        # a storm that goes on opens the next group at once: its openings count as recent
        now = self.clock.now()
        self._recent.extend((now, event) for event in storm.held)
        log.info("notifier: %d incidents opened together, sending a grouped alert",
                 len(storm.reported) + len(storm.held))
        storm.sending = asyncio.create_task(self._send_group(storm.reported, storm.held))
        try:
            await storm.sending
        except Exception:  # the held openings' next calls send what the group missed
            log.warning("notifier: the grouped alert failed", exc_info=True)

    async def aclose(self) -> None:
        """Stop (at shutdown): a storm still open is dropped, its openings are safe in the
        outbox and go out after restart; a grouped alert being sent is waited for."""
        for closer, storm in list(self._closers.items()):
            if storm.sending is None:
                closer.cancel()
        await asyncio.gather(*self._closers, return_exceptions=True)
        self._storm = None


def _remember(memory: OrderedDict, key: str, value) -> None:
    memory[key] = value
    while len(memory) > _MEMORY:
        memory.popitem(last=False)
