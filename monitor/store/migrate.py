"""Alembic, configured in code: the migrations ship inside the package, no alembic.ini.

``upgrade(url)`` is what ``vigie db upgrade`` runs (and ``vigie run`` on the embedded SQLite
default). To write a new migration, start from what autogenerate proposes, then review
it by hand::

    from alembic import command
    from monitor.store.migrate import alembic_config
    command.revision(alembic_config("sqlite:///data/vigie.sqlite"),
                     message="add incidents", autogenerate=True)
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")

#: key of the PostgreSQL advisory lock held while migrating (two instances starting at once)
_PG_LOCK_KEY = 0x76696769  # "vigi"


class SchemaOutOfDate(RuntimeError):
    """The database schema is not the one this version of Vigie needs."""


def alembic_config(url: str | None = None, connection: Connection | None = None) -> AlembicConfig:
    """An Alembic configuration for Vigie's migrations.

    Give ``connection`` to migrate through it (the store's engine, with its SQLite
    settings), or ``url`` for Alembic to connect itself (offline SQL generation too).
    """
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # configparser treats % as interpolation; URLs carry %-escapes (e.g. options=-c…%3D…)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this version of Vigie."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration shipped"
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision``, in one transaction."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite rebuilds tables to alter them; with foreign keys enforced, dropping the
            # old copy would cascade to child rows. The pragma only works outside a
            # transaction, hence on the raw connection before BEGIN.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
                command.upgrade(alembic_config(connection=conn), revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def downgrade_engine(engine: Engine, revision: str) -> None:
    """Migrate the database behind ``engine`` back to ``revision`` (``base``: empty)."""
    with engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), revision)


def check_engine(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at the newest migration."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaOutOfDate(
            "the database has no Vigie tables yet: run 'vigie db upgrade' first")
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current not in known:
        raise SchemaOutOfDate(
            f"the database is at revision {current}, newer than this version of Vigie "
            f"knows (it needs {head}): upgrade Vigie")
    raise SchemaOutOfDate(
        f"the database is at revision {current}, Vigie needs {head}: run 'vigie db upgrade'")


def upgrade(url: str) -> None:
    """Create or migrate the database at ``url`` to the newest schema."""
    from monitor.store.engine import make_engine

    engine = make_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()
