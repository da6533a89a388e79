"""``vigie demo``: start the local demo targets and run Vigie on the bundled configuration."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError

from monitor.api import Config
from plugins.demo.democonfig import DEMO_CONFIG, render_demo_config
from plugins.demo.feeder import FED_CHECK, feed_heartbeat
from plugins.demo.targets import (
    DEFAULT_BASE_PORT,
    OFFSETS,
    DemoTargets,
    start_demo_targets,
)

__all__ = ["DEMO_CONFIG", "demo_command", "render_demo_config", "run_demo"]

log = logging.getLogger(__name__)

Echo = Callable[[str], object]

#: the folder of the data directory where the stand-in helpdesk keeps what it receives
HELPDESK_DIR = "helpdesk"
#: the folder of the data directory where the stand-in for the members' mailboxes keeps
#: what Vigie mails them (French, like the pages members see: "le courrier", the mail)
MAILBOX_DIR = "courrier"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _visit_host(host: str) -> str:
    """The address a browser on this machine opens for a listener on ``host``."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _banner(echo: Echo, base: str, config_path: Path, data_dir: Path,
            targets: DemoTargets) -> None:
    lines = [
        "Vigie — démonstration (demo)",
        f"  Page d'état (status page)              : {base}/",
        f"  Espace bénévoles (volunteers' area)    : {base}/admin/",
        f"  Métriques Prometheus (metrics)         : {base}/metrics",
        f"  Santé de Vigie (health)                : {base}/healthz",
        f"  Alertes reçues par les bénévoles       : {targets.urls['alerts']}",
        f"  Un problème ? (members' assistance)    : {base}/assistance/",
        f"  Tickets du support (helpdesk tickets)  : {targets.helpdesk.folder}",
        f"  S'abonner (e-mail subscriptions)       : {base}/abonnement/",
        f"  Courrier des membres (members' mail)   : {targets.mailbox.folder}",
        f"  Un guide (a guide)                     : {base}/guides/demo/nextcloud-maintenance",
        f"  Configuration                          : {config_path}",
        f"  Données (data directory)               : {data_dir}",
        "  Cibles de démonstration (demo targets) :",
        *(f"    {name:<10} {url}" for name, url in targets.urls.items()),
    ]
    for line in lines:
        echo(line)


async def _account(config: Config, base: str, echo: Echo) -> None:
    """Create the demo volunteer account and say how to sign in."""
    from plugins.demo.account import DEMO_USER, ensure_demo_account

    more = f"vigie -c {config.path} user add NOM"
    try:
        password = await asyncio.to_thread(ensure_demo_account, config.database_url)
    except (ImportError, OSError, ValueError, SQLAlchemyError) as exc:
        # the demo goes on without it (no admin area installed, database trouble…): say
        # how to make one by hand
        log.warning("demo: could not create the demo account: %s", exc)
        echo(f"  Compte bénévole (volunteer account)    : {more}")
        return
    echo(f"  Compte bénévole (volunteer account)    : {DEMO_USER} / {password}"
         f"   ({base}/admin/login)")
    echo(f"  Autres comptes (more accounts)         : {more}")


async def _feed_when_ready(config: Config, base: str, ready: asyncio.Event) -> None:
    """Once Vigie listens, post the demo backup job's heartbeat every minute."""
    fed = next((c for c in config.checks if c.key == FED_CHECK), None)
    if fed is None:
        return
    await ready.wait()
    await feed_heartbeat(f"{base}/push/{fed.options.token.get_secret_value()}")


def _load(config_path: Path, data_dir: Path, listen: str):
    from monitor.config_loader import blocked_plugins, load_config
    from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
    from monitor.runtime import apply_overrides

    pm = build_plugin_manager(blocked=blocked_plugins(config_path))
    registry = ProbeRegistry.from_plugin_manager(pm)
    config = apply_overrides(load_config(config_path, registry, config_sections(pm)),
                             data_dir, listen)
    return pm, registry, config


async def run_demo(host: str, port: int, data_dir: Path, targets_port: int, *,
                   ready: asyncio.Event | None = None, stop: asyncio.Event | None = None,
                   echo: Echo = click.echo,
                   started: Callable[[DemoTargets], object] | None = None) -> None:
    """Start the targets, print where to look, run Vigie until Ctrl-C (or ``stop``).

    The configuration is rendered into ``data_dir/vigie-demo.yaml``; the stand-in
    helpdesk keeps the tickets it receives in ``data_dir/helpdesk/``, the stand-in for the
    members' mailboxes what Vigie mails them in ``data_dir/courrier/``; before Vigie starts
    the ``demo`` volunteer account gets a new random password (printed); once Vigie
    listens, a task posts the demo backup job's heartbeat every minute. ``started`` is
    given the running targets (tests watch them).
    """
    from monitor.runtime import serve

    try:
        targets = await start_demo_targets("127.0.0.1", targets_port,
                                           helpdesk_dir=data_dir / HELPDESK_DIR,
                                           mailbox_dir=data_dir / MAILBOX_DIR)
    except OSError as exc:
        raise click.ClickException(
            f"cannot start the demo targets on ports {targets_port}–"
            f"{targets_port + max(OFFSETS.values())} ({exc.strerror}); "
            "choose others with --targets-port") from None
    try:
        base = f"http://{_url_host(_visit_host(host))}:{port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        config_path = data_dir / "vigie-demo.yaml"
        config_path.write_text(render_demo_config(targets_port, public_url=f"{base}/"),
                               encoding="utf-8")
        pm, registry, config = _load(config_path, data_dir, f"{_url_host(host)}:{port}")
        _banner(echo, base, config_path, data_dir, targets)
        if started is not None:
            started(targets)
        await _account(config, base, echo)
        echo("Ctrl-C pour arrêter (press Ctrl-C to stop).")
        ready = ready or asyncio.Event()
        helper = asyncio.create_task(_feed_when_ready(config, base, ready),
                                     name="vigie-demo-heartbeat")
        try:
            await serve(config, pm, registry, ready=ready, stop=stop)
        finally:
            helper.cancel()
            await asyncio.gather(helper, return_exceptions=True)
    finally:
        await targets.close()


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address Vigie listens on (status page and /metrics).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              help="Port Vigie listens on.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/demo"), show_default=True,
              help="Where the demo keeps its database and its rendered configuration "
                   "(relative to the current directory).")
@click.option("--targets-port", default=DEFAULT_BASE_PORT, show_default=True,
              type=click.IntRange(1, 65535 - max(OFFSETS.values())),
              help="First port of the local demo targets (they use the next "
                   f"{max(OFFSETS.values())} ports too).")
def demo_command(host: str, port: int, data_dir: Path, targets_port: int) -> None:
    """Run Vigie against local demo services (healthy, slow, saturated, flapping, down,
    in maintenance), with alerts, guides, members' mail and a volunteer account."""
    from monitor.config_loader import ConfigError

    try:
        asyncio.run(run_demo(host, port, data_dir.resolve(), targets_port))
    except ConfigError as exc:
        raise click.ClickException(f"invalid demo configuration:\n{exc}") from None
    except KeyboardInterrupt:
        pass
