"""The one clock of liveness and leases: the database's, so the nodes' clocks never matter.

Every statement of the cluster that needs the time reads :data:`NOW` (seconds since the
Unix epoch, like every time Vigie stores), with the bound parameter ``now`` from
:meth:`Clock.param`: ``None`` for the database's ``clock_timestamp()`` (the time of the
statement itself, not of its transaction's start), or a fixed time a test sets and moves.
"""

from __future__ import annotations

import threading

#: the time in SQL: the ``now`` parameter when given, else the database's clock
NOW = ("COALESCE(CAST(:now AS double precision), "
       "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS double precision))")


class Clock:
    """Where the cluster's statements take the time: the database (:meth:`database`), or
    a fixed time a test moves (:meth:`fixed`, :meth:`advance`)."""

    def __init__(self, at: float | None = None) -> None:
        self._at = at
        self._lock = threading.Lock()

    @classmethod
    def database(cls) -> Clock:
        """The database's ``clock_timestamp()`` (production)."""
        return cls(None)

    @classmethod
    def fixed(cls, at: float) -> Clock:
        """A fixed time, moved only by :meth:`advance` or :meth:`set` (tests)."""
        return cls(float(at))

    @property
    def param(self) -> float | None:
        """The ``now`` parameter of :data:`NOW`."""
        return self._at

    def advance(self, seconds: float) -> None:
        """Move a fixed clock on by ``seconds``."""
        with self._lock:
            if self._at is None:
                raise TypeError("the database's clock cannot be moved")
            self._at += seconds

    def set(self, at: float) -> None:
        """Set a fixed clock to ``at``."""
        with self._lock:
            if self._at is None:
                raise TypeError("the database's clock cannot be moved")
            self._at = float(at)

    def __repr__(self) -> str:
        return "Clock.database()" if self._at is None else f"Clock.fixed({self._at!r})"


#: the production clock
DATABASE = Clock.database()
