"""The ``tcp`` probe against real local asyncio servers (plain and TLS with trustme)."""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiohttp
import pytest
import trustme
from pydantic import ValidationError

from monitor.config import Check, LocalizedText
from monitor.probe import CheckRef, Status
from monitor.runner import probe_context, run_check
from plugins.tcp import TcpConfig, TcpProbe, unescape
from tests.conftest import free_port

PROBE = TcpProbe()


@pytest.fixture
async def session():
    """The shared HTTP session the runner hands to every probe (unused by tcp)."""
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def serve():
    """``await serve(handler, ssl=None) -> port``: an asyncio TCP server, closed after."""
    servers, tasks = [], set()

    async def start(handler, ssl=None) -> int:
        async def tracked(reader, writer):
            tasks.add(asyncio.current_task())
            try:
                await handler(reader, writer)
            except (ConnectionError, ssl_module.SSLError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0, ssl=ssl)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for server in servers:
        await server.wait_closed()


ssl_module = ssl


async def run(session, timeout=2.0, **options):
    """Validate ``options`` as a tcp check and run it once through the runner."""
    config = TcpConfig.model_validate(options)
    check = Check(ref=CheckRef("mail", "smtp", "tcp"), name=LocalizedText(fr="SMTP"),
                  interval=60.0, timeout=timeout, confirm=1, retry_interval=30.0,
                  options=config)
    return await run_check(check, PROBE, session)


def banner(text: bytes, then_wait: bool = True):
    """A handler that greets with ``text``, then waits for the client to hang up."""
    async def handler(reader, writer):
        writer.write(text)
        await writer.drain()
        if then_wait:
            await reader.read()
    return handler


async def test_connect_only(session, serve):
    port = await serve(banner(b""))
    result = await run(session, host="127.0.0.1", port=port)
    assert result.status is Status.UP and result.reason is None
    assert 0 < result.samples["tcp_connect_seconds"] < 1


async def test_refused(session):
    port = free_port()
    result = await run(session, host="127.0.0.1", port=port)
    assert result.status is Status.DOWN
    assert result.reason.code == "connection.refused"
    assert result.reason.en == f"Connection refused by 127.0.0.1:{port}"
    assert result.reason.fr == f"Connexion refusée par 127.0.0.1:{port}"


async def test_send_and_expect(session, serve):
    received = asyncio.Queue()

    async def smtp(reader, writer):
        writer.write(b"220 mail.coop.test ESMTP\r\n")
        await writer.drain()
        received.put_nowait(await reader.readline())
        writer.write(b"221 Bye\r\n")
        await writer.drain()

    port = await serve(smtp)
    # a plain (single-quoted) string: \r\n is decoded by the probe
    result = await run(session, host="127.0.0.1", port=port, send=r"QUIT\r\n", expect="220 ")
    assert result.status is Status.UP
    assert await asyncio.wait_for(received.get(), 1) == b"QUIT\r\n"


async def test_expect_regex(session, serve):
    port = await serve(banner(b"+OK POP3 ready <1896.697170952@coop.test>\r\n"))
    ok = await run(session, host="127.0.0.1", port=port, expect_regex=r"^\+OK .*ready")
    assert ok.status is Status.UP
    ko = await run(session, timeout=0.5, host="127.0.0.1", port=port, expect_regex=r"^-ERR")
    assert ko.status is Status.DOWN and ko.reason.code == "tcp.unexpected"


async def test_unexpected_answer(session, serve):
    port = await serve(banner(b"554 go away\r\n", then_wait=False))
    result = await run(session, host="127.0.0.1", port=port, expect="220 ")
    assert result.status is Status.DOWN
    assert result.reason.code == "tcp.unexpected"
    assert result.reason.en == "Unexpected answer: “554 go away”"
    assert result.reason.fr == "Réponse inattendue : « 554 go away »"
    assert "tcp_connect_seconds" in result.samples


async def test_unexpected_answer_then_silence(session, serve):
    port = await serve(banner(b"SSH-2.0-OpenSSH_9.2\r\n"))
    result = await run(session, timeout=0.5, host="127.0.0.1", port=port, expect="220 ")
    assert result.reason.code == "tcp.unexpected"
    assert "SSH-2.0-OpenSSH_9.2" in result.reason.en  # judged, not cut by the runner


async def test_read_bytes_limits_the_wait(session, serve):
    port = await serve(banner(b"x" * 10_000))
    result = await run(session, timeout=5, host="127.0.0.1", port=port, expect="220",
                       read_bytes=100)
    assert result.reason.code == "tcp.unexpected"  # judged on 100 bytes, not at the deadline


async def test_closed_early(session, serve):
    async def hang_up(reader, writer):
        writer.close()

    port = await serve(hang_up)
    result = await run(session, host="127.0.0.1", port=port, expect="220")
    assert result.status is Status.DOWN
    assert result.reason.code == "connection.closed"


