"""Login limits, in memory: how many attempts an address may make, how many failures a
name, an address or a browser may have.

Every attempt costs a password hash (tens of milliseconds of CPU, 64 MiB), so two kinds
of budget apply, each a sliding window:

- **attempts per address**, whatever their outcome: :data:`VISITOR_ATTEMPTS` for a
  visitor's own address, :data:`SHARED_ATTEMPTS` for the reverse proxy's address, which
  every visitor shares when the proxy's ``X-Forwarded-For`` is not trusted. The shared
  budget always applies (a flood that changes names every few tries is stopped by it),
  and is larger, so a few volunteers signing in together never meet it;
- **failures** (:data:`FAILURES`) per user name and per visitor address (not the shared
  one: five made-up names would lock every volunteer out).

A flood through the shared address does exhaust its budget for every *unknown* browser:
that is the price of not knowing the visitors apart. A **known browser** is not affected:
a successful login leaves a signed device cookie (:mod:`dashboard.admin.devices`) naming
the user, and an attempt for that user carrying it is counted against that device alone
(:data:`VISITOR_ATTEMPTS` attempts and :data:`FAILURES` failures, like an address of its
own), neither against the address nor against the name. So neither a flood through the
proxy nor five wrong passwords for a volunteer's name lock her out of her own browser
(the "device cookie" defence of OWASP's authentication cheat sheet).

An attempt refused here costs nothing and is not counted, so the window frees as soon
as the admitted attempts age. A success clears the name's (or the device's) failures, not
the address's. The counts live in the process: a restart forgets them and several
dashboard processes count separately.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dashboard.clients import Client


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``limit`` events within ``window`` seconds."""

    limit: int
    window: float


#: failed logins per user name, per visitor address and per known browser
FAILURES = Budget(5, 15 * 60.0)
#: login attempts (any outcome) from one visitor's address or one known browser
VISITOR_ATTEMPTS = Budget(10, 60.0)
#: login attempts (any outcome) from the reverse proxy's address, every visitor together
SHARED_ATTEMPTS = Budget(30, 60.0)
#: keys remembered at most (the oldest are dropped): bounds memory under a flood
MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Attempt:
    """Who tries: the request's address and, when its device cookie is valid for the
    user name tried, the device's id."""

    client: Client
    device: str | None = None


class LoginLimiter:
    """The budgets above, thread-safe (the WSGI server runs threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *,
                 failures: Budget = FAILURES, visitor_attempts: Budget = VISITOR_ATTEMPTS,
                 shared_attempts: Budget = SHARED_ATTEMPTS) -> None:
        self.failures = failures
        self.visitor_attempts = visitor_attempts
        self.shared_attempts = shared_attempts
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _attempt_keys(self, attempt: Attempt) -> list[tuple[str, Budget]]:
        if attempt.device:
            return [(f"attempts:device:{attempt.device}", self.visitor_attempts)]
        client = attempt.client
        budget = self.shared_attempts if client.shared else self.visitor_attempts
        return [(f"attempts:ip:{client.address}", budget)]

    def _failure_keys(self, attempt: Attempt, username: str) -> list[tuple[str, Budget]]:
        if attempt.device:
            return [(f"failures:device:{attempt.device}", self.failures)]
        keys = [(f"failures:user:{(username or '').strip().lower()}", self.failures)]
        if not attempt.client.shared:
            keys.append((f"failures:ip:{attempt.client.address}", self.failures))
        return keys

    def admit(self, attempt: Attempt, username: str) -> float:
        """Count an attempt and return 0 when it may go on; otherwise the seconds until
        it would be admitted (nothing is counted then)."""
        now = self._clock()
        attempts = self._attempt_keys(attempt)
        with self._lock:
            wait = self._wait([*attempts, *self._failure_keys(attempt, username)], now)
            if wait > 0:
                return wait
            for key, _ in attempts:
                self._record(key, now)
            return 0.0

    def failed(self, attempt: Attempt, username: str) -> None:
        """Record a wrong password."""
        now = self._clock()
        with self._lock:
            for key, _ in self._failure_keys(attempt, username):
                self._record(key, now)

    def succeeded(self, attempt: Attempt, username: str) -> None:
        """Forget the name's (or the device's) failures after a good password."""
        with self._lock:
            self._events.pop(self._failure_keys(attempt, username)[0][0], None)

    def _wait(self, keys: Iterable[tuple[str, Budget]], now: float) -> float:
        wait = 0.0
        for key, budget in keys:
            times = self._recent(key, budget, now)
            if len(times) >= budget.limit:
                wait = max(wait, times[-budget.limit] + budget.window - now)
        return wait

    def _record(self, key: str, now: float) -> None:
        self._events.setdefault(key, deque()).append(now)
        while len(self._events) > MAX_KEYS:
            self._events.pop(next(iter(self._events)))

    def _recent(self, key: str, budget: Budget, now: float) -> deque[float]:
        times = self._events.get(key) or deque()
        while times and times[0] <= now - budget.window:
            times.popleft()
        if not times:
            self._events.pop(key, None)
        return times
