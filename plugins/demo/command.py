"""``vigie demo``: start the local demo targets and run Vigie on the bundled configuration."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import click

from plugins.demo.targets import DEFAULT_BASE_PORT, OFFSETS, start_demo_targets

DEMO_CONFIG = Path(__file__).with_name("vigie-demo.yaml")
"""The bundled demo configuration."""

_TARGET_ADDRESS = re.compile(r"127\.0\.0\.1:(\d+)")


def render_demo_config(base_port: int = DEFAULT_BASE_PORT) -> str:
    """The demo configuration's text with the target ports moved to start at ``base_port``.

    Only the ports of the demo targets (``8701`` + :data:`OFFSETS`) are changed; Vigie's
    own listener is set by ``--host``/``--port``.
    """
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    shift = {DEFAULT_BASE_PORT + offset: base_port + offset for offset in OFFSETS.values()}

    def move(match: re.Match[str]) -> str:
        port = int(match.group(1))
        return f"127.0.0.1:{shift.get(port, port)}"

    text = _TARGET_ADDRESS.sub(move, text)
    # tcp checks give host and port apart
    return re.sub(r"(?m)^(\s+port: )(\d+)\s*$",
                  lambda m: f"{m.group(1)}{shift.get(int(m.group(2)), int(m.group(2)))}", text)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def run_demo(host: str, port: int, data_dir: Path, targets_port: int, *,
                   ready: asyncio.Event | None = None, stop: asyncio.Event | None = None,
                   echo: Callable[[str], object] = click.echo) -> None:
    """Start the targets, print where to look, run Vigie until Ctrl-C (or ``stop``)."""
    from monitor.runtime import run_from_path

    try:
        targets = await start_demo_targets("127.0.0.1", targets_port)
    except OSError as exc:
        raise click.ClickException(
            f"cannot start the demo targets on ports {targets_port}–"
            f"{targets_port + max(OFFSETS.values())} ({exc.strerror}); "
            "choose others with --targets-port") from None
    try:
        config_path = DEMO_CONFIG
        if targets_port != DEFAULT_BASE_PORT:
            data_dir.mkdir(parents=True, exist_ok=True)
            config_path = data_dir / "vigie-demo.yaml"
            config_path.write_text(render_demo_config(targets_port), encoding="utf-8")
        base = f"http://{_url_host(host)}:{port}"
        echo("Vigie demo — démonstration")
        echo(f"  status page / page d'état : {base}/")
        echo(f"  Prometheus metrics        : {base}/metrics")
        echo(f"  Vigie's own health        : {base}/healthz")
        echo(f"  configuration             : {config_path}")
        echo(f"  data directory            : {data_dir}")
        echo("  demo targets:")
        for name, url in targets.urls.items():
            echo(f"    {name:<10} {url}")
        echo("Press Ctrl-C to stop.")
        await run_from_path(config_path, data_dir=data_dir, listen=f"{_url_host(host)}:{port}",
                            ready=ready, stop=stop)
    finally:
        await targets.close()


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address Vigie listens on (status page and /metrics).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port Vigie listens on.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("data/demo"), show_default=True,
              help="Where the demo keeps its database (relative to the current directory).")
@click.option("--targets-port", default=DEFAULT_BASE_PORT, show_default=True,
              type=click.IntRange(1, 65535 - max(OFFSETS.values())),
              help="First port of the local demo targets (they use the next few ports too).")
def demo_command(host: str, port: int, data_dir: Path, targets_port: int) -> None:
    """Run Vigie against local demo services (healthy, slow, flapping, down, maintenance)."""
    from monitor.config_loader import ConfigError

    try:
        asyncio.run(run_demo(host, port, data_dir.resolve(), targets_port))
    except ConfigError as exc:
        raise click.ClickException(f"invalid demo configuration:\n{exc}") from None
    except KeyboardInterrupt:
        pass
