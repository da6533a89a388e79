"""How many requests one sender may send: per client address (an IPv6 /64 counts as one,
as a home connection gets a whole /64) and per e-mail address, in a sliding hour. Used by
the members' assistance (``assistance.limits``) and the e-mail subscriptions
(``subscriptions.per_*_per_hour``). :class:`KeyedLimit` counts per key in a window of its
own and says how long to wait (the agents' pushes, ``agents.pushes_per_minute``).

Only accepted requests count (:meth:`RateLimiter.record`, called by the service once a
request is written); :meth:`RateLimiter.allowed` only asks. Kept in memory, per process,
bounded: beyond :data:`MAX_KEYS` senders the oldest are forgotten. The clock is
injectable.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

#: the window the limits count in
WINDOW = 3600.0
#: senders remembered at most (per kind)
MAX_KEYS = 50_000


def address_key(address: str) -> str:
    """What an address counts as: itself for IPv4, its /64 for IPv6 (an IPv4-mapped IPv6
    address as its IPv4 address), the text itself when it is not an address."""
    text = (address or "").strip()
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%")[0])
    except ValueError:
        return text[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def email_key(email: str) -> str:
    """What an e-mail address counts as (compared without case or surrounding spaces)."""
    return (email or "").strip().lower()[:320]


class _Window:
    """Times of the recent events of each key, in a sliding ``window`` of seconds."""

    def __init__(self, limit: int, window: float = WINDOW) -> None:
        self.limit = limit
        self.window = window
        self.events: OrderedDict[str, deque[float]] = OrderedDict()

    def count(self, key: str, now: float) -> int:
        times = self.events.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.events[key]
            return 0
        return len(times)

    def add(self, key: str, now: float) -> None:
        times = self.events.pop(key, None) or deque()
        times.append(now)
        self.events[key] = times  # most recent last
        while len(self.events) > MAX_KEYS:
            self.events.popitem(last=False)


class RateLimiter:
    """Per-client-address and per-e-mail limits in a sliding hour."""

    def __init__(self, per_address: int, per_email: int, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._addresses = _Window(per_address)
        self._emails = _Window(per_email)
        self._lock = threading.Lock()

    def allowed(self, address: str | None, email: str | None = None) -> bool:
        """Whether one more request from ``address`` (and ``email``, when given) stays
        within the limits. ``address`` None: the request came through a proxy whose address
        every visitor shares, so only the e-mail address is counted (counting the proxy
        would let one sender lock every member out)."""
        now = self.clock()
        with self._lock:
            if (address is not None
                    and self._addresses.count(address_key(address), now) >= self._addresses.limit):
                return False
            return not email or self._emails.count(email_key(email), now) < self._emails.limit

    def record(self, address: str | None, email: str | None = None) -> None:
        """Count one sent request (``address`` None: a shared proxy's, not counted)."""
        now = self.clock()
        with self._lock:
            if address is not None:
                self._addresses.add(address_key(address), now)
            if email:
                self._emails.add(email_key(email), now)


class KeyedLimit:
    """At most ``limit`` events per key in a sliding ``window`` of seconds."""

    def __init__(self, limit: int, window: float = 60.0, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._window = _Window(limit, window)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Count one event of ``key`` and return 0 when it is within the limit; otherwise
        count nothing and return the seconds until one more would be (> 0)."""
        now = self.clock()
        with self._lock:
            window = self._window
            if window.count(key, now) < window.limit:
                window.add(key, now)
                return 0.0
            oldest = window.events[key][0]
            return max(oldest + window.window - now, 1e-3)
