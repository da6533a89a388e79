"""The ``apache_status`` probe against a local HTTP server serving mod_status's exact bodies.

The bodies follow ``status_handler()`` in httpd 2.4's ``modules/generators/mod_status.c``:
the ``?auto`` form, where the event MPM prints ``BusyWorkers``/``IdleWorkers`` twice,
and the HTML form for a request without ``auto``.
"""

from __future__ import annotations

import aiohttp
import pydantic
import pytest
from aiohttp import web

import plugins.apache_status as apache_plugin
from monitor.config import Check, LocalizedText
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import CheckRef, ProbeFailed, ProbeResult, Status
from monitor.runner import probe_context, run_check
from plugins.apache_status import ApacheStatusProbe
from tests.conftest import free_port

EVENT_EXTENDED = """\
127.0.0.1
ServerVersion: Apache/2.4.62 (Debian)
ServerMPM: event
Server Built: 2024-07-18T18:33:56
CurrentTime: Monday, 03-Jun-2024 10:12:01 CEST
RestartTime: Sunday, 02-Jun-2024 10:12:01 CEST
ParentServerConfigGeneration: 1
ParentServerMPMGeneration: 0
ServerUptimeSeconds: 86400
ServerUptime: 1 day
Load1: 0.12
Load5: 0.08
Load15: 0.05
Total Accesses: 172800
Total kBytes: 345600
Total Duration: 86400000
CPUUser: 12.5
CPUSystem: 4.2
CPUChildrenUser: 0
CPUChildrenSystem: 0
CPULoad: .0193287
Uptime: 86400
ReqPerSec: 2
BytesPerSec: 4096
BytesPerReq: 2048
DurationPerReq: 500
BusyWorkers: 3
IdleWorkers: 72
Processes: 3
Stopping: 0
BusyWorkers: 4
IdleWorkers: 71
ConnsTotal: 5
ConnsAsyncWriting: 0
ConnsAsyncKeepAlive: 2
ConnsAsyncClosing: 0
Scoreboard: ___W__W___________________W______________________________________________
"""

PREFORK_SATURATED = """\
localhost
ServerVersion: Apache/2.4.62 (Debian)
ServerMPM: prefork
Server Built: 2024-07-18T18:33:56
CurrentTime: Monday, 03-Jun-2024 10:12:01 CEST
RestartTime: Monday, 03-Jun-2024 09:12:01 CEST
ParentServerConfigGeneration: 1
ParentServerMPMGeneration: 0
ServerUptimeSeconds: 3600
ServerUptime: 1 hour
Load1: 7.90
Load5: 6.10
Load15: 4.02
BusyWorkers: 10
IdleWorkers: 0
Scoreboard: WWWWWWWKWW......
"""

HTML_PAGE = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html><head>
<title>Apache Status</title>
</head><body>
<h1>Apache Server Status for localhost (via 127.0.0.1)</h1>
<dl><dt>Server Version: Apache/2.4.62 (Debian)</dt>
<dt>3 requests currently being processed, 72 idle workers</dt>
</dl></body></html>
"""


@pytest.fixture
async def apache():
    """A mod_status server; ``apache["auto"]`` is the ``?auto`` body, ``["status"]`` the
    HTTP status, ``["queries"]`` records the query strings it was asked."""
    state: dict = {"auto": EVENT_EXTENDED, "status": 200, "queries": []}

    async def server_status(request: web.Request) -> web.Response:
        state["queries"].append(request.query_string)
        if "auto" in request.query:
            return web.Response(status=state["status"], text=state["auto"])
        return web.Response(status=state["status"], text=HTML_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/server-status", server_status)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/server-status"
    yield state
    await runner.cleanup()


async def run(options: dict) -> ProbeResult:
    """Validate ``options`` and run the probe once."""
    config = ApacheStatusProbe.Config.model_validate(options)
    async with aiohttp.ClientSession() as http:
        ctx = probe_context(CheckRef("web", "apache", "apache_status"), 5.0, http)
        try:
            return await ApacheStatusProbe().check(config, ctx)
        except ProbeFailed as exc:
            return ProbeResult(exc.status, exc.reason, exc.samples, exc.info)


async def test_healthy_event_server(apache):
    result = await run({"url": apache["url"]})
    assert result.status is Status.UP, result.reason
    assert apache["queries"] == ["auto="]  # ?auto added
    # the first BusyWorkers/IdleWorkers pair (the scoreboard's count) is the one kept
    assert result.samples == {"apache_busy_workers": 3.0, "apache_idle_workers": 72.0,
                              "apache_requests_per_second": 2.0,
                              "apache_uptime_seconds": 86400.0}
    assert result.info == {"version": "Apache/2.4.62 (Debian)", "mpm": "event"}


async def test_url_that_already_asks_for_auto_is_kept(apache):
    await run({"url": apache["url"] + "?auto"})
    assert apache["queries"] == ["auto"]


async def test_no_idle_worker_is_degraded(apache):
    apache["auto"] = PREFORK_SATURATED
    result = await run({"url": apache["url"]})
    assert result.status is Status.DEGRADED
    assert result.reason.code == "apache.no_idle"
    assert "0 idle, 10 busy" in result.reason.en
    # without ExtendedStatus there is no request rate
    assert "apache_requests_per_second" not in result.samples
    assert result.samples["apache_uptime_seconds"] == 3600.0


async def test_fewer_idle_workers_than_the_minimum(apache):
    result = await run({"url": apache["url"], "min_idle_workers": 100})
    assert result.status is Status.DEGRADED
    assert result.reason.code == "apache.no_idle"


async def test_html_page_is_not_a_status_page(apache):
    apache["auto"] = HTML_PAGE  # e.g. a proxy that drops the query string
    result = await run({"url": apache["url"]})
    assert result.status is Status.UNKNOWN
    assert result.reason.code == "apache.not_status"
    assert "not an Apache status page" in result.reason.en


async def test_garbage_is_not_a_status_page(apache):
    apache["auto"] = "BusyWorkers: many\nIdleWorkers: few\n"
    result = await run({"url": apache["url"]})
    assert result.reason.code == "apache.not_status"


@pytest.mark.parametrize("status", [403, 500])
async def test_error_status_is_down(apache, status):
    apache["status"] = status
    result = await run({"url": apache["url"]})
    assert result.status is Status.DOWN
    assert result.reason.code == "apache.http_status"
    assert str(status) in result.reason.en


@pytest.mark.parametrize(("options", "message"), [
    ({"url": "server-status"}, "http:// or https://"),
    ({"url": "http://h/server-status", "min_idle_workers": -2}, "greater than or equal to 0"),
    ({"url": "http://h/server-status", "auto": True}, "Extra inputs are not permitted"),
])
def test_invalid_config(options, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        ApacheStatusProbe.Config.model_validate(options)


async def test_unreachable_page_is_down_through_the_runner():
    # network errors are left to the runner, which names them for every probe kind
    config = ApacheStatusProbe.Config.model_validate({"url": f"http://127.0.0.1:{free_port()}/server-status"})
    check = Check(ref=CheckRef("web", "status", "apache_status"), name=LocalizedText(fr="État"),
                  interval=300, timeout=2, confirm=2, retry_interval=30, options=config)
    async with aiohttp.ClientSession() as http:
        result = await run_check(check, ApacheStatusProbe(), http)
    assert result.status is Status.DOWN
    assert result.reason.code == "connection.refused"


def test_registered_as_a_plugin():
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("apache_status", apache_plugin)])
    kind = ProbeRegistry.from_plugin_manager(pm).get("apache_status")
    assert kind is not None and kind.probe_class is ApacheStatusProbe
