"""The store: Vigie's database, behind one small synchronous API.

Every method may block on the database: call them from the writer thread, a worker thread
(``asyncio.to_thread``) or the dashboard's request threads, never from the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Table, delete, func, null, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Config
from monitor.probe import Reason, Status
from monitor.state import ServiceStatus
from monitor.cluster.feed import append_feed
from monitor.cluster.models import CheckStateRow
from monitor.store import catalog, migrate, rollups
from monitor.store.catalog import CatalogSync
from monitor.store.engine import (
    dialect_insert,
    make_engine,
    normalize_url,
    safe_url,
    writing,
)
from monitor.store.models import (
    REASON_LENGTH,
    Base,
    CheckRow,
    CheckStatusChange,
    ResultRow,
    ServiceRow,
    ServiceStatusChange,
)
from monitor.store.records import (
    Change,
    CheckChange,
    CheckStateRecord,
    FeedTransition,
    OwnLocationRecord,
    ResultRecord,
    ServiceChange,
    StoredCheckState,
)
from monitor.store.rollup_ledger import RollupLedger

log = logging.getLogger(__name__)

_SERVICE_STATUS = {s.code: s for s in ServiceStatus}


@dataclass(frozen=True, slots=True)
class WriteCounts:
    """Rows a batch inserted (duplicates and rows of unknown checks are not counted)."""

    results: int = 0
    changes: int = 0


class Store:
    """Vigie's database: catalog, results, status changes, rollups.

    ``url`` is a SQLAlchemy URL: ``sqlite:///path/vigie.sqlite`` (the folder is created) or
    ``postgresql://user@host/db`` (driven by psycopg 3).
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, echo=echo)
        #: the same engine for transactions that write (BEGIN IMMEDIATE on SQLite)
        self.write_engine = writing(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)
        #: final days and latency refreshes of the rollups (late results reported to it)
        self.rollup_ledger = RollupLedger()
        # key -> integer id, filled by sync_catalog and on demand by the writer
        self._check_ids: dict[str, int] = {}
        self._service_ids: set[str] = set()
        self._unknown_warned: set[str] = set()

    @property
    def safe_url(self) -> str:
        """The database URL with the password hidden."""
        return safe_url(self.url)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    # Schema ----------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision (``vigie db upgrade``)."""
        migrate.upgrade_engine(self.engine)

    def check_schema(self) -> None:
        """Raise :class:`monitor.store.SchemaOutOfDate` unless the schema is up to date."""
        migrate.check_engine(self.engine)

    def revision(self) -> str | None:
        """The migration the database is at (None when empty)."""
        return migrate.current_revision(self.engine)

    def session(self) -> Session:
        """A new ORM session (use it as a context manager); objects stay usable after commit."""
        return self._sessions()

    def write_session(self) -> Session:
        """A new ORM session for a transaction that writes: on SQLite it begins with
        ``BEGIN IMMEDIATE``, so reading before writing cannot fail with "database is
        locked" when another connection commits in between. Use it for writes only: it
        holds the write lock from its first statement to its commit."""
        return self._write_sessions()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # Catalog ---------------------------------------------------------------------------

    def sync_catalog(self, config: Config) -> CatalogSync:
        """Upsert services and checks from ``config``; mark the missing ones inactive.

        Nothing is deleted, so the history of a removed check stays. A check is active
        when it is in the configuration and enabled. See :mod:`monitor.store.catalog`.
        """
        counts, self._check_ids, self._service_ids = catalog.sync(self.write_engine, config)
        return counts

    def _check_id_map(self, conn: Connection, keys: Iterable[str]) -> dict[str, int]:
        missing = {k for k in keys if k not in self._check_ids}
        if missing:
            found = conn.execute(
                select(CheckRow.key, CheckRow.id).where(CheckRow.key.in_(missing))).all()
            self._check_ids.update(dict(found))
            self._warn_unknown(missing - {k for k, _ in found}, "check")
        return self._check_ids

    def _known_services(self, conn: Connection, ids: Iterable[str]) -> set[str]:
        missing = {i for i in ids if i not in self._service_ids}
        if missing:
            found = set(conn.scalars(select(ServiceRow.id).where(ServiceRow.id.in_(missing))))
            self._service_ids |= found
            self._warn_unknown(missing - found, "service")
        return self._service_ids

    def _warn_unknown(self, keys: set[str], what: str) -> None:
        for key in sorted(keys - self._unknown_warned):
            self._unknown_warned.add(key)
            log.warning("rows for %s %r are skipped: it is not in the catalog "
                        "(sync_catalog was not called with a configuration holding it)",
                        what, key)

    # Writing ---------------------------------------------------------------------------

    def write_batch(self, results: Sequence[ResultRecord],
                    changes: Sequence[Change] = (),
                    states: Sequence[CheckStateRecord] = (),
                    feed: Sequence[FeedTransition] = (),
                    own_locations: Sequence[OwnLocationRecord] = ()) -> WriteCounts:
        """Write results, status changes, the server's own runs of checks run from
        several locations (``location_results``) and, in cluster mode, checks' hidden
        states and the leader's feed, in one transaction; duplicates are ignored, and a
        state older than the one stored (``at``) leaves it as it is.

        Rows for a check or service missing from the catalog are skipped (logged once).
        ``WriteCounts.results`` counts the new rows of both result tables.
        """
        if not results and not changes and not states and not feed and not own_locations:
            return WriteCounts()
        with self.write_engine.begin() as conn:
            counts, earliest = self._write_rows(conn, results, changes, states, feed)
            if own_locations:
                counts = WriteCounts(counts.results + self._insert_ignoring(
                    conn, Base.metadata.tables["location_results"],
                    [_own_location_row(r) for r in own_locations]), counts.changes)
        if earliest is not None:
            self.rollup_ledger.written(earliest)
        return counts

    def write_in(self, conn: Connection, changes: Sequence[Change]) -> WriteCounts:
        """Write status changes in the caller's transaction (a cluster leader's, fenced);
        duplicates are ignored."""
        return self._write_rows(conn, (), changes, (), ())[0]

    def _write_rows(self, conn: Connection, results: Sequence[ResultRecord],
                    changes: Sequence[Change], states: Sequence[CheckStateRecord],
                    feed: Sequence[FeedTransition]) -> tuple[WriteCounts, float | None]:
        """Insert the rows; what was inserted, and the earliest result start written."""
        check_keys = {r.check_key for r in results}
        check_keys |= {c.check_key for c in changes if isinstance(c, CheckChange)}
        check_keys |= {s.check_key for s in states} | {f.check_key for f in feed}
        ids = self._check_id_map(conn, check_keys)
        services = self._known_services(
            conn, {c.service_id for c in changes if isinstance(c, ServiceChange)})
        result_rows = [_result_row(ids[r.check_key], r) for r in results
                       if r.check_key in ids]
        check_rows = [{"check_id": ids[c.check_key], "at": c.at,
                       "previous": None if c.previous is None else int(c.previous),
                       "current": int(c.current), **_reason(c.reason)}
                      for c in changes if isinstance(c, CheckChange) and c.check_key in ids]
        service_rows = [{"service_id": c.service_id, "at": c.at,
                         "previous": None if c.previous is None else c.previous.code,
                         "current": c.current.code, **_reason(c.reason)}
                        for c in changes
                        if isinstance(c, ServiceChange) and c.service_id in services]
        inserted = self._insert_ignoring(conn, ResultRow.__table__, result_rows)
        changed = self._insert_ignoring(conn, CheckStatusChange.__table__, check_rows)
        changed += self._insert_ignoring(conn, ServiceStatusChange.__table__, service_rows)
        self._upsert_states(conn, [s for s in _latest_states(states) if s.check_key in ids],
                            ids)
        # last: the feed's head stays locked from here to the commit
        append_feed(conn, [f for f in feed if f.check_key in ids], ids)
        earliest = min(r["started_at"] for r in result_rows) if inserted else None
        return WriteCounts(inserted, changed), earliest

    def write_results(self, records: Sequence[ResultRecord]) -> int:
        """Write results in one transaction; return how many were new."""
        return self.write_batch(records).results

    def record_check_change(self, check_key: str, at: float, previous: Status | None,
                            current: Status, reason: Reason | None = None) -> bool:
        """Store a check's transition; False when it was already stored."""
        change = CheckChange(check_key, at, previous, current, reason)
        return self.write_batch((), (change,)).changes == 1

    def record_service_change(self, service_id: str, at: float,
                              previous: ServiceStatus | None, current: ServiceStatus,
                              reason: Reason | None = None) -> bool:
        """Store a service's transition; False when it was already stored."""
        change = ServiceChange(service_id, at, previous, current, reason)
        return self.write_batch((), (change,)).changes == 1

    def _insert_ignoring(self, conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows``, skipping those whose unique key is already there; count new ones.

        One cached statement run for many parameter sets: SQLAlchemy sends them as
        multi-row INSERTs ("insertmanyvalues"), pages of 1,000 rows.
        """
        if not rows:
            return 0
        stmt = dialect_insert(self.engine, table).on_conflict_do_nothing()
        if conn.dialect.insert_returning:
            # RETURNING lists only the rows inserted; an INSERT's rowcount is not reported
            # by every driver (psycopg through SQLAlchemy gives -1)
            return len(conn.execute(stmt.returning(table.c.id), rows).all())
        return conn.execute(stmt, rows).rowcount  # SQLite before 3.35: this one is right

    def _upsert_states(self, conn: Connection, states: list[CheckStateRecord],
                       ids: dict[str, int]) -> None:
        """Write each check's newest state, unless a newer one is stored already."""
        if not states:
            return
        table = CheckStateRow.__table__
        stmt = dialect_insert(self.engine, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.check_id],
            set_={name: stmt.excluded[name] for name in ("status", "since", "failures", "at")},
            where=table.c.at <= stmt.excluded.at)
        conn.execute(stmt, [{"check_id": ids[s.check_key],
                             "status": None if s.status is None else int(s.status),
                             "since": s.since, "failures": s.failures, "at": s.at}
                            for s in states])

    # Reading ---------------------------------------------------------------------------

    def check_states(self, keys: Iterable[str]) -> dict[str, StoredCheckState]:
        """The hidden state of each check of ``keys`` in the catalog, for the node taking
        it over: the state its owner wrote (cluster mode), else its last confirmed status
        with no failure pending; with the start of its last run stored."""
        with self.engine.connect() as conn:
            return self.read_check_states(conn, keys, last_run=True)

    def read_check_states(self, conn: Connection, keys: Iterable[str], *,
                          last_run: bool = False) -> dict[str, StoredCheckState]:
        """:meth:`check_states` on ``conn`` (in its transaction); the last runs only when
        asked for (``last_run`` None otherwise)."""
        states = CheckStateRow.__table__

        def newest_change(column: Any) -> Any:
            return (select(column).where(CheckStatusChange.check_id == CheckRow.id)
                    .order_by(CheckStatusChange.at.desc(), CheckStatusChange.id.desc())
                    .limit(1).correlate(CheckRow).scalar_subquery())

        last = (select(func.max(ResultRow.started_at))
                .where(ResultRow.check_id == CheckRow.id).correlate(CheckRow)
                .scalar_subquery()) if last_run else null()
        query = (select(CheckRow.key, states.c.status, states.c.since, states.c.failures,
                        newest_change(CheckStatusChange.current),
                        newest_change(CheckStatusChange.at), last)
                 .outerjoin(states, states.c.check_id == CheckRow.id))
        out: dict[str, StoredCheckState] = {}
        for chunk in _chunked(list(dict.fromkeys(keys)), 1000):
            for key, status, since, failures, changed_to, changed_at, run in conn.execute(
                    query.where(CheckRow.key.in_(chunk))):
                if failures is None:  # no state written: the last confirmed status
                    status, since, failures = changed_to, changed_at, 0
                out[key] = StoredCheckState(None if status is None else Status(status),
                                            since, failures, run)
        return out

    def latest_check_statuses(self) -> dict[str, tuple[Status, float]]:
        """``{check key: (confirmed status, since)}`` from the last change of every check,
        to restore the state machine at start."""
        latest = _latest(CheckStatusChange, CheckStatusChange.check_id)
        query = (select(CheckRow.key, CheckStatusChange.current, CheckStatusChange.at)
                 .join(CheckRow, CheckRow.id == CheckStatusChange.check_id)
                 .where(CheckStatusChange.id == latest))
        with self.engine.connect() as conn:
            return {key: (Status(current), at) for key, current, at in conn.execute(query)}

    def latest_service_statuses(self) -> dict[str, tuple[ServiceStatus, float]]:
        """``{service id: (status, since)}`` from the last change of every service."""
        latest = _latest(ServiceStatusChange, ServiceStatusChange.service_id)
        query = (select(ServiceStatusChange.service_id, ServiceStatusChange.current,
                        ServiceStatusChange.at)
                 .where(ServiceStatusChange.id == latest))
        with self.engine.connect() as conn:
            return {sid: (_SERVICE_STATUS[current], at)
                    for sid, current, at in conn.execute(query)}

    # Housekeeping ----------------------------------------------------------------------

    def compute_rollups(self, start: date, end: date | None = None, tz: str = "Europe/Paris",
                        now: float | None = None) -> int:
        """Recompute daily rollups from ``start`` to ``end`` (included, default ``start``)
        in time zone ``tz``; return the rows written. A day this store already rolled
        up once final is skipped; the latency percentiles of a day not final yet are
        refreshed at most hourly. See :mod:`monitor.store.rollups` and
        :mod:`monitor.store.rollup_ledger`."""
        return rollups.compute_rollups(self.engine, start, end or start, tz, now,
                                       self.rollup_ledger)

    def prune(self, older_than: float, chunk: int = 10_000) -> int:
        """Delete results started before ``older_than`` (Unix time), the locations'
        results too (``location_results``); return how many.

        Deletes in chunks, each its own short transaction, so the writer is never held up
        long. Status changes and rollups are kept for ever.
        """
        from monitor.agents.models import LocationResultRow  # (it imports the store's models)

        total = 0
        started = time.monotonic()
        for model in (ResultRow, LocationResultRow):
            while True:
                doomed = select(model.id).where(model.started_at < older_than).limit(chunk)
                with self.write_engine.begin() as conn:
                    deleted = conn.execute(delete(model).where(model.id.in_(doomed))).rowcount
                total += deleted
                if deleted < chunk:
                    break
        if total:
            log.info("pruned %d results older than the retention period in %.1fs",
                     total, time.monotonic() - started)
        return total


