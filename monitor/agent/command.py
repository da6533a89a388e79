"""The ``vigie agent`` command: its options (flags or ``VIGIE_AGENT_*``) and its start.

This module imports little (click and the settings): ``vigie agent`` is started through
:func:`monitor.launch.main` without the rest of the command line, so an agent never loads
the database code, the dashboard or the bridges. The work is done in
:mod:`monitor.agent.loop`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from monitor.agent.settings import (
    BUILT_IN_SERVER_ONLY,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_MAX_BUFFERED,
    DEFAULT_REFRESH,
    EXIT_REFUSED,
    AgentSettings,
    SettingsError,
)
from monitor.cli_common import EXIT_UNKNOWN


class Duration(click.ParamType):
    """A duration as the configuration writes them (``30s``, ``5m``, a number of
    seconds)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        """Seconds of ``value``."""
        if isinstance(value, float):
            return value
        from monitor.schema import parse_duration

        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class AgentCommand(click.Command):
    """``vigie agent``: click's own errors (a missing option…) exit with 3, as every
    ``vigie`` command's, also when the command runs on its own (:mod:`monitor.launch`)."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        """Parse the options (their errors exit with 3)."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            exc.exit_code = EXIT_UNKNOWN  # type: ignore[misc]  # click reads the instance's own
            raise


def _env(name: str) -> str:
    return f"VIGIE_AGENT_{name}"


@click.command("agent", cls=AgentCommand,
               context_settings={"help_option_names": ["-h", "--help"],
                                 "show_default": True, "max_content_width": 100})
@click.option("--server", envvar=_env("SERVER"), show_envvar=True, required=True,
              metavar="URL",
              help="The Vigie server's address, e.g. https://status.example.coop "
                   "(https:// unless it is this machine).")
@click.option("--token-file", envvar=_env("TOKEN_FILE"), show_envvar=True, required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="File holding this agent's token (from `vigie agent-token add` on the "
                   "server); mode 600. Never given on the command line.")
@click.option("--data-dir", envvar=_env("DATA_DIR"), show_envvar=True, required=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="Directory for the spool of results and the last list of checks.")
@click.option("--ca-file", envvar=_env("CA_FILE"), show_envvar=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Certificate authorities to trust for the server (default: the "
                   "system's).")
@click.option("--location-label", envvar=_env("LOCATION_LABEL"), show_envvar=True,
              metavar="TEXT", help="A name for this agent in its own log lines.")
@click.option("--max-buffered", envvar=_env("MAX_BUFFERED"), show_envvar=True,
              type=click.IntRange(min=1), default=DEFAULT_MAX_BUFFERED,
              help="Most results kept on disk while the server is away; beyond, the "
                   "oldest are dropped and counted.")
@click.option("--concurrency", envvar=_env("CONCURRENCY"), show_envvar=True,
              type=click.IntRange(1, 4096), default=DEFAULT_CONCURRENCY,
              help="Checks running at the same time.")
@click.option("--refresh-every", envvar=_env("REFRESH_EVERY"), show_envvar=True,
              type=Duration(), default=f"{DEFAULT_REFRESH:.0f}s",
              help="How often the list of checks is fetched (seconds, or 30s, 5m…).")
@click.option("--max-backoff", envvar=_env("MAX_BACKOFF"), show_envvar=True,
              type=Duration(), default=f"{DEFAULT_MAX_BACKOFF:.0f}s",
              help="Longest wait between two attempts to reach a server that does not "
                   "answer (unless it asks for longer with Retry-After).")
@click.option("--block-plugin", "blocked", envvar=_env("BLOCK_PLUGINS"), show_envvar=True,
              multiple=True, metavar="NAME",
              help="A plugin not to load (repeat the option; in the variable, names "
                   f"separated by spaces). Never loaded: {', '.join(BUILT_IN_SERVER_ONLY)}.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default=None, help="Level of the agent's log lines  [default: info]")
@click.pass_context
def agent(ctx: click.Context, server: str, token_file: Path, data_dir: Path,
          ca_file: Path | None, location_label: str | None, max_buffered: int,
          concurrency: int, refresh_every: float, max_backoff: float,
          blocked: tuple[str, ...], log_level: str | None) -> None:
    """Run the checks of one remote location for a Vigie server, with no database.

    The agent fetches the checks its token's location is assigned (at start and every
    --refresh-every), runs them with the same probe plugins and deadlines as the server,
    keeps every result on disk and sends them in order, in batches, whenever the server
    answers. Stop it with SIGTERM: results not yet sent wait on disk for the next start.

    Exit codes: 0 stopped (SIGTERM, Ctrl-C); 78 the server refuses the token (unknown,
    revoked, or not this location's: a new token is needed, restarting will not help);
    3 the agent cannot start (a flag, the token file, the data directory); 1 a failure
    of the agent itself. See docs/agent.md.
    """
    if log_level is not None or ctx.parent is None:
        from monitor.logs import setup_logging

        setup_logging(log_level or "info")
    from monitor.agent.settings import server_url

    try:
        settings = AgentSettings(
            server=server_url(server), token_file=token_file, data_dir=data_dir,
            ca_file=ca_file, location_label=location_label, max_buffered=max_buffered,
            concurrency=concurrency, refresh_every=refresh_every, max_backoff=max_backoff,
            blocked=tuple(name for value in blocked for name in value.split()))
    except SettingsError as exc:
        _refuse(str(exc))
    sys.exit(start(settings))


def start(settings: AgentSettings) -> int:
    """Read the token, load the probe plugins, run the agent; its exit code."""
    from monitor import loop, malloc
    from monitor.agent.loop import Agent
    from monitor.agent.settings import read_token
    from monitor.agent.spool import SpoolLocked
    from monitor.plugins import PluginError, ProbeRegistry, build_plugin_manager
    from monitor.resources import raise_nofile_limit

    try:
        token = read_token(settings.token_file)
        pm = build_plugin_manager(blocked=(*BUILT_IN_SERVER_ONLY, *settings.blocked))
        registry = ProbeRegistry.from_plugin_manager(pm)
    except SettingsError as exc:
        _refuse(str(exc))
    except PluginError as exc:
        _refuse(f"plugin error: {exc}")
    raise_nofile_limit()
    malloc.configure()
    malloc.trim()  # the plugins' import-time garbage
    try:
        return loop.run(Agent(settings, token, registry).run())
    except SpoolLocked as exc:
        _refuse(f"{exc}: one agent per data directory")
    except OSError as exc:
        _refuse(f"--data-dir {settings.data_dir}: {exc.strerror or exc}")


def _refuse(message: str) -> NoReturn:
    """Say why the agent cannot start, on standard error, and exit with 3."""
    click.echo(f"vigie agent: {message}", err=True)
    sys.exit(EXIT_UNKNOWN)


__all__ = ["EXIT_REFUSED", "agent", "start"]
