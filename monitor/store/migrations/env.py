"""Alembic environment for Vigie's store, driven from code (see monitor.store.migrate).

Online, it uses the connection put in ``config.attributes["connection"]`` (the store's
engine, with its SQLite settings), or connects to ``sqlalchemy.url`` itself. Offline
(``--sql``) it renders the SQL for ``sqlalchemy.url``'s dialect.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from monitor.store.engine import make_engine
from monitor.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters a table by copying it: "batch" operations do that for us
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_offline() -> None:
    """Print the SQL of the migrations instead of running them."""
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations through the given connection, or a new one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
