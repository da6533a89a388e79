"""Log lines an attacker cannot multiply: one line per key and period, the rest counted.

A refused login, a refused heartbeat, an unknown token: each is worth a line in the log,
but a flood of them must not become a flood of lines (disk, journald's own rate limit
dropping the lines that matter). :class:`LogThrottle` lets the first event of each key
(an address, a check) through per period and counts the others, so the next line can say
how many were left out.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

#: keys remembered at most (the oldest forgotten first): bounded under a flood of keys
MAX_KEYS = 10_000


class LogThrottle:
    """One event per key and ``period`` seconds; thread-safe."""

    def __init__(self, period: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_KEYS) -> None:
        self.period = period
        self.clock = clock
        self.max_keys = max_keys
        self._lock = threading.Lock()
        #: key → (when the next line may go, events left out since the last line)
        self._keys: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()

    def allow(self, key: Hashable = "") -> int | None:
        """None when this event is left out; else how many of ``key``'s events were
        left out since its last line (0 for the first), to say in this one."""
        with self._lock:
            now = self.clock()
            due, left_out = self._keys.get(key, (0.0, 0))
            if now < due:
                self._keys[key] = (due, left_out + 1)
                return None
            self._keys[key] = (now + self.period, 0)
            self._keys.move_to_end(key)
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
            return left_out


def left_out(count: int) -> str:
    """`` (12 more since the last line)`` for a log message, or nothing."""
    return f" ({count} more since the last line)" if count else ""
