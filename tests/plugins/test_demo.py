"""The demo plugin: its local targets, its bundled configuration, and ``vigie demo``."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import socket

import aiohttp
from yarl import URL
import pytest
from click.testing import CliRunner

from monitor.config_loader import load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, plugin_commands
from monitor.probe import Status
from monitor.runner import run_check
from plugins.demo.command import DEMO_CONFIG, demo_command, render_demo_config, run_demo
from plugins.demo.targets import (
    DEFAULT_BASE_PORT,
    NEXTCLOUD_STATUS,
    OFFSETS,
    start_demo_targets,
)
from tests.conftest import free_port, port_open


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port() -> int:
    """A base port whose demo target ports are all free."""
    for _ in range(100):
        base = random.randint(20000, 60000)
        if all(_free(base + offset) for offset in OFFSETS.values()):
            return base
    raise RuntimeError("no free port range for the demo targets")


@pytest.fixture(scope="module")
def registry():
    """The probe kinds of every installed plugin, as ``vigie run`` loads them."""
    return ProbeRegistry.from_plugin_manager(build_plugin_manager())


@pytest.fixture
async def session():
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        yield http


def test_bundled_config_validates(registry):
    config = load_config(DEMO_CONFIG, registry)
    assert 6 <= len(config.services) <= 10
    group_ids = {g.id for g in config.file.groups}
    for service in config.services:
        assert service.name.fr and service.name.en, service.id
        assert service.group in group_ids
        for check in service.checks:
            assert check.name.en, check.key
            assert 30 <= check.interval <= 60 and check.retry_interval == 10
    kinds = {c.ref.kind for c in config.checks}
    assert {"http", "tcp", "nextcloud"} <= kinds
    # every target the configuration probes is a demo target
    ports = {getattr(c.options, "port", None) or URL(str(c.options.url)).port
             for c in config.checks}
    assert ports <= {DEFAULT_BASE_PORT + offset for offset in OFFSETS.values()}


def test_render_moves_only_the_target_ports(registry, tmp_path):
    text = render_demo_config(12000)
    settings = "\n".join(line.split("#")[0] for line in text.splitlines())
    assert "8701" not in settings and "8706" not in settings and "8709" not in settings
    assert "127.0.0.1:12000/" in settings and "port: 12005" in settings
    assert "port: 12008" in settings and "listen: 127.0.0.1:8080" in settings
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    config = load_config(path, registry)
    assert len(config.checks) == len(load_config(DEMO_CONFIG, registry).checks)


async def test_targets_answer_what_the_demo_config_expects(registry, session, tmp_path):
    base = free_base_port()
    path = tmp_path / "demo.yaml"
    path.write_text(render_demo_config(base))
    config = load_config(path, registry)
    slow = config.service("espace-membre").checks[0]
    # the real slow target answers after 3 s, well past the config's degraded_after
    assert slow.options.degraded_after < 3.0 < slow.timeout
    targets = await start_demo_targets("127.0.0.1", base,
                                       slow_delay=slow.options.degraded_after + 0.2)
    try:
        results = await asyncio.gather(*(
            run_check(check, registry.get(check.ref.kind).instance, session)
            for check in config.checks))
    finally:
        await targets.close()
    got = {check.key: (result.status, result.reason.code if result.reason else None)
           for check, result in zip(config.checks, results)}
    assert got == {
        "sites-web/accueil": (Status.UP, None),
        "sites-web/php-base": (Status.UP, None),
        "espace-membre/web": (Status.DEGRADED, "http.slow"),
        "nextcloud/status": (Status.MAINTENANCE, "nextcloud.maintenance"),
        "forum/web": (Status.UP, None),
        "listes/web": (Status.DOWN, "http.status"),
        "listes/soap": (Status.DOWN, "connection.refused"),
        "messagerie/smtp": (Status.UP, None),
        "messagerie/echo": (Status.UP, None),
    }
    # closed: every port is free again
    assert not any(port_open("127.0.0.1", base + offset) for offset in OFFSETS.values())


async def test_nextcloud_target_follows_the_real_shapes(session):
    base = free_base_port()
    targets = await start_demo_targets("127.0.0.1", base)
    try:
        async with session.get(targets.urls["nextcloud"]) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            body = json.loads(await resp.text())
        assert list(body) == ["installed", "maintenance", "needsDbUpgrade", "version",
                              "versionstring", "edition", "productname", "extendedSupport"]
        assert body == NEXTCLOUD_STATUS and body["maintenance"] is True
        assert body["edition"] == "" and body["productname"] == "Nextcloud"
        async with session.get(f"http://127.0.0.1:{targets.port('nextcloud')}/index.php") as resp:
            assert resp.status == 503
            assert resp.headers["X-Nextcloud-Maintenance-Mode"] == "1"
            assert resp.headers["Retry-After"] == "120"
    finally:
        await targets.close()


async def test_flaky_target_alternates(session):
    targets = await start_demo_targets("127.0.0.1", free_base_port(), flap_period=0.2)
    try:
        statuses = []
        for _ in range(10):
            async with session.get(targets.urls["flaky"]) as resp:
                statuses.append(resp.status)
            await asyncio.sleep(0.07)
    finally:
        await targets.close()
    assert set(statuses) == {200, 502}
    assert statuses[0] == 200  # up first, so a fresh demo starts green
    changes = sum(1 for a, b in itertools.pairwise(statuses) if a != b)
    assert changes >= 2  # up, down, up again


async def test_echo_target_greets_and_echoes():
    targets = await start_demo_targets("127.0.0.1", free_base_port())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", targets.port("echo"))
        assert (await reader.readline()).startswith(b"220 ")
        writer.write(b"bonjour\r\n")
        assert await reader.readline() == b"bonjour\r\n"
        writer.write(b"QUIT\r\n")
        assert await reader.readline() == b"221 Bye\r\n"
        assert await reader.read() == b""
        writer.close()
        # a client still connected does not stop the targets from closing
        _r, lingering = await asyncio.open_connection("127.0.0.1", targets.port("echo"))
    finally:
        await asyncio.wait_for(targets.close(), 2)
    lingering.close()


async def test_port_taken_is_reported_and_nothing_is_left_running():
    base = free_base_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + OFFSETS["down"]))
        taken.listen()
        with pytest.raises(OSError):
            await start_demo_targets("127.0.0.1", base)
    assert not port_open("127.0.0.1", base + OFFSETS["site"])


def test_demo_command_is_registered():
    commands = dict(plugin_commands(build_plugin_manager()))
    assert commands["demo"] is demo_command
    help_text = CliRunner().invoke(demo_command, ["--help"]).output
    for option in ("--host", "--port", "--data-dir", "--targets-port", "data/demo"):
        assert option in help_text


async def test_run_demo_serves_metrics_until_stopped(tmp_path, session):
    base, port = free_base_port(), free_port()
    ready, stop, lines = asyncio.Event(), asyncio.Event(), []
    task = asyncio.create_task(run_demo("127.0.0.1", port, tmp_path / "data", base,
                                        ready=ready, stop=stop, echo=lines.append))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        assert port_open("127.0.0.1", base + OFFSETS["site"])
        async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200
            assert "vigie_" in await resp.text()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    output = "\n".join(lines)
    assert f"http://127.0.0.1:{port}/metrics" in output
    assert f"http://127.0.0.1:{base}/" in output
    # the configuration with moved ports was written to the data directory and used
    assert (tmp_path / "data" / "vigie-demo.yaml").read_text() == render_demo_config(base)
    assert not port_open("127.0.0.1", base + OFFSETS["site"])
