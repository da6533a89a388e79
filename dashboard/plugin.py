"""The dashboard as a Vigie plugin: mounted at ``/`` by ``vigie run``, served alone by
``vigie dashboard``, configured by the ``dashboard`` section of ``vigie.yaml``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dashboard.settings import DashboardSettings
from monitor.plugins import hookimpl

if TYPE_CHECKING:
    from monitor.startup import StartupContext

log = logging.getLogger(__name__)


@hookimpl
def vigie_register_config_sections() -> dict[str, type]:
    """The ``dashboard`` section (secret key, refresh interval, help links)."""
    return {"dashboard": DashboardSettings}


@hookimpl
def vigie_startup(ctx: StartupContext) -> None:
    """Serve the status page at ``/`` on Vigie's listener, reading the runtime's store."""
    from dashboard import create_app

    ctx.mount("/", create_app(ctx.config, store=ctx.store, incidents=ctx.incidents,
                              assistance=ctx.assistance, subscriptions=ctx.subscriptions,
                              locations=ctx.location_grid))


@click.command("dashboard")
@click.option("--listen", default=None,
              help="host:port to serve the status page on (default: server.listen).")
@click.option("--threads", default=None, type=click.IntRange(1, 256),
              help="Worker threads (default: server.threads).")
@click.pass_context
def dashboard_command(ctx: click.Context, listen: str | None, threads: int | None) -> None:
    """Serve the status page alone (Vigie's listener), against the database of the configuration.

    Use it to put the page on another machine than the checks, sharing a PostgreSQL
    database; `vigie run` already serves it.
    """
    from dashboard import create_app
    from monitor.cli import load_or_exit

    root = ctx.find_root()
    _, _, config = load_or_exit(Path(root.obj["config"]))
    server = config.file.server
    host, _, port = (listen or server.listen).rpartition(":")
    if not port.isdigit():
        raise click.UsageError(f"--listen expects host:port, got {listen!r}")
    app = create_app(config)
    from monitor.web import serve

    # said once it listens, so that whoever waits for the line can connect at once
    serve(app, host.strip("[]"), int(port), threads or server.threads,
          spool_dir=config.data_dir / "spool",
          on_ready=lambda: click.echo(f"Vigie status page on http://{host}:{port}/ "
                                      "(Ctrl-C to stop)"),
          **server.listener_options())


@hookimpl
def vigie_register_commands() -> list[click.Command]:
    """``vigie dashboard``."""
    return [dashboard_command]