def _latest(model: type, owner: Any) -> Any:
    """Correlated subquery: the id of the newest change of the same owner."""
    inner = model.__table__.alias("newer")
    return (select(inner.c.id).where(inner.c[owner.key] == owner)
            .order_by(inner.c.at.desc(), inner.c.id.desc()).limit(1)
            .correlate(model.__table__).scalar_subquery())


def _latest_states(states: Sequence[CheckStateRecord]) -> list[CheckStateRecord]:
    """The newest state of each check (one row per check in a statement)."""
    newest: dict[str, CheckStateRecord] = {}
    for state in states:
        kept = newest.get(state.check_key)
        if kept is None or kept.at <= state.at:
            newest[state.check_key] = state
    return list(newest.values())


def _chunked(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _reason(reason: Reason | None) -> dict[str, str | bool | None]:
    if reason is None:
        return {"reason_code": None, "reason_fr": None, "reason_en": None,
                "reason_public": True}
    return {"reason_code": reason.code[:100], "reason_fr": _clip(reason.fr),
            "reason_en": _clip(reason.en), "reason_public": reason.public}


def _clip(text: str) -> str:
    # a long plugin message must not make PostgreSQL refuse the whole batch
    return text if len(text) <= REASON_LENGTH else text[:REASON_LENGTH - 1] + "…"


def _result_row(check_id: int, record: ResultRecord) -> dict[str, Any]:
    return {"check_id": check_id, "started_at": float(record.started_at),
            "status": int(record.status), "duration": float(record.duration),
            **_reason(record.reason), "samples": record.samples or None}


def _own_location_row(record: OwnLocationRecord) -> dict[str, Any]:
    why = record.reason
    return {"token_id": None, "seq": None, "check_key": record.check_key,
            "location": record.location, "started_at": float(record.started_at),
            "agent_started_at": None, "received_at": None,
            "duration": float(record.duration), "status": int(record.status),
            "reason": None if why is None else {"code": why.code, "fr": why.fr, "en": why.en,
                                                "public": why.public},
            "samples": record.samples or None}
