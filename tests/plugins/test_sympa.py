"""The ``sympa`` probe against a local stand-in Sympa and local SMTP servers."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from pydantic import ValidationError

from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import CheckRef, ProbeFailed, ProbeResult, Status
from monitor.runner import probe_context
from plugins import sympa
from plugins.sympa import SympaConfig, SympaProbe
from tests.conftest import ProbeClock, free_port
from tests.plugins.fakes_sympa import FakeSympa


@pytest.fixture
async def http():
    """The shared aiohttp session, as the runtime gives it to probes."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def lists():
    """A running fake Sympa on 127.0.0.1."""
    fake = FakeSympa()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1; yields its port."""
    controller = Controller(object(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port
    controller.stop()


async def raw_server(greeting: bytes | None):
    """A TCP server that sends ``greeting`` (or nothing) and then waits for the client."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if greeting:
                writer.write(greeting)
                await writer.drain()
            await reader.read(4096)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def run(http: aiohttp.ClientSession, timeout: float = 5.0,
              clock: ProbeClock | None = None, **options) -> ProbeResult:
    """Run the probe once, turning ProbeFailed into a result as the runner does."""
    config = SympaConfig.model_validate(options)
    ctx = probe_context(CheckRef("lists", "sympa", "sympa"), timeout, http,
                        clock or time.monotonic)
    try:
        return await SympaProbe().check(config, ctx)
    except ProbeFailed as failed:
        return ProbeResult(failed.status, failed.reason, samples=failed.samples, info=failed.info)


def paths(fake: FakeSympa) -> list[str]:
    return [path for _method, path, _headers in fake.requests]


async def test_all_layers_alive_with_the_not_authenticated_fault(http, lists):
    result = await run(http, url=lists.url)
    assert result.status == Status.UP, result.reason
    assert result.info == {"version": "6.2.72"}
    assert set(result.samples["sympa_layer_seconds"]) == {"web", "wsdl", "soap"}
    soap = [r for r in lists.requests if r[1] == "/sympasoap"]
    assert len(soap) == 1  # at the address the WSDL gave
    assert soap[0][0] == "POST"
    assert soap[0][2]["SOAPAction"] == '"urn:sympasoap#checkCookie"'
    assert soap[0][2]["Content-Type"].startswith("text/xml")


async def test_a_real_checkcookie_answer_is_alive(http, lists):
    lists.soap = "answer"
    assert (await run(http, url=lists.url)).status == Status.UP


async def test_web_interface_error(http, lists):
    lists.home = "error500"
    result = await run(http, url=lists.url)
    assert result.status == Status.DOWN
    assert result.reason.code == "sympa.web.status"
    assert result.reason.en == "Lists web interface: answered 500 instead of 200"
    assert result.reason.fr == "Interface web des listes : réponse 500 au lieu de 200"
    # the other layers were still judged, and they were fine
    assert set(result.samples["sympa_layer_seconds"]) == {"wsdl", "soap"}


async def test_a_page_that_is_not_sympa(http, lists):
    lists.home = "not_sympa"
    result = await run(http, url=lists.url)
    assert result.reason.code == "sympa.web.not_sympa"


async def test_themed_home_with_a_keyword(http, lists):
    lists.home = "themed"
    assert (await run(http, url=lists.url)).reason.code == "sympa.web.not_sympa"
    result = await run(http, url=lists.url, home_keyword="Les listes de la coop")
    assert result.status == Status.UP
    assert result.info == {}


async def test_wsdl_missing(http, lists):
    lists.wsdl = "missing"
    result = await run(http, url=lists.url)
    assert result.status == Status.DOWN
    assert result.reason.code == "sympa.wsdl.missing"
    assert "404" in result.reason.en and "WSDL" in result.reason.en
    assert "/sympasoap" not in paths(lists)  # no address to call


async def test_wsdl_missing_but_soap_url_configured(http, lists):
    lists.wsdl = "missing"
    result = await run(http, url=lists.url, soap_url=lists.soap_url)
    assert result.reason.code == "sympa.wsdl.missing"
    assert "SOAP server" not in result.reason.en
    assert "soap" in result.samples["sympa_layer_seconds"]


async def test_wsdl_that_is_an_html_page(http, lists):
    lists.wsdl = "html"
    result = await run(http, url=lists.url)
    assert result.reason.code == "sympa.wsdl.invalid"


async def test_wsdl_without_soap_address(http, lists):
    lists.wsdl = "no_address"
    assert (await run(http, url=lists.url)).reason.code == "sympa.wsdl.no_address"
    assert (await run(http, url=lists.url, soap_url=lists.soap_url)).status == Status.UP


