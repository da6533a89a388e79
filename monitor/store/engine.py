"""Creating the SQLAlchemy engine for SQLite (the embedded default) or PostgreSQL.

SQLite gets the settings a long-running writer plus concurrent readers need: WAL journal,
foreign keys enforced, a busy timeout, and real ``BEGIN`` statements (the documented
SQLAlchemy recipe, so that reads are consistent and DDL is transactional). Transactions
that write begin with ``BEGIN IMMEDIATE`` when opened through :func:`writing`.
PostgreSQL always goes through psycopg 3, the driver Vigie depends on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Insert, Table, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

#: milliseconds a SQLite connection waits for another one's write lock
SQLITE_BUSY_TIMEOUT_MS = 5000
#: seconds to wait for a PostgreSQL connection before calling the database unreachable
POSTGRES_CONNECT_TIMEOUT = 10
#: prepared statements each SQLite connection keeps (the sqlite3 module's default is 128):
#: multi-row INSERTs of results and IN lists have a different text for each size, and
#: each cached one holds its compiled program (hundreds of KB for a 1,000-row INSERT)
SQLITE_CACHED_STATEMENTS = 16

SUPPORTED = ("sqlite", "postgresql")

#: execution option of the connections of :func:`writing`
WRITE_OPTION = "vigie_write"


class UnsupportedDatabase(ValueError):
    """The URL names a database Vigie does not store its data in."""


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; every PostgreSQL URL (``postgres://`` too) uses psycopg 3.

    :raises UnsupportedDatabase: for anything but SQLite and PostgreSQL.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    if backend == "postgres":  # the scheme Heroku-style URLs use
        parsed = parsed.set(drivername="postgresql")
        backend = "postgresql"
    if backend not in SUPPORTED:
        raise UnsupportedDatabase(
            f"Vigie stores its data in SQLite or PostgreSQL, not {backend!r} "
            "(e.g. postgresql://vigie:***@db.example.coop/vigie, or sqlite:///path/vigie.sqlite)")
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        # the only PostgreSQL driver Vigie depends on (SQLAlchemy's default varies by version)
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


#: query parameters that carry a secret (libpq takes ``?password=``, ``?sslpassword=``)
_SECRET_QUERY = re.compile(r"pass|pwd|secret|token", re.IGNORECASE)


def safe_url(url: URL) -> str:
    """The URL with its password hidden, for logs, alerts and messages: the one after the
    user name and any given as a query parameter (``?password=…``)."""
    query = {name: "***" if _SECRET_QUERY.search(name) else value
             for name, value in url.query.items()}
    shown = url.set(query=query).render_as_string(hide_password=True)
    # SQLAlchemy escapes the query's '*'; the mask reads better as it is
    return shown.replace("=%2A%2A%2A", "=***")


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for ``url``; creates the folder of a SQLite file if needed."""
    parsed = normalize_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        kwargs["connect_args"] = {"cached_statements": SQLITE_CACHED_STATEMENTS}
        if database in ("", ":memory:"):
            # one shared connection, or each thread would see its own empty database
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"]["check_same_thread"] = False
        elif not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine)
        return engine
    if "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT}
    # a connection killed while the database was away is replaced on next checkout
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is off: SQLAlchemy emits BEGIN itself below
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            # in WAL mode NORMAL loses nothing on a process crash, only on power loss
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def writing(engine: Engine) -> Engine:
    """The same engine (same pool) for transactions that will write.

    On SQLite they begin with ``BEGIN IMMEDIATE``: the write lock is taken at once, waiting
    up to the busy timeout. A deferred ``BEGIN`` that reads first, then writes, fails at
    once with "database is locked" when another connection committed in between
    (``SQLITE_BUSY_SNAPSHOT``, which no timeout can wait out). Reads keep the deferred
    ``BEGIN`` and never block the writer. PostgreSQL needs nothing: the option is unused.
    """
    return engine.execution_options(**{WRITE_OPTION: True})


def dialect_insert(engine: Engine, table: Table) -> Insert:
    """An INSERT for ``table`` that supports ``on_conflict_do_nothing``/``_do_update``."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
