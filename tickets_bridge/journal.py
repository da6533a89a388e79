"""The idempotency journal: which incident has which ticket, which calls may have landed.

One ticket per incident, never two, even across a crash or an answer lost in a timeout:

- before a call that creates something, its key is marked *pending* and the journal is
  written to disk;
- when the call succeeds, the key is marked *done* (and a created ticket is recorded under
  the incident reference);
- when nothing can have reached the desk (connection refused, a 4xx answer), the mark
  is removed;
- a key still pending at the next attempt means the previous attempt's outcome is
  unknown: the adapter looks the ticket (or the note) up before acting again.

The file (``tickets-journal.json`` in the data directory) is small and rewritten whole,
atomically, in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket at a desk: its id (for API calls), number (for people), address."""

    id: str
    number: str
    url: str
    title: str = ""


class Journal:
    """Idempotency keys and tickets, in memory and (when ``path`` is set) on disk."""

    def __init__(self, path: Path | None = None, keep: float = 90 * 86400.0) -> None:
        self.path = path
        self.keep = keep
        self._tickets: dict[str, dict] = {}
        self._keys: dict[str, dict] = {}
        self._lock = asyncio.Lock()
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            horizon = time.time() - self.keep
            self._tickets = {k: v for k, v in data.get("tickets", {}).items()
                             if v.get("at", 0) >= horizon}
            self._keys = {k: v for k, v in data.get("keys", {}).items()
                          if v.get("at", 0) >= horizon}
        except (OSError, ValueError, AttributeError) as exc:
            # losing the journal must not stop deliveries; lookups still protect Zammad
            log.error("tickets: journal %s unreadable (%s); starting empty", self.path, exc)

    # Tickets ----------------------------------------------------------------------------

    def ticket(self, reference: str) -> Ticket | None:
        """The ticket recorded for an incident reference."""
        entry = self._tickets.get(reference)
        if entry is None:
            return None
        return Ticket(entry["id"], entry["number"], entry["url"], entry.get("title", ""))

    def record_ticket(self, reference: str, ticket: Ticket) -> None:
        """Remember the incident's ticket."""
        self._tickets[reference] = {**asdict(ticket), "at": time.time()}

    # Keys -------------------------------------------------------------------------------

    def pending(self, key: str) -> bool:
        """True when a call with ``key`` was started and its outcome is unknown."""
        return self._keys.get(key, {}).get("state") == "pending"

    def done(self, key: str) -> bool:
        """True when the call with ``key`` is known to have succeeded."""
        return self._keys.get(key, {}).get("state") == "done"

    def begin(self, key: str) -> None:
        """Mark ``key`` pending (call :meth:`flush` before sending)."""
        self._keys[key] = {"state": "pending", "at": time.time()}

    def finish(self, key: str) -> None:
        """Mark ``key`` done."""
        self._keys[key] = {"state": "done", "at": time.time()}

    def forget(self, key: str) -> None:
        """Drop ``key``: nothing reached the desk."""
        self._keys.pop(key, None)

    # Disk -------------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    async def flush(self) -> None:
        """Write the journal to disk (atomically, in a thread)."""
        if self.path is None:
            return
        text = json.dumps({"tickets": self._tickets, "keys": self._keys}, ensure_ascii=False)
        async with self._lock:
            await asyncio.to_thread(self._write, text)
