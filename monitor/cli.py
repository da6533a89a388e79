"""The ``vigie`` command line.

``vigie run`` starts the service; ``vigie check`` runs checks once and exits like a
monitoring plugin (0 up, 1 degraded, 2 down, 3 unknown); ``vigie probes`` lists the probe
kinds; ``vigie config check`` validates a file; ``vigie db upgrade`` migrates the store.
Plugins add commands through ``vigie_register_commands``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from monitor import __version__
from monitor.checkonce import EXIT_CODES, format_table, run_checks_once, worst_exit_code
from monitor.config_loader import ConfigError, blocked_plugins, load_with_plugins
from monitor.plugins import (
    PluginError,
    ProbeRegistry,
    build_plugin_manager,
    plugin_commands,
)

DEFAULT_CONFIG = "vigie.yaml"

#: libraries whose debug (or info) messages quote secrets, with the lowest level they may
#: log at whatever ``--log-level`` says: Apprise and urllib3 print the URLs they post to
#: (a Telegram bot token is in the path), requests-oauthlib the tokens, httpx every URL at
#: INFO, SQLAlchemy every statement with its parameters (password hashes, API tokens)
QUIET_LOGGERS = {
    "apprise": logging.INFO,
    "urllib3": logging.INFO,
    "requests": logging.INFO,
    "requests_oauthlib": logging.INFO,
    "oauthlib": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.INFO,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.INFO,
    "charset_normalizer": logging.INFO,
    "MARKDOWN": logging.INFO,
}


def quiet_libraries(level: int) -> None:
    """Keep the libraries of :data:`QUIET_LOGGERS` at their floor even when ``level``
    (the root logger's) is lower, e.g. with ``--log-level debug``; a higher level applies
    to them as to everything else."""
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, level))


def _config_path(ctx: click.Context) -> Path:
    return Path(ctx.obj["config"])


def load_or_exit(path: Path):
    """Build plugins and load the configuration, or print the errors and exit with 2."""
    try:
        return load_with_plugins(path)
    except ConfigError as exc:
        click.echo(f"Invalid configuration ({len(exc.issues)} problem"
                   f"{'s' if len(exc.issues) > 1 else ''}):\n{exc}", err=True)
        sys.exit(2)
    except PluginError as exc:
        click.echo(f"Plugin error: {exc}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config", envvar="VIGIE_CONFIG", default=DEFAULT_CONFIG,
              show_default=True, help="Configuration file (or $VIGIE_CONFIG).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.version_option(__version__, prog_name="vigie")
@click.pass_context
def cli(ctx: click.Context, config: str, log_level: str) -> None:
    """Vigie: status monitoring for hosting cooperatives."""
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_libraries(logging.getLevelName(log_level.upper()))
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@cli.command()
@click.option("--listen", help="host:port for /metrics and the dashboard (overrides the file).")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Data directory (overrides the file).")
@click.pass_context
def run(ctx: click.Context, listen: str | None, data_dir: Path | None) -> None:
    """Run the checks, serve /metrics and the status page, until SIGTERM or Ctrl-C.

    Exits with 2 and one line on stderr when Vigie cannot start for a reason the operator
    can fix (listen address taken, database schema out of date). A database unreachable at
    start is not one: Vigie probes anyway and keeps trying to reach it.
    """
    from monitor import loop
    from monitor.runtime import StartupError, apply_overrides, serve

    pm, registry, config = load_or_exit(_config_path(ctx))
    try:
        # uvloop when installed (VIGIE_EVENT_LOOP=asyncio forces asyncio's own loop)
        loop.run(serve(apply_overrides(config, data_dir, listen), pm, registry))
    except StartupError as exc:
        click.echo(f"vigie: {exc}", err=True)
        sys.exit(2)


@cli.command()
@click.argument("services", nargs=-1)
@click.option("--lang", type=click.Choice(["fr", "en"]), default=None,
              help="Language of the reasons (default: the site's language).")
@click.pass_context
def check(ctx: click.Context, services: tuple[str, ...], lang: str | None) -> None:
    """Run every check of SERVICES (default: all) once and print a table.

    Exit code like a monitoring plugin: 0 all up, 1 degraded, 2 down, 3 unknown.
    """
    _, registry, config = load_or_exit(_config_path(ctx))
    unknown = [s for s in services if config.service(s) is None]
    if unknown:
        known = ", ".join(s.id for s in config.services)
        raise click.UsageError(f"unknown service {', '.join(unknown)} (known: {known})")
    selected = [s for s in config.services if not services or s.id in services]
    rows = asyncio.run(run_checks_once(selected, registry, config.file.scheduler.concurrency))
    click.echo(format_table(rows, lang or config.file.site.language))
    sys.exit(worst_exit_code(r.result.status for r in rows))


@cli.command()
def probes() -> None:
    """List the probe kinds and the plugin providing each."""
    try:
        registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    kinds = list(registry)
    width = max((len(k.kind) for k in kinds), default=4)
    pwidth = max((len(k.plugin) for k in kinds), default=6)
    click.echo(f"{'KIND':<{width}}  {'PLUGIN':<{pwidth}}  DESCRIPTION")
    for kind in kinds:
        click.echo(f"{kind.kind:<{width}}  {kind.plugin:<{pwidth}}  {kind.probe_class.description}")


@cli.group("config")
def config_group() -> None:
    """Work with configuration files."""


@config_group.command("check")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.pass_context
def config_check(ctx: click.Context, file: Path | None) -> None:
    """Validate FILE (default: the --config file) without running anything."""
    path = file or _config_path(ctx.find_root())
    _, _, config = load_or_exit(path)
    checks = len(config.checks)
    click.echo(f"{path}: OK ({len(config.services)} services, {checks} checks)")


@cli.group("db")
def db_group() -> None:
    """Work with the store (database)."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply the database migrations (creates the schema on a new database)."""
    from monitor.store import Store

    _, _, config = load_or_exit(_config_path(ctx.find_root()))
    if config.file.store.url is None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(config.database_url)
    try:
        store.upgrade()
    finally:
        store.dispose()
    click.echo(f"database is up to date ({store.safe_url})")


# volunteers' commands: vigie notice / maintenance / incident / outbox
from monitor.cli_admin import register as _register_admin  # noqa: E402

_register_admin(cli)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vigie`` script: built-in commands plus plugin commands."""
    try:
        pm = build_plugin_manager(blocked=_early_blocked(argv))
        for plugin, command in plugin_commands(pm):
            if command.name in cli.commands:
                raise click.ClickException(
                    f"plugin {plugin!r} registers the command {command.name!r}, already taken")
            cli.add_command(command)
    except PluginError as exc:
        click.echo(f"Plugin error: {exc}", err=True)
        sys.exit(2)
    cli.main(args=argv, prog_name="vigie")


def _early_blocked(argv: list[str] | None) -> list[str]:
    """Blocked plugins from the config file named on the command line, if readable."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = os.environ.get("VIGIE_CONFIG", DEFAULT_CONFIG)
    for i, arg in enumerate(args):
        if arg in ("-c", "--config") and i + 1 < len(args):
            path = args[i + 1]
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
    return blocked_plugins(path)


__all__ = ["cli", "main", "EXIT_CODES"]
