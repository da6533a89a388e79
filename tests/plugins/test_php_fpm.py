"""The ``php_fpm`` probe against a local HTTP server serving PHP-FPM's exact status bodies.

PHP-FPM cannot run here, so the server answers what ``fpm_status.c`` prints: JSON when
the query holds ``json``, the aligned plain-text form otherwise.
"""

from __future__ import annotations

import json

import aiohttp
import pydantic
import pytest
from aiohttp import web

import plugins.php_fpm as php_fpm_plugin
from monitor.config import Check, LocalizedText
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import CheckRef, ProbeFailed, ProbeResult, Status
from monitor.runner import probe_context, run_check
from plugins.php_fpm import PhpFpmProbe
from tests.conftest import free_port

HEALTHY = {
    "pool": "www", "process manager": "dynamic", "start time": 1717000000,
    "start since": 86400, "accepted conn": 123456, "listen queue": 0,
    "max listen queue": 4, "listen queue len": 511, "idle processes": 3,
    "active processes": 2, "total processes": 5, "max active processes": 9,
    "max children reached": 2, "slow requests": 0,
}


def as_json(fields: dict) -> str:
    # fpm_status.c prints the keys in this order, without spaces
    return json.dumps(fields, separators=(",", ":"))


def as_text(fields: dict) -> str:
    return "".join(f"{key + ':':<22}{value}\n" for key, value in fields.items())


