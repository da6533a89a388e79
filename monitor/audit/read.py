"""Reading the audit log: filters, pages (newest first), and exports as JSON Lines or CSV.

The admin page (``/admin/audit``, administrators) and ``vigie audit export`` both read
through here. Exports stream row by row, so a long log costs no more memory than a page.
A CSV cell that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is prefixed with ``'``; JSON Lines are exact.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from monitor.store.audit import AuditEntry

#: entries on one page of the admin area
PAGE_SIZE = 50
#: the columns of an export, in order
FIELDS = ("id", "at", "actor", "role", "via", "token_id", "address", "action",
          "target_type", "target_id", "before", "after")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries: by whom (exact name), what (an action, ``incident.open``, or a
    kind, ``incident``), the target's id, and a time range (Unix seconds, ``until``
    excluded)."""

    who: str | None = None
    what: str | None = None
    target_id: str | None = None
    since: float | None = None
    until: float | None = None

    def statement(self) -> Select[tuple[AuditEntry]]:
        """The entries matching, newest first."""
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
        if self.who:
            stmt = stmt.where(AuditEntry.actor == self.who.strip().lower())
        if self.what:
            what = self.what.strip().lower()
            stmt = stmt.where(AuditEntry.action == what if "." in what
                              else AuditEntry.target_type == what)
        if self.target_id:
            stmt = stmt.where(AuditEntry.target_id == self.target_id.strip())
        if self.since is not None:
            stmt = stmt.where(AuditEntry.at >= self.since)
        if self.until is not None:
            stmt = stmt.where(AuditEntry.at < self.until)
        return stmt


@dataclass(frozen=True, slots=True)
class Page:
    """One page of entries, and the id to ask for the next (older) one, if any."""

    entries: list[AuditEntry]
    older: int | None


def page(session: Session, which: AuditFilter, before_id: int | None = None,
         size: int = PAGE_SIZE) -> Page:
    """Up to ``size`` entries older than ``before_id`` (the newest without it)."""
    stmt = which.statement()
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    rows = list(session.scalars(stmt.limit(size + 1)))
    older = rows[size - 1].id if len(rows) > size else None
    return Page(rows[:size], older)


def entries(session: Session, which: AuditFilter) -> Iterator[AuditEntry]:
    """Every matching entry, newest first, fetched in batches."""
    yield from session.scalars(which.statement().execution_options(yield_per=500))


def as_record(entry: AuditEntry) -> dict[str, Any]:
    """An entry as a JSON object (``at`` in ISO 8601 UTC, and ``at_unix``)."""
    record = {name: getattr(entry, name) for name in FIELDS}
    record["at"] = datetime.fromtimestamp(entry.at, UTC).isoformat()
    record["at_unix"] = entry.at
    return record


def to_jsonl(rows: Iterable[AuditEntry]) -> Iterator[str]:
    """JSON Lines: one entry per line."""
    for entry in rows:
        yield json.dumps(as_record(entry), ensure_ascii=False, sort_keys=True) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(rows: Iterable[AuditEntry]) -> Iterator[str]:
    """CSV with a header line; ``before`` and ``after`` as JSON text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(FIELDS)
    yield flush()
    for entry in rows:
        record = as_record(entry)
        writer.writerow([_cell(record[name]) for name in FIELDS])
        yield flush()


#: export formats: name → (writer, media type, file extension)
FORMATS = {"jsonl": (to_jsonl, "application/jsonl", "jsonl"),
           "csv": (to_csv, "text/csv", "csv")}

__all__ = ["FORMATS", "PAGE_SIZE", "AuditFilter", "Page", "as_record", "entries", "page",
           "to_csv", "to_jsonl"]
