"""``vigie cluster status``: the nodes of a cluster, their heartbeats and the leader.

Exit code: 0 a node leads, 2 nobody does (a monitoring plugin's "critical", so the
command serves as a check), 3 the status could not be read (cluster mode off, database
unreachable or not migrated).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import click

from monitor.cli_common import EXIT_DOWN, EXIT_OK, CommandError, tell
from monitor.words import _


@click.group("cluster")
def cluster_group() -> None:
    """The nodes of a cluster (several 'vigie run' on one PostgreSQL)."""


@cluster_group.command("status")
@click.pass_context
def cluster_status(ctx: click.Context) -> None:
    """Show the nodes, their last heartbeats and the leader (marked *).

    Exit code: 0 a node leads, 2 no node leads, 3 the status could not be read.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from monitor.cli import _config_path, load_or_exit
    from monitor.cluster.settings import settings_of
    from monitor.cluster.status import read_status, summary, table
    from monitor.store import SchemaOutOfDate, Store

    _found, _registry, config = load_or_exit(_config_path(ctx.find_root()))
    settings = settings_of(config)
    if not settings.enabled:
        raise CommandError(_("Cluster mode is off (cluster.enabled is false in {path}).",
                             path=str(config.path)))
    store = Store(config.database_url)
    try:
        store.check_schema()
        with store.engine.connect() as conn:
            status = read_status(conn, settings)
    except SchemaOutOfDate as exc:
        raise CommandError(None, f"database: {exc}") from None
    except SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).splitlines()
        raise CommandError(None, f"database {store.safe_url} unreachable: "
                                 f"{cause[0] if cause else type(exc).__name__}") from None
    finally:
        store.dispose()
    zone = ZoneInfo(config.file.site.timezone)

    def when(at: float) -> str:
        return datetime.fromtimestamp(at, zone).strftime("%Y-%m-%d %H:%M:%S")

    rows = table(status, when)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    click.echo(tell(summary(status)))
    ctx.exit(EXIT_OK if status.leader is not None else EXIT_DOWN)