@pytest.fixture
async def fpm():
    """A status page server; ``fpm["fields"]``/``["body"]``/``["status"]`` set what it
    serves, ``fpm["queries"]`` records the query strings it was asked."""
    state: dict = {"fields": dict(HEALTHY), "body": None, "status": 200, "queries": []}

    async def status(request: web.Request) -> web.Response:
        state["queries"].append(request.query_string)
        if state["body"] is not None:
            return web.Response(status=state["status"], body=state["body"],
                                content_type="text/html")
        if "json" in request.query:
            return web.Response(status=state["status"], text=as_json(state["fields"]),
                                content_type="application/json")
        return web.Response(status=state["status"], text=as_text(state["fields"]))

    app = web.Application()
    app.router.add_get("/fpm-status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/fpm-status"
    yield state
    await runner.cleanup()


async def run(probe: PhpFpmProbe, options: dict, check: str = "fpm") -> ProbeResult:
    """Validate ``options`` and run ``probe`` once for check ``check``."""
    config = PhpFpmProbe.Config.model_validate(options)
    async with aiohttp.ClientSession() as http:
        ctx = probe_context(CheckRef("web", check, "php_fpm"), 5.0, http)
        try:
            return await probe.check(config, ctx)
        except ProbeFailed as exc:
            return ProbeResult(exc.status, exc.reason, exc.samples, exc.info)


async def test_healthy_pool(fpm):
    result = await run(PhpFpmProbe(), {"url": fpm["url"]})
    assert result.status is Status.UP, result.reason
    assert fpm["queries"] == ["json="]  # ?json added
    assert result.samples == {
        "php_fpm_active_processes": 2.0, "php_fpm_idle_processes": 3.0,
        "php_fpm_total_processes": 5.0, "php_fpm_listen_queue": 0.0,
        "php_fpm_accepted_connections": 123456.0, "php_fpm_max_children_reached": 2.0,
    }
    assert result.info == {"pool": "www", "process_manager": "dynamic"}


async def test_url_that_already_asks_for_json_is_kept(fpm):
    await run(PhpFpmProbe(), {"url": fpm["url"] + "?json&full"})
    assert fpm["queries"] == ["json&full"]


async def test_plain_text_page_is_read_too(fpm):
    fpm["body"] = as_text(HEALTHY).encode()
    result = await run(PhpFpmProbe(), {"url": fpm["url"]})
    assert result.status is Status.UP, result.reason
    assert result.samples["php_fpm_accepted_connections"] == 123456.0


async def test_listen_queue_is_degraded(fpm):
    fpm["fields"]["listen queue"] = 7
    result = await run(PhpFpmProbe(), {"url": fpm["url"]})
    assert result.status is Status.DEGRADED
    assert result.reason.code == "php_fpm.listen_queue"
    assert "7" in result.reason.fr
    allowed = await run(PhpFpmProbe(), {"url": fpm["url"], "max_listen_queue": 10})
    assert allowed.status is Status.UP


async def test_no_idle_process_is_degraded(fpm):
    fpm["fields"].update({"idle processes": 0, "active processes": 5})
    result = await run(PhpFpmProbe(), {"url": fpm["url"]})
    assert result.status is Status.DEGRADED
    assert result.reason.code == "php_fpm.no_idle"
    assert "5 busy" in result.reason.en


async def test_max_children_reached_growing_since_last_run(fpm):
    probe = PhpFpmProbe()
    options = {"url": fpm["url"]}
    first = await run(probe, options)
    assert first.status is Status.UP  # nothing to compare with yet
    fpm["fields"]["max children reached"] = 5
    grown = await run(probe, options)
    assert grown.status is Status.DEGRADED
    assert grown.reason.code == "php_fpm.max_children"
    assert "3 times" in grown.reason.en
    steady = await run(probe, options)
    assert steady.status is Status.UP
    # another check of the same pool has its own memory
    assert (await run(probe, options, check="other")).status is Status.UP
    # a restarted pool starts counting again: no false alarm
    fpm["fields"].update({"start time": 1717999999, "max children reached": 9})
    assert (await run(probe, options)).status is Status.UP


async def test_page_that_is_not_a_status_page(fpm):
    fpm["body"] = b"<html><body>Bienvenue sur mon site</body></html>"
    result = await run(PhpFpmProbe(), {"url": fpm["url"]})
    assert result.status is Status.UNKNOWN
    assert result.reason.code == "php_fpm.not_status"


async def test_json_without_the_status_keys(fpm):
    fpm["body"] = b'{"status": "ok"}'
    result = await run(PhpFpmProbe(), {"url": fpm["url"]})
    assert result.reason.code == "php_fpm.not_status"


async def test_server_error_is_down(fpm):
    fpm["status"] = 502
    result = await run(PhpFpmProbe(), {"url": fpm["url"]})
    assert result.status is Status.DOWN
    assert result.reason.code == "php_fpm.http_status"
    assert "502" in result.reason.fr


async def test_huge_body_is_refused(fpm):
    fpm["body"] = b"x" * (2 * 1024 * 1024)
    result = await run(PhpFpmProbe(), {"url": fpm["url"]})
    assert result.status is Status.UNKNOWN
    assert result.reason.code == "php_fpm.too_large"


@pytest.mark.parametrize(("options", "message"), [
    ({"url": "ftp://host/status"}, "http:// or https://"),
    ({"url": "/fpm-status"}, "http:// or https://"),
    ({"url": "http://h/s", "max_listen_queue": -1}, "greater than or equal to 0"),
    ({"url": "http://h/s", "pool": "www"}, "Extra inputs are not permitted"),
])
def test_invalid_config(options, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        PhpFpmProbe.Config.model_validate(options)


async def test_unreachable_page_is_down_through_the_runner():
    # network errors are left to the runner, which names them for every probe kind
    config = PhpFpmProbe.Config.model_validate({"url": f"http://127.0.0.1:{free_port()}/fpm-status"})
    check = Check(ref=CheckRef("web", "status", "php_fpm"), name=LocalizedText(fr="État"),
                  interval=300, timeout=2, confirm=2, retry_interval=30, options=config)
    async with aiohttp.ClientSession() as http:
        result = await run_check(check, PhpFpmProbe(), http)
    assert result.status is Status.DOWN
    assert result.reason.code == "connection.refused"


def test_registered_as_a_plugin():
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("php_fpm", php_fpm_plugin)])
    kind = ProbeRegistry.from_plugin_manager(pm).get("php_fpm")
    assert kind is not None and kind.probe_class is PhpFpmProbe
