"""The agents' last news, for the metrics: kept in memory, read at scrape time.

Each batch this process accepts updates :class:`AgentHealth` at once (after its commit);
every so often the whole picture is read again from ``agent_tokens``
(:meth:`AgentHealth.load`), so a token added or revoked elsewhere, or an agent pushing to
another node of a cluster, shows too, and a scrape never waits for the database. The
refused pushes are counted here by reason (this process's, since it started).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.agents.service import AgentRecord


@dataclass(frozen=True, slots=True)
class AgentNews:
    """What the metrics say of one agent token (never the token)."""

    name: str
    location: str
    #: when its last batch was received (server clock); None: never
    last_batch_at: float | None
    buffered: int
    dropped: int


class AgentHealth:
    """The agents' last news and the refused pushes; safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agents: dict[str, AgentNews] = {}
        #: refused pushes by reason (:data:`monitor.agents.errors.CODES`)
        self.refused: Counter[str] = Counter()

    def refuse(self, code: str) -> None:
        """Count one refused push."""
        with self._lock:
            self.refused[code] += 1

    def note(self, news: AgentNews) -> None:
        """An accepted batch's news."""
        with self._lock:
            self._agents[news.name] = news

    def load(self, records: Iterable[AgentRecord]) -> None:
        """The tokens as stored: the revoked ones go, the others keep the newer news
        (this process's or the database's)."""
        fresh: dict[str, AgentNews] = {}
        with self._lock:
            for record in records:
                if record.revoked_at is not None:
                    continue
                stored = AgentNews(record.name, record.location, record.last_batch_at,
                                   record.buffered, record.dropped)
                mine = self._agents.get(record.name)
                fresh[record.name] = mine if mine is not None and (mine.last_batch_at or 0) > (
                    stored.last_batch_at or 0) else stored
            self._agents = fresh

    def agents(self) -> list[AgentNews]:
        """Every agent's news, by name."""
        with self._lock:
            return sorted(self._agents.values(), key=lambda n: n.name)

    def refused_counts(self) -> dict[str, int]:
        """A copy of the refused pushes by reason."""
        with self._lock:
            return dict(self.refused)


__all__ = ["AgentHealth", "AgentNews"]
