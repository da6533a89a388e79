"""What this process remembers between rollup passes, so a pass does only what changed.

- A day that ended :data:`SETTLE` seconds before a pass is final: once rolled up, later
  passes skip it, until results started in it are written late (a writer flushing what it
  kept while the database was away).
- The latency percentiles of a day not final yet (today, mostly) are recomputed at most
  every :data:`LATENCY_EVERY` seconds: they need every answered run of the day sorted, the
  costly part of a pass, while counts, uptime and worst status are cheap and refreshed at
  every pass. A day's first pass, and its final one, always compute them.

Nothing is stored: after a restart the first pass recomputes everything once, and looks
once for service rows computed under an older availability rule.
"""

from __future__ import annotations

import threading
import time
from datetime import date

#: seconds after its end from which a day is final: every run started in it has long been
#: written (runs last seconds, the writer flushes every second)
SETTLE = 900.0
#: seconds between two computations of the latency percentiles of a day not final yet
LATENCY_EVERY = 3600.0


class RollupLedger:
    """Final days and latency refreshes, per time zone and day.

    Thread-safe: the housekeeping thread marks days, the result writer reports writes.
    A write of a result older than :data:`SETTLE` (a late write) forgets the final days it
    falls in, and a pass running meanwhile does not mark the day it computed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._final: dict[tuple[str, date], float] = {}  # (zone, day) -> end of the day
        self._latency_at: dict[tuple[str, date], float] = {}
        self._late_writes = 0
        #: no service row computed under an older availability rule is left (set once a
        #: pass found fewer than it may recompute; see rollups.refresh_outdated)
        self.rule_current = False

    def is_final(self, zone: str, day: date) -> bool:
        """The day was rolled up once final and nothing was written in it since."""
        with self._lock:
            return (zone, day) in self._final

    def latency_due(self, zone: str, day: date, now: float) -> bool:
        """The day's latency percentiles are older than :data:`LATENCY_EVERY` (or were
        never computed by this process)."""
        with self._lock:
            done = self._latency_at.get((zone, day))
        return done is None or now - done >= LATENCY_EVERY

    def latency_done(self, zone: str, day: date, now: float) -> None:
        """The day's latency percentiles were computed as of ``now``."""
        with self._lock:
            self._latency_at[(zone, day)] = now

    def late_writes(self) -> int:
        """A counter of late writes, read before a pass to give to :meth:`mark`."""
        with self._lock:
            return self._late_writes

    def mark(self, zone: str, day: date, end: float, late_writes: int) -> bool:
        """Mark ``day`` final unless a late write happened since ``late_writes`` was read."""
        with self._lock:
            self._latency_at.pop((zone, day), None)
            if late_writes != self._late_writes:
                return False
            self._final[(zone, day)] = end
            return True

    def written(self, earliest: float, now: float | None = None) -> None:
        """Results started at ``earliest`` and later were just committed."""
        now = time.time() if now is None else now
        if earliest >= now - SETTLE:
            return  # the usual case: a fresh batch, no final day can hold it
        with self._lock:
            self._late_writes += 1
            self._final = {key: end for key, end in self._final.items() if end <= earliest}
