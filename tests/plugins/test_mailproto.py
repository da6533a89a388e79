"""The mail protocols' line stream: a TLS upgrade that loses the connection."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from monitor.probe import CheckRef
from monitor.runner import probe_context
from plugins._mailstream import LineStream


async def test_an_upgrade_that_loses_the_connection_is_reported_and_closed(monkeypatch):
    """Python 3.11's ``loop.start_tls`` returns None when the peer leaves right after the
    handshake, and the real ``StreamWriter.start_tls`` then fails on it: the stream says
    the connection was lost, and closing it still closes the socket."""
    left = asyncio.Event()

    async def handler(reader, writer):
        await reader.read()  # until the probe's side is closed
        left.set()
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ctx = probe_context(CheckRef("mail", "smtp", "smtp"), 5, None)
        stream = await LineStream.open("127.0.0.1", port, ctx)
        loop = asyncio.get_running_loop()

        async def peer_left(*args, **kwargs):
            return None

        monkeypatch.setattr(loop, "start_tls", peer_left)
        with pytest.raises(ConnectionResetError, match="right after the TLS handshake"):
            await stream.start_tls(ssl.create_default_context(), "localhost")
        await stream.close()
        await asyncio.wait_for(left.wait(), 5)  # the server saw the socket closed
    finally:
        server.close()
        await server.wait_closed()
