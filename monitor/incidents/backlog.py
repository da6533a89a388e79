"""Status changes waiting for the database, oldest first, bounded.

While the database is unreachable the incident engine keeps every confirmed change here
and records them in order once it is back. Memory stays bounded: beyond ``limit`` the
oldest change is dropped, counted, and logged (once per overflow, then a summary when the
backlog is empty again); the newest changes, which decide the services' current
incidents, are kept.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.incidents.engine import StatusChange

log = logging.getLogger("monitor.incidents.engine")


@dataclass(slots=True)
class Waiting:
    """A change not recorded yet; ``late`` once it could not be recorded when it came."""

    change: StatusChange
    late: bool = False


class ChangeBacklog:
    """A FIFO of :class:`Waiting` changes holding at most ``limit``.

    Used from the engine's thread only; ``len()`` may be read from elsewhere (metrics).
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._items: deque[Waiting] = deque()
        #: changes dropped since the start (the oldest, when full)
        self.dropped = 0
        self._dropped_now = 0  # since the backlog was last empty

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Waiting]:
        return iter(self._items)

    def append(self, change: StatusChange, *, late: bool = False) -> Waiting:
        """Queue ``change`` last; when full, drop the oldest first (and say so)."""
        if len(self._items) >= self.limit:
            old = self._items.popleft()
            self.dropped += 1
            self._dropped_now += 1
            if self._dropped_now == 1:
                log.warning("incident engine: %d status changes waiting for the database, "
                            "the oldest dropped (%s of %s at %.0f); raise "
                            "incidents.buffer_limit to keep more", self.limit,
                            old.change.current, old.change.service_id, old.change.at)
        waiting = Waiting(change, late)
        self._items.append(waiting)
        return waiting

    def first(self) -> Waiting:
        """The oldest change (the backlog must not be empty)."""
        return self._items[0]

    def pop_first(self) -> None:
        """Forget the oldest change (recorded, or refused by the database)."""
        self._items.popleft()
        if not self._items and self._dropped_now:
            log.warning("incident engine: %d status changes were dropped while the database "
                        "was unreachable (incidents.buffer_limit: %d); their incidents are "
                        "missing from the history", self._dropped_now, self.limit)
            self._dropped_now = 0