async def test_html_500_on_the_soap_url_is_down(http, lists):
    lists.soap = "html500"
    result = await run(http, url=lists.url)
    assert result.status == Status.DOWN
    assert result.reason.code == "sympa.soap.not_soap"
    assert result.reason.en == "Sympa SOAP server: answered 500, which is not SOAP"


async def test_bad_gateway_on_the_soap_url_is_down(http, lists):
    lists.soap = "bad_gateway"
    result = await run(http, url=lists.url)
    assert result.reason.code == "sympa.soap.not_soap"
    assert "502" in result.reason.en


async def test_garbage_on_the_soap_url_is_down(http, lists):
    lists.soap = "garbage"
    assert (await run(http, url=lists.url)).reason.code == "sympa.soap.not_soap"


async def test_another_fault_is_down(http, lists):
    lists.soap = "server_fault"
    result = await run(http, url=lists.url)
    assert result.reason.code == "sympa.soap.fault"
    assert "Internal error" in result.reason.en
    assert not result.reason.public  # the server's words: volunteers only


async def test_hung_soap_daemon_times_out_and_keeps_the_other_layers(http, lists):
    lists.soap = "hang"
    result = await run(http, timeout=1.0, url=lists.url)
    assert result.reason.code == "sympa.soap.timeout"  # the probe's deadline, not the runner's
    assert set(result.samples["sympa_layer_seconds"]) == {"web", "wsdl"}


async def test_several_failures_are_all_named(http, lists):
    lists.home = "error500"
    lists.soap = "bad_gateway"
    result = await run(http, url=lists.url)
    assert result.reason.code == "sympa.web.status"
    assert "Lists web interface" in result.reason.en and "Sympa SOAP server" in result.reason.en
    assert "WSDL" not in result.reason.en


async def test_nothing_listening(http):
    result = await run(http, url=f"http://127.0.0.1:{free_port()}/sympa")
    assert result.status == Status.DOWN
    assert result.reason.code == "sympa.web.connect"
    assert "SOAP description (WSDL): cannot connect" in result.reason.en


async def test_layers_can_be_left_out(http, lists):
    result = await run(http, url=lists.url, wsdl=False, soap_url=lists.soap_url)
    assert result.status == Status.UP
    assert "/sympa/wsdl" not in paths(lists)
    lists.requests.clear()
    result = await run(http, url=lists.url, soap=False)
    assert result.status == Status.UP
    assert "/sympasoap" not in paths(lists)


async def test_smtp_greeting(http, lists, smtp_server):
    result = await run(http, url=lists.url, smtp_host="127.0.0.1", smtp_port=smtp_server)
    assert result.status == Status.UP, result.reason
    assert "smtp" in result.samples["sympa_layer_seconds"]


async def test_smtp_refusing_greeting(http, lists):
    server, port = await raw_server(b"554 5.3.2 listes.example.coop closing, too busy\r\n")
    async with server:
        result = await run(http, url=lists.url, smtp_host="127.0.0.1", smtp_port=port)
    assert result.status == Status.DOWN
    assert result.reason.code.startswith("sympa.smtp.")
    assert result.reason.en.startswith("Lists mail server: ")
    assert "554" in result.reason.en


async def test_smtp_silent_server_times_out(http, lists):
    server, port = await raw_server(None)
    async with server:
        result = await run(http, timeout=1.0, url=lists.url, smtp_host="127.0.0.1",
                           smtp_port=port)
    # the probe's deadline fired while it waited for the greeting, not the runner's
    assert result.reason.code == "sympa.smtp.timeout"
    assert "greeting" in result.reason.en and "1 s" in result.reason.en


async def test_smtp_nothing_listening(http, lists):
    result = await run(http, url=lists.url, smtp_host="127.0.0.1", smtp_port=free_port())
    assert result.reason.code.startswith("sympa.smtp.")
    assert "refused" in result.reason.en
    assert set(result.samples["sympa_layer_seconds"]) == {"web", "wsdl", "soap"}


def test_config_errors():
    with pytest.raises(ValidationError, match="soap_url"):
        SympaConfig.model_validate({"url": "https://listes.example.coop/sympa", "wsdl": False})
    with pytest.raises(ValidationError, match="http"):
        SympaConfig.model_validate({"url": "listes.example.coop/sympa"})
    with pytest.raises(ValidationError, match="extra"):
        SympaConfig.model_validate({"url": "https://l.example/sympa", "smtp": "x"})
    config = SympaConfig.model_validate({"url": "https://l.example/sympa/"})
    assert config.url == "https://l.example/sympa"


def test_registered_through_the_plugin_hook():
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("sympa", sympa)])
    assert ProbeRegistry.from_plugin_manager(pm).get("sympa").probe_class is SympaProbe