async def test_timeout_waiting_for_an_answer(session, serve):
    port = await serve(banner(b""))
    result = await run(session, timeout=0.5, host="127.0.0.1", port=port, expect="220")
    assert result.status is Status.DOWN
    assert result.reason.code == "timeout"
    assert result.reason.en == f"No answer from 127.0.0.1:{port} within 0.5 s"
    assert result.reason.fr == f"Pas de réponse de 127.0.0.1:{port} en 0,5 s"


async def test_timeout_connecting(session):
    # a listening socket whose accept queue is full: the kernel drops further SYNs
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        # the first connection completes (a blocking connect returns once it is queued)
        # and fills the queue; the SYNs of the others, and the probe's, are dropped
        fillers = [socket.create_connection(("127.0.0.1", port), timeout=5)]
        try:
            for _ in range(7):
                filler = socket.socket()
                filler.setblocking(False)
                fillers.append(filler)
                filler.connect_ex(("127.0.0.1", port))
            result = await run(session, timeout=0.5, host="127.0.0.1", port=port)
        finally:
            for filler in fillers:
                filler.close()
    assert result.status is Status.DOWN
    assert result.reason.code == "timeout"
    assert result.reason.en == f"Could not connect to 127.0.0.1:{port} within 0.5 s"


async def test_cancelled_check_closes_its_connection(session, serve):
    connected, closed = asyncio.Event(), asyncio.Event()

    async def silent(reader, writer):
        connected.set()  # the check now waits for the banner
        await reader.read()
        closed.set()

    port = await serve(silent)
    config = TcpConfig(host="127.0.0.1", port=port, expect="220")
    task = asyncio.create_task(PROBE.check(config, probe_context(CheckRef("s", "c", "tcp"),
                                                                30.0, session)))
    await asyncio.wait_for(connected.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(closed.wait(), 10)


async def test_dns_failure_reason():
    # the reason is built from the resolver's error; no name is looked up here
    from plugins.tcp import connect_failure_reason

    why = connect_failure_reason(socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
                                 "imap.coop.test", 993)
    assert why.code == "dns.error"
    assert why.en == "The name imap.coop.test could not be resolved (DNS)"


# TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path):
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca, *names) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


async def test_tls_trusted(session, serve, ca, ca_file):
    port = await serve(banner(b"* OK IMAP4rev1 ready\r\n"), ssl=server_context(ca, "127.0.0.1"))
    result = await run(session, host="127.0.0.1", port=port, tls=True, ca_file=ca_file,
                       expect="* OK")
    assert result.status is Status.UP, result.reason


async def test_tls_untrusted_and_unverified(session, serve, ca):
    port = await serve(banner(b"* OK\r\n"), ssl=server_context(ca, "127.0.0.1"))
    result = await run(session, host="127.0.0.1", port=port, tls=True)
    assert result.status is Status.DOWN
    assert result.reason.code == "tls.untrusted"
    unverified = await run(session, host="127.0.0.1", port=port, tls=True, verify_tls=False,
                           expect="* OK")
    assert unverified.status is Status.UP


async def test_tls_hostname_mismatch(session, serve, ca, ca_file):
    port = await serve(banner(b"* OK\r\n"), ssl=server_context(ca, "mail.other.test"))
    result = await run(session, host="127.0.0.1", port=port, tls=True, ca_file=ca_file)
    assert result.status is Status.DOWN
    assert result.reason.code == "tls.hostname"


async def test_tls_to_a_plain_server(session, serve):
    port = await serve(banner(b"220 plain text, not TLS\r\n"))
    result = await run(session, host="127.0.0.1", port=port, tls=True, verify_tls=False)
    assert result.status is Status.DOWN
    assert result.reason.code == "tls.error"


# Configuration -------------------------------------------------------------------------


def test_unescape():
    assert unescape(r"QUIT\r\n") == b"QUIT\r\n"
    assert unescape("QUIT\r\n") == b"QUIT\r\n"
    assert unescape(r"a\\n\x00\tb") == b"a\\n\x00\tb"
    assert unescape("é") == "é".encode()


@pytest.mark.parametrize(("options", "message"), [
    ({"host": "h", "port": 0}, "greater than or equal to 1"),
    ({"host": "h", "port": 70000}, "less than or equal to 65535"),
    ({"host": "h", "port": 25, "expect": "a", "expect_regex": "b"}, "not both"),
    ({"host": "h", "port": 25, "expect_regex": "(oops"}, "invalid regular expression"),
    ({"host": "h", "port": 25, "verify_tls": False}, "only apply with tls: true"),
    ({"host": "h", "port": 25, "tls": True, "ca_file": "/nonexistent.pem"}, "no such file"),
    ({"host": "h", "port": 25, "tls": True, "ca_file": __file__}, "cannot load"),
    ({"host": "h", "port": 25, "read_bytes": 0}, "greater than or equal to 1"),
    ({"host": "h", "port": 25, "banner": "x"}, "banner"),
])
def test_invalid_options(options, message):
    with pytest.raises(ValidationError) as info:
        TcpConfig.model_validate(options)
    assert message in str(info.value)
