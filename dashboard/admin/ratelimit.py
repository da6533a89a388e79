"""Counting failed logins, per client address and per user name, in memory.

After ``limit`` failures within ``window`` seconds for the same address *or* the same
name, further attempts are refused (HTTP 429) until the oldest failure leaves the window.
A success clears the name's failures (not the address's: one good password must not
reopen an address that is guessing others). An attempt whose address is None counts
against its name only: the caller passes None when the address is the reverse proxy's,
which every visitor shares (see :func:`dashboard.admin.auth.client_address`).

The counts live in the process: a restart forgets them and several dashboard processes
count separately. That is enough to make guessing a password over the network
impractically slow; put a reverse proxy's limit in front for more.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

#: failures allowed per key within the window
DEFAULT_LIMIT = 5
#: seconds a failure counts
DEFAULT_WINDOW = 15 * 60.0
#: keys remembered at most (the oldest are dropped): bounds memory under a flood
MAX_KEYS = 100_000


class LoginLimiter:
    """Sliding-window failure counter, thread-safe (the WSGI server runs threads)."""

    def __init__(self, limit: int = DEFAULT_LIMIT, window: float = DEFAULT_WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(address: str | None, username: str) -> tuple[str, ...]:
        """The keys an attempt counts against: its name's, and its address's unless the
        address is None (unknown, or shared by everybody)."""
        name = f"user:{(username or '').strip().lower()}"
        return (name,) if not address else (name, f"ip:{address}")

    def retry_after(self, address: str | None, username: str) -> float:
        """Seconds until an attempt is allowed again (0 when allowed now)."""
        now = self._clock()
        with self._lock:
            wait = 0.0
            for key in self.keys(address, username):
                times = self._recent(key, now)
                if len(times) >= self.limit:
                    wait = max(wait, times[0] + self.window - now)
            return wait

    def failed(self, address: str | None, username: str) -> None:
        """Record a failed attempt."""
        now = self._clock()
        with self._lock:
            for key in self.keys(address, username):
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
            while len(self._failures) > MAX_KEYS:
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, address: str | None, username: str) -> None:
        """Forget the user name's failures after a good password."""
        with self._lock:
            self._failures.pop(self.keys(address, username)[0], None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key) or deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times
