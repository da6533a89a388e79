"""The sending rate of members' mails (``subscriptions.send_rate``): mail providers
throttle a sender that goes too fast, or take it for a spammer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SendRate:
    """At most ``rate`` mails a second, for the whole process (every batch shares it).

    :meth:`wait` returns when the next mail may go: mails are spaced ``1 / rate`` seconds
    apart, a pause lets no burst through after it. ``clock`` and ``sleep`` are injectable
    (a test moves its own clock in ``sleep``).
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("the sending rate must be positive")
        self.gap = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        """Block until the next mail may be sent (its slot is taken)."""
        with self._lock:
            now = self.clock()
            slot = max(now, self._next)
            self._next = slot + self.gap
        if slot > now:
            self.sleep(slot - now)
