"""Keeping the ``services`` and ``checks`` tables in step with the configuration.

Runs at every start, so it is written for 100,000 checks: SQL Core statements, the
existing rows streamed and compared one by one with the configuration, new rows inserted
in chunks. No ORM object is made per row (an ORM identity map of 100,000 rows takes
about 200 MB for a moment, and the process keeps much of that memory).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, text, update

from monitor.config import Check, Config
from monitor.store.models import CheckRow, ServiceRow

#: rows per INSERT statement run and per fetch while streaming
CHUNK = 1000

SERVICE_COLUMNS = ("name_fr", "name_en", "group_id", "position", "active")
CHECK_COLUMNS = ("service_id", "check_id", "kind", "name_fr", "name_en", "position",
                 "run_interval", "active")


@dataclass(frozen=True, slots=True)
class CatalogSync:
    """What :meth:`monitor.store.Store.sync_catalog` changed."""

    added: int
    updated: int
    deactivated: int


def _service_values(config: Config) -> dict[str, tuple]:
    return {s.id: (s.name.fr, s.name.en, s.group, position, True)
            for position, s in enumerate(config.services)}


def _check_values(check: Check, position: int) -> tuple:
    return (check.ref.service_id, check.ref.check_id, check.ref.kind, check.name.fr,
            check.name.en, position, check.interval, check.enabled)


def _wanted_checks(config: Config) -> dict[str, tuple[Check, int]]:
    return {check.key: (check, position)
            for service in config.services for position, check in enumerate(service.checks)}


def sync(engine: Engine, config: Config) -> tuple[CatalogSync, dict[str, int], set[str]]:
    """Upsert services and checks from ``config``, mark the missing ones inactive.

    Returns what changed, ``{check key: row id}`` for every check row (keys of configured
    checks are the configuration's own strings, not copies) and every service id.
    """
    services = _service_values(config)
    checks = _wanted_checks(config)
    service_table, check_table = ServiceRow.__table__, CheckRow.__table__
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # several Vigie (the nodes of a cluster) starting at once on one database: one
            # syncs, the next finds the rows there (its INSERTs would collide otherwise)
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('vigie.catalog:' || "
                              "current_schema()))"))
        s_added, s_updated, s_off, service_ids = _sync_table(
            conn, service_table, service_table.c.id, SERVICE_COLUMNS, services, "id")
        c_added, c_updated, c_off, _ = _sync_table(
            conn, check_table, check_table.c.key, CHECK_COLUMNS,
            _LazyValues(checks), "key")
        check_ids: dict[str, int] = {}
        for key, row_id in _stream(conn, select(check_table.c.key, check_table.c.id)):
            wanted = checks.get(key)
            check_ids[wanted[0].key if wanted is not None else key] = row_id
    counts = CatalogSync(s_added + c_added, s_updated + c_updated, s_off + c_off)
    return counts, check_ids, service_ids


class _LazyValues:
    """``{key: values}`` for the checks, each values tuple made when asked for."""

    def __init__(self, checks: dict[str, tuple[Check, int]]) -> None:
        self._checks = checks

    def __contains__(self, key: object) -> bool:
        return key in self._checks

    def __len__(self) -> int:
        return len(self._checks)

    def get(self, key: str) -> tuple | None:
        """The values of the check ``key``, or None."""
        found = self._checks.get(key)
        return None if found is None else _check_values(*found)

    def items(self) -> Iterator[tuple[str, tuple]]:
        """Every ``(key, values)``."""
        for key, found in self._checks.items():
            yield key, _check_values(*found)


def _sync_table(conn: Connection, table: Table, key_column: Any, columns: tuple[str, ...],
                wanted: Any, key_name: str) -> tuple[int, int, int, set[str]]:
    """Compare the rows of ``table`` with ``wanted`` (``key → values``) and fix them.

    Returns (added, updated, deactivated, every key in the table afterwards).
    """
    updated = deactivated = 0
    seen: set[str] = set()
    changes: list[dict[str, Any]] = []
    query = select(key_column, *(table.c[name] for name in columns))
    for key, *row in _stream(conn, query):
        seen.add(key)
        values = wanted.get(key)
        if values is None:
            if row[-1]:  # active, no longer in the configuration
                changes.append({"_key": key, **dict(zip(columns, row)), "active": False})
                deactivated += 1
        elif tuple(row) != values:
            changes.append({"_key": key, **dict(zip(columns, values))})
            updated += 1
    if changes:
        stmt = (update(table).where(key_column == bindparam("_key"))
                .values({name: bindparam(name) for name in columns}))
        conn.execute(stmt, changes)
    added = 0
    for chunk in _chunks(((key, values) for key, values in wanted.items() if key not in seen),
                         CHUNK):
        conn.execute(insert(table), [{key_name: key, **dict(zip(columns, values))}
                                     for key, values in chunk])
        added += len(chunk)
        seen.update(key for key, _ in chunk)
    return added, updated, deactivated, seen


def _stream(conn: Connection, query: Any) -> Iterator[tuple]:
    """The rows of ``query``, fetched ``CHUNK`` at a time."""
    # on the statement, not the connection: a connection's options stay on it (and
    # psycopg's server-side cursors cannot run the executemany statements that follow)
    result = conn.execute(query.execution_options(yield_per=CHUNK))
    for partition in result.partitions():
        yield from partition


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
