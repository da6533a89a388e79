"""What was already delivered to whom, so a retried event reaches only those who missed it.

Kept in memory and bounded: a restart forgets it, so an event retried after a restart may
reach again the receivers that already had it (a duplicate alert, never a lost one).
"""

from __future__ import annotations

from collections import OrderedDict


class DeliveryMemo:
    """``(idempotency key, receiver id)`` pairs already delivered, oldest forgotten first."""

    def __init__(self, limit: int = 50_000) -> None:
        self._done: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._limit = limit

    def done(self, key: str, target_id: str) -> bool:
        """True when this event already reached this receiver."""
        return (key, target_id) in self._done

    def add(self, key: str, target_id: str) -> None:
        """Remember that this event reached this receiver."""
        self._done[(key, target_id)] = None
        self._done.move_to_end((key, target_id))
        while len(self._done) > self._limit:
            self._done.popitem(last=False)


class Audience:
    """Which receivers heard of each incident, so its follow-ups reach them all even when
    its impact (hence its routing) changed since."""

    def __init__(self, limit: int = 10_000) -> None:
        self._heard: OrderedDict[int, set[str]] = OrderedDict()
        self._limit = limit

    def of(self, incident_id: int) -> set[str]:
        """Receiver ids that got an event of this incident."""
        return set(self._heard.get(incident_id, ()))

    def add(self, incident_id: int, target_id: str) -> None:
        """Remember that this receiver heard of this incident."""
        self._heard.setdefault(incident_id, set()).add(target_id)
        self._heard.move_to_end(incident_id)
        while len(self._heard) > self._limit:
            self._heard.popitem(last=False)
