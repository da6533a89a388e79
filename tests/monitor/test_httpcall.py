"""How every bridge call's outcome is mapped for the outbox."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.httpcall import (
    Answer,
    DeliveryError,
    call,
    check,
    MAX_MESSAGE,
    remote_message,
    retry_after,
)
from monitor.notifications import PermanentFailure, RetryLater
from tests.conftest import free_port


def answer(status: int, text: str = "", headers: dict | None = None) -> Answer:
    return Answer(status, headers or {}, text)


def test_retry_after_in_seconds_as_a_date_or_from_discourse_extras():
    assert retry_after(answer(429, headers={"retry-after": "42"})) == 42
    later = formatdate(time.time() + 120, usegmt=True)
    assert 100 < retry_after(answer(429, headers={"Retry-After": later})) <= 120
    body = '{"errors":["wait"],"error_type":"rate_limit","extras":{"wait_seconds":9}}'
    assert retry_after(answer(429, body)) == 9
    assert retry_after(answer(429, "busy")) == 60


def test_statuses_map_to_what_the_outbox_must_do():
    assert check(answer(201, "ok"), "Zammad").status == 201
    with pytest.raises(RetryLater) as wait:
        check(answer(503, "", {"Retry-After": "5"}), "Zammad")
    assert wait.value.seconds == 5
    with pytest.raises(DeliveryError) as error:
        check(answer(503, "maintenance"), "Zammad")  # no Retry-After: plain retry
    assert error.value.sent is True
    with pytest.raises(DeliveryError):
        check(answer(408, "timeout"), "Zammad")
    with pytest.raises(PermanentFailure) as failure:
        check(answer(422, '{"errors":["Title is too short"],"error_type":"record_invalid"}'),
              "Discourse")
    assert "Discourse a refusé la demande (HTTP 422) : Title is too short" in str(failure.value)


def test_remote_messages_of_each_desk_and_secrets_redacted():
    assert remote_message(answer(422, '{"error":"x","error_human":"Group is unknown"}')) == \
        "Group is unknown"
    assert remote_message(answer(401, '{"error":{"code":401,"message":"No token"}}')) == "No token"
    assert remote_message(answer(401, "API key not authorized\n")) == "API key not authorized"
    with pytest.raises(PermanentFailure) as failure:
        check(answer(400, "bad key s3cr3t-value"), "osTicket", secrets=["s3cr3t-value"])
    assert "s3cr3t-value" not in str(failure.value) and "***" in str(failure.value)


def test_a_services_error_text_is_made_safe_before_it_is_kept():
    # outside text: the message lands in dead letters, logs and the admin's outbox page
    said = remote_message(answer(422, '{"error_human":"Groupe\\u0000 inconnu\\u202e\\nsuite"}'))
    assert said == "Groupe inconnu suite"
    huge = remote_message(answer(500, "x" * 100_000))
    assert len(huge) <= MAX_MESSAGE


async def test_connection_refused_is_not_ambiguous_a_lost_answer_is():
    async with aiohttp.ClientSession() as http:
        with pytest.raises(DeliveryError) as refused:
            await call(http, "POST", f"http://127.0.0.1:{free_port()}/", service="X", timeout=2)
        assert refused.value.sent is False and not refused.value.ambiguous

        release = asyncio.Event()

        async def slow(request):
            await release.wait()
            return web.Response(text="late")

        app = web.Application()
        app.router.add_post("/", slow)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            with pytest.raises(DeliveryError) as lost:
                await call(http, "POST", str(server.make_url("/")), service="X", timeout=0.2)
            assert lost.value.ambiguous
        finally:
            release.set()
            await server.close()


async def test_an_answer_is_read_up_to_the_limit_only():
    async def huge(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(64):  # 4 MB, in chunks
            await response.write(b"x" * 65536)
        return response

    app = web.Application()
    app.router.add_post("/", huge)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            bounded = await call(http, "POST", str(server.make_url("/")), service="X",
                                 timeout=10, limit=100_000)
            whole = await call(http, "POST", str(server.make_url("/")), service="X",
                               timeout=10)
        assert len(bounded.text) == 100_000 and len(whole.text) == 64 * 65536
    finally:
        await server.close()
