"""Fixtures of the helpdesk tests: an HTTP session and the fake desks, on 127.0.0.1."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.tickets_bridge.fake_desks import FakeOsTicket, FakeWebhook, FakeZammad


@pytest.fixture
async def http():
    """An HTTP session, as the plugin opens at start-up."""
    async with aiohttp.ClientSession() as session:
        yield session


async def _serve(fake):
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    return server


@pytest.fixture
async def zammad():
    """A running fake Zammad."""
    fake = FakeZammad()
    server = await _serve(fake)
    yield fake
    fake.release.set()
    await server.close()


@pytest.fixture
async def osticket():
    """A running fake osTicket."""
    fake = FakeOsTicket()
    server = await _serve(fake)
    yield fake
    fake.release.set()
    await server.close()


@pytest.fixture
async def webhook():
    """A running JSON webhook receiver."""
    fake = FakeWebhook()
    server = await _serve(fake)
    yield fake
    fake.release.set()
    await server.close()
