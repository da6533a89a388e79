"""Deadlines for many concurrent check runs, on one event-loop timer.

``async with deadline(seconds):`` behaves like ``async with asyncio.timeout(seconds):``
(the task is cancelled when the time is up and the block raises :class:`TimeoutError`;
:meth:`Deadline.expired` says whether it fired), with two differences that make it cheap
enough to put around every run of tens of thousands of checks:

- deadlines are grouped in slots of :data:`RESOLUTION` seconds, one loop timer waking
  for the earliest slot, so a run costs a set insertion and removal instead of a timer
  handle created and cancelled (several times cheaper than asyncio.timeout: the
  figures are in docs/performance.md);
- a deadline fires up to one slot (10 ms) late (and, like any loop timer, up to a
  millisecond early).
"""

from __future__ import annotations

import asyncio
import heapq
import math
import weakref
from types import TracebackType
from typing import Self

#: seconds per slot: the most a deadline can fire late
RESOLUTION = 0.01
#: how early an event-loop timer may run (libuv counts milliseconds)
_TIMER_SLACK = 0.001

_ENTERED, _EXPIRING, _EXPIRED, _EXITED = range(4)


class _Slots:
    """The pending deadlines of one event loop, grouped by slot."""

    __slots__ = ("__weakref__", "_heap", "_loop", "_slots", "_timer", "_timer_slot")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        #: slot number → deadlines ending in it
        self._slots: dict[int, set[Deadline]] = {}
        #: slot numbers in use, smallest first (may hold numbers already emptied)
        self._heap: list[int] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_slot = math.inf

    def add(self, deadline: Deadline, when: float) -> int:
        slot = math.ceil(when / RESOLUTION)
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = set()
            heapq.heappush(self._heap, slot)
            if slot < self._timer_slot:
                self._arm(slot)
        members.add(deadline)
        return slot

    def discard(self, deadline: Deadline, slot: int) -> None:
        members = self._slots.get(slot)
        if members is not None:
            members.discard(deadline)
            if not members:
                del self._slots[slot]  # its heap entry goes when the timer passes it

    def _arm(self, slot: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_slot = slot
        self._timer = self._loop.call_at(slot * RESOLUTION, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_slot = None, math.inf
        # a loop timer may run up to its clock's resolution early (libuv: 1 ms)
        limit = self._loop.time() + _TIMER_SLACK
        heap, slots = self._heap, self._slots
        while heap and heap[0] * RESOLUTION <= limit:
            for deadline in slots.pop(heapq.heappop(heap), ()):
                deadline._expire()
        while heap and heap[0] not in slots:
            heapq.heappop(heap)  # emptied before its time
        if heap:
            self._arm(heap[0])


_PER_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots] = \
    weakref.WeakKeyDictionary()


class Deadline:
    """An async context manager cancelling its task at a deadline (see the module)."""

    __slots__ = ("_cancelling", "_delay", "_slot", "_slots", "_state", "_task")

    def __init__(self, delay: float) -> None:
        self._delay = delay
        self._state = -1
        self._task: asyncio.Task | None = None
        self._slots: _Slots | None = None
        self._slot = 0
        self._cancelling = 0

    async def __aenter__(self) -> Self:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("deadline() must be used inside a task")
        loop = task.get_loop()
        slots = _PER_LOOP.get(loop)
        if slots is None:
            slots = _PER_LOOP[loop] = _Slots(loop)
        self._task, self._slots, self._state = task, slots, _ENTERED
        self._cancelling = task.cancelling()
        self._slot = slots.add(self, loop.time() + self._delay)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        if self._state == _ENTERED:
            self._slots.discard(self, self._slot)  # type: ignore[union-attr]  # set on entry
            self._state = _EXITED
        elif self._state == _EXPIRING:
            self._state = _EXPIRED
            if (self._task.uncancel() <= self._cancelling  # type: ignore[union-attr]  # set on entry
                    and exc_type is asyncio.CancelledError):
                raise TimeoutError from exc_value  # the cancellation was ours

    def expired(self) -> bool:
        """The deadline fired (the block was, or is being, cancelled)."""
        return self._state in (_EXPIRING, _EXPIRED)

    def _expire(self) -> None:
        if self._state == _ENTERED:
            self._task.cancel()  # type: ignore[union-attr]  # set on entry
            self._state = _EXPIRING


def deadline(seconds: float) -> Deadline:
    """A deadline ``seconds`` from entering the block (like :func:`asyncio.timeout`)."""
    return Deadline(seconds)
