"""The dead-man plugin: pings a local receiver after each cycle, never raises, logs once."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import ValidationError

from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from monitor.runtime import run_from_path
from monitor.startup import StartupContext
from plugins import deadman
from plugins.deadman import DeadmanPinger, DeadmanSettings
from tests.conftest import free_port

SECRET = "0f3c1a52-9b7e-4d2a-a1c4-7e51d2b8c9aa"


class Receiver:
    """A Healthchecks-like endpoint on 127.0.0.1: records requests, answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.status = 200
        #: while set, requests wait for ``release`` (a hung dead-man service)
        self.hang = False
        self.release = asyncio.Event()
        self.got = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        if self.hang:
            await self.release.wait()
        self.requests.append((request.method, request.path_qs, await request.read()))
        self.got.set()
        return web.Response(status=self.status, text="OK")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def url(self, suffix: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/ping/{SECRET}{suffix}"


@pytest.fixture
async def receiver():
    rec = Receiver()
    await rec.start()
    yield rec
    rec.release.set()
    await rec.runner.cleanup()


@pytest.fixture
async def make_pinger():
    made: list[DeadmanPinger] = []

    def make(store_up=lambda: True, **settings) -> DeadmanPinger:
        pinger = DeadmanPinger(DeadmanSettings.model_validate(settings), store_up)
        made.append(pinger)
        return pinger

    yield make
    for pinger in made:
        await pinger.aclose()


def deadman_messages(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "plugins.deadman"]


# Settings ---------------------------------------------------------------------------------


def test_settings_defaults_and_method_case():
    settings = DeadmanSettings.model_validate({"url": "https://hc-ping.com/x", "method": "post"})
    assert settings.method == "POST"
    assert settings.timeout == 10.0
    assert settings.fail_url is None


@pytest.mark.parametrize("url", [f"ftp://example.org/{SECRET}", f"hc-ping.com/{SECRET}",
                                 f"https:///{SECRET}"])
def test_settings_refuse_non_http_urls_without_echoing_them(url):
    with pytest.raises(ValidationError) as err:
        DeadmanSettings.model_validate({"url": url})
    assert "http:// or https://" in str(err.value)
    assert SECRET not in str(err.value)


def test_url_file_and_config_section(tmp_path: Path, monkeypatch):
    secret_file = tmp_path / "deadman-url"
    secret_file.write_text(f"https://hc-ping.com/{SECRET}\n")
    config = tmp_path / "vigie.yaml"
    config.write_text(textwrap.dedent(f"""\
        deadman:
          url_file: {secret_file}
          timeout: 5s
        """))
    pm = build_plugin_manager()
    registry = ProbeRegistry.from_plugin_manager(pm)
    loaded = load_config(config, registry, config_sections(pm))
    settings = loaded.sections["deadman"]
    assert settings.url.get_secret_value() == f"https://hc-ping.com/{SECRET}"
    assert settings.timeout == 5.0
    assert SECRET not in repr(settings)

    config.write_text(f"deadman:\n  url: https://hc-ping.com/{SECRET}\n  methd: GET\n")
    with pytest.raises(ConfigError) as err:
        load_config(config, registry, config_sections(pm))
    assert "vigie.yaml:3: deadman.methd: unknown key 'methd' (did you mean 'method'?)" in str(err.value)


# Pinging ----------------------------------------------------------------------------------


async def test_get_ping_after_a_cycle(receiver, make_pinger):
    pinger = make_pinger(url=receiver.url())
    await pinger.vigie_cycle_completed(at=1.0, checks=12, duration=3.5)
    assert receiver.requests == [("GET", f"/ping/{SECRET}", b"")]
    assert pinger.pings == 1 and not pinger.failing


async def test_post_ping_carries_a_summary(receiver, make_pinger):
    pinger = make_pinger(url=receiver.url(), method="POST")
    await pinger.vigie_cycle_completed(at=1.0, checks=12, duration=3.5)
    method, path, body = receiver.requests[0]
    assert method == "POST"
    assert body.decode() == "Vigie: cycle of 12 checks completed in 3.5 s; database up\n"


async def test_fail_url_while_the_database_is_away(receiver, make_pinger):
    database = {"up": False}
    pinger = make_pinger(store_up=lambda: database["up"], url=receiver.url(),
                         fail_url=receiver.url("/fail"))
    await pinger.vigie_cycle_completed(at=1.0, checks=3, duration=1.0)
    database["up"] = True
    await pinger.vigie_cycle_completed(at=2.0, checks=3, duration=1.0)
    assert [path for _, path, _ in receiver.requests] == [f"/ping/{SECRET}/fail", f"/ping/{SECRET}"]


async def test_without_fail_url_the_database_state_changes_nothing(receiver, make_pinger):
    pinger = make_pinger(store_up=lambda: False, url=receiver.url())
    await pinger.vigie_cycle_completed(at=1.0, checks=3, duration=1.0)
    assert [path for _, path, _ in receiver.requests] == [f"/ping/{SECRET}"]


async def test_failures_are_logged_once_then_recovery_once(receiver, make_pinger, caplog):
    caplog.set_level(logging.INFO, logger="plugins.deadman")
    pinger = make_pinger(url=receiver.url())
    receiver.status = 500
    for _ in range(3):
        await pinger.vigie_cycle_completed(at=1.0, checks=1, duration=1.0)
    warnings = deadman_messages(caplog)
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "HTTP 500" in warnings[0].getMessage()
    assert pinger.failing and pinger.pings == 0

    receiver.status = 200
    await pinger.vigie_cycle_completed(at=2.0, checks=1, duration=1.0)
    await pinger.vigie_cycle_completed(at=3.0, checks=1, duration=1.0)
    messages = deadman_messages(caplog)
    assert [m.levelno for m in messages] == [logging.WARNING, logging.INFO]
    assert "works again" in messages[1].getMessage()
    assert len(receiver.requests) == 5
    assert all(SECRET not in m.getMessage() for m in messages)


async def test_a_hung_receiver_is_abandoned_at_the_timeout(receiver, make_pinger, caplog):
    receiver.hang = True
    pinger = make_pinger(url=receiver.url(), timeout="200ms")
    await pinger.vigie_cycle_completed(at=1.0, checks=1, duration=1.0)
    # the receiver never answers: only the pinger's own timeout ends the wait
    assert pinger.failing
    assert "no answer in time" in deadman_messages(caplog)[0].getMessage()


async def test_a_refused_connection_does_not_raise(make_pinger, caplog):
    pinger = make_pinger(url=f"http://127.0.0.1:{free_port()}/ping/{SECRET}")
    await pinger.vigie_cycle_completed(at=1.0, checks=1, duration=1.0)
    message = deadman_messages(caplog)[0].getMessage()
    assert "cannot connect" in message and SECRET not in message


# Wiring into a running Vigie ----------------------------------------------------------------


async def test_vigie_run_pings_after_each_cycle(receiver, tmp_path: Path):
    """The real runtime: startup registers the pinger, each cycle pings, shutdown unregisters."""
    target = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = target.sockets[0].getsockname()[1]
    config = tmp_path / "vigie.yaml"
    config.write_text(textwrap.dedent(f"""\
        data_dir: {tmp_path / "data"}
        server: {{listen: "127.0.0.1:0"}}
        scheduler: {{spread_first_runs: false}}
        defaults: {{interval: 1s, timeout: 1s}}
        deadman:
          url: {receiver.url()}
          method: POST
        services:
          - id: svc
            name: Service
            checks:
              - {{id: port, kind: tcp, host: 127.0.0.1, port: {port}}}
        """))
    pm = build_plugin_manager()
    stop = asyncio.Event()
    task = asyncio.create_task(run_from_path(config, stop=stop, plugin_manager=pm))
    try:
        await asyncio.wait_for(receiver.got.wait(), timeout=10)
        assert isinstance(pm.get_plugin(deadman.PINGER_NAME), DeadmanPinger)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        target.close()
        await target.wait_closed()
    method, path, body = receiver.requests[0]
    assert (method, path) == ("POST", f"/ping/{SECRET}")
    assert body.startswith(b"Vigie: cycle of 1 checks completed")
    assert pm.get_plugin(deadman.PINGER_NAME) is None


async def test_without_the_section_nothing_is_registered(tmp_path: Path):
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("deadman", deadman)])
    config = type("C", (), {"sections": {"deadman": None}})()
    ctx = StartupContext(config=config, state=None, remove_plugin=lambda name: None)
    deadman.vigie_startup(ctx)  # add_plugin() would raise: it is not called
    assert pm.get_plugin(deadman.PINGER_NAME) is None
    await deadman.vigie_shutdown(ctx)  # nothing to stop: must not fail
