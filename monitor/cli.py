"""The ``vigie`` command line.

``vigie run`` starts the service; ``vigie check`` runs checks once and exits like a
monitoring plugin (0 up, 1 degraded, 2 down, 3 unknown); ``vigie probes`` lists the probe
kinds; ``vigie config check`` validates a file; ``vigie db upgrade`` migrates the store;
``vigie agent`` runs a remote location's checks for a server (:mod:`monitor.agent`).
Plugins add commands through ``vigie_register_commands``. Every command exits with 3 when
it cannot do what was asked, and speaks the locale's language
(:mod:`monitor.cli_common`); the log is set up by :mod:`monitor.logs`.
"""

from __future__ import annotations

import asyncio
import copy
import os
import sys
from pathlib import Path

import click
import pluggy

from monitor import __version__
from monitor.checkonce import EXIT_CODES, format_table, run_checks_once, worst_exit_code
from monitor.cli_common import EXIT_UNKNOWN, CommandError, VigieGroup, cli_language
from monitor.config_loader import ConfigError, blocked_plugins, load_with_plugins
from monitor.logs import setup_logging
from monitor.plugins import (
    PluginError,
    ProbeRegistry,
    build_plugin_manager,
    plugin_commands,
)

DEFAULT_CONFIG = "vigie.yaml"

def _config_path(ctx: click.Context) -> Path:
    return Path(ctx.obj["config"])


def load_or_exit(path: Path):
    """Build plugins and load the configuration, or print the errors and exit with 3."""
    try:
        return load_with_plugins(path)
    except ConfigError as exc:
        # the problems are written in English, like the configuration's keys
        click.echo(f"Invalid configuration ({len(exc.issues)} problem"
                   f"{'s' if len(exc.issues) > 1 else ''}):\n{exc}", err=True)
        sys.exit(EXIT_UNKNOWN)
    except PluginError as exc:
        click.echo(f"Plugin error: {exc}", err=True)
        sys.exit(EXIT_UNKNOWN)


@click.group(cls=VigieGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config", envvar="VIGIE_CONFIG", default=DEFAULT_CONFIG,
              show_default=True, help="Configuration file (or $VIGIE_CONFIG).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help="Level of Vigie's own log lines.")
@click.option("-v", "--verbose", is_flag=True,
              help="Let the libraries (SQLAlchemy, Alembic, Apprise…) log at that level "
                   "too; by default they only log their warnings.")
@click.version_option(__version__, prog_name="vigie")
@click.pass_context
def cli(ctx: click.Context, config: str, log_level: str, verbose: bool) -> None:
    """Vigie: status monitoring for hosting cooperatives.

    Exit codes, for every command: 0 done (all up), 1 degraded and 2 down (vigie check),
    3 the command could not do what was asked (usage, configuration, value, role).
    Refusals are in French when the locale is (LC_ALL, LC_MESSAGES or LANG), else English.
    """
    setup_logging(log_level, verbose)
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@cli.command()
@click.option("--listen", help="host:port for /metrics and the dashboard (overrides the file).")
@click.option("--data-dir", type=click.Path(path_type=Path),
              help="Data directory (overrides the file).")
@click.pass_context
def run(ctx: click.Context, listen: str | None, data_dir: Path | None) -> None:
    """Run the checks, serve /metrics and the status page, until SIGTERM or Ctrl-C.

    Exits with 3 and one line on stderr when Vigie cannot start for a reason the operator
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
        sys.exit(EXIT_UNKNOWN)


@cli.command()
@click.argument("services", nargs=-1)
@click.option("--lang", type=click.Choice(["fr", "en"]), default=None,
              help="Language of the table (default: the locale's, see 'vigie --help').")
@click.pass_context
def check(ctx: click.Context, services: tuple[str, ...], lang: str | None) -> None:
    """Run every check of SERVICES (default: all) once and print a table.

    Exit code like a monitoring plugin: 0 all up, 1 degraded, 2 down, 3 unknown (a check
    could not judge, or the command could not run: an unknown service, a bad file).
    """
    _, registry, config = load_or_exit(_config_path(ctx))
    unknown = [s for s in services if config.service(s) is None]
    if unknown:
        names = ", ".join(repr(s) for s in unknown)
        known = ", ".join(s.id for s in config.services)
        raise CommandError(f"service inconnu {', '.join(f'« {s} »' for s in unknown)} "
                           f"(connus : {known})",
                           f"unknown service {names} (known: {known})")
    selected = [s for s in config.services if not services or s.id in services]
    rows = asyncio.run(run_checks_once(selected, registry, config.file.scheduler.concurrency))
    click.echo(format_table(rows, lang or cli_language()))
    sys.exit(worst_exit_code(r.result.status for r in rows))


@cli.command()
def probes() -> None:
    """List the probe kinds and the plugin providing each."""
    try:
        registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    except PluginError as exc:
        raise CommandError(None, f"plugin error: {exc}") from None
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
from monitor.cli_admin import register as _register_admin  # noqa: E402 (after cli is defined)

_register_admin(cli)

# operators' command: vigie cluster status
from monitor.cluster.cli import cluster_group  # noqa: E402 (after cli is defined)

cli.add_command(cluster_group)

# a remote location's process: vigie agent (started without this module by
# monitor.launch, which keeps an agent small; listed here for `vigie --help`)
from monitor.agent.command import agent as _agent  # noqa: E402 (after cli is defined)

cli.add_command(_agent)


def command_line(pm: pluggy.PluginManager) -> click.Group:
    """The ``vigie`` command: the built-in commands and those the plugins of ``pm`` add.

    :raises PluginError: a plugin's command takes the name of another.
    """
    group = copy.copy(cli)
    group.commands = dict(cli.commands)
    for plugin, command in plugin_commands(pm):
        if command.name in group.commands:
            raise PluginError(
                f"plugin {plugin!r} registers the command {command.name!r}, already taken")
        group.add_command(command)
    return group


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vigie`` script: built-in commands plus plugin commands."""
    try:
        group = command_line(build_plugin_manager(blocked=_early_blocked(argv)))
    except PluginError as exc:
        click.echo(f"Plugin error: {exc}", err=True)
        sys.exit(EXIT_UNKNOWN)
    group.main(args=argv, prog_name="vigie")


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


__all__ = ["cli", "command_line", "main", "EXIT_CODES"]
