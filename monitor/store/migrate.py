"""Alembic, configured in code: the migrations ship inside the package, no alembic.ini.

``upgrade(url)`` is what ``vigie db upgrade`` runs (and ``vigie run`` on the embedded SQLite
default). To write a new migration, start from what autogenerate proposes, then review
it by hand::

    from alembic import command
    from monitor.store.migrate import alembic_config
    command.revision(alembic_config("sqlite:///data/vigie.sqlite"),
                     message="add incidents", autogenerate=True)

Alembic (and Mako, which it loads) weighs about 15 MB of memory for the life of the
process, so it is imported only when there is something to migrate or to explain: a
database already at the newest revision is recognised from the ``alembic_version`` table
and the ``revision``/``down_revision`` lines of the shipped migration files.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
_REVISION_LINE = re.compile(
    r"^(down_revision|revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*(?:#.*)?$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")

#: key of the PostgreSQL advisory lock held while migrating (two instances starting at once)
_PG_LOCK_KEY = 0x76696769  # "vigi"


class SchemaOutOfDate(RuntimeError):
    """The database schema is not the one this version of Vigie needs."""


def alembic_config(url: str | None = None, connection: Connection | None = None) -> AlembicConfig:
    """An Alembic configuration for Vigie's migrations.

    Give ``connection`` to migrate through it (the store's engine, with its SQLite
    settings), or ``url`` for Alembic to connect itself (offline SQL generation too).
    """
    from alembic.config import Config as AlembicConfig

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
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration shipped"
    return head


@lru_cache(maxsize=1)
def shipped_head() -> str | None:
    """:func:`head_revision` read from the migration files without importing Alembic.

    None when the files do not give one unambiguous head (then ask Alembic).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(m.groups() for m in _REVISION_LINE.finditer(path.read_text("utf-8")))
        own = _QUOTED.findall(found.get("revision", ""))
        if len(own) != 1:
            return None
        revisions.add(own[0])
        parents.update(_QUOTED.findall(found.get("down_revision", "")))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, None for an empty database."""
    with engine.connect() as conn:
        return _current(conn)


def _current(conn: Connection) -> str | None:
    """What Alembic's ``MigrationContext.get_current_revision`` answers, in plain SQL."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise SchemaOutOfDate(f"the database has several migration heads: {sorted(rows)}")
    return rows[0] if rows else None


def is_current(engine: Engine) -> bool:
    """The database is at the newest shipped migration (checked without Alembic)."""
    head = shipped_head()
    return head is not None and current_revision(engine) == head


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision``, in one transaction."""
    if revision == "head" and is_current(engine):
        return  # nothing to do: leave Alembic unloaded
    from alembic import command

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
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), revision)


def check_engine(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at the newest migration."""
    if is_current(engine):
        return
    from alembic.script import ScriptDirectory

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
