"""A bound on how many password hashes run at once in this process.

An argon2id hash with the default parameters takes 64 MiB and tens of milliseconds of
CPU. The dashboard's worker threads are few (8 by default) and also serve the status page
and ``/healthz``: a login flood that let every thread hash at once froze them all (issue
12, point 7). Every password hash and check therefore takes one of :data:`SLOTS`' slots
first, **without waiting**: when all are taken, :class:`HashingBusy` is raised at once and
the login answers 503 with ``Retry-After``, so no thread ever queues behind hashing and
the memory for hashing stays under ``size × 64 MiB``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: hashes running at once at most (each holds argon2's 64 MiB while a login hashes)
DEFAULT_SLOTS = 2
#: seconds a refused login is told to wait (``Retry-After``)
RETRY_AFTER = 2


class HashingBusy(RuntimeError):
    """Every hashing slot is taken: try again in :data:`RETRY_AFTER` seconds."""


class HashSlots:
    """A non-blocking semaphore of ``size`` slots for password hashing."""

    def __init__(self, size: int = DEFAULT_SLOTS) -> None:
        if size < 1:
            raise ValueError("at least one hashing slot is needed")
        self.size = size
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block.

        :raises HashingBusy: every slot is taken (nothing waits).
        """
        if not self._slots.acquire(blocking=False):
            raise HashingBusy("every password hashing slot is busy")
        try:
            yield
        finally:
            self._slots.release()

    @contextmanager
    def hold_all(self) -> Iterator[None]:
        """Take every slot for the block (tests; a maintenance pause)."""
        taken = 0
        try:
            for _ in range(self.size):
                if not self._slots.acquire(timeout=30):
                    raise HashingBusy("could not take every hashing slot")
                taken += 1
            yield
        finally:
            for _ in range(taken):
                self._slots.release()


#: the slots every password hash and check of this process shares
SLOTS = HashSlots()
