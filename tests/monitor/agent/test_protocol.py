"""The agent's client against the stand-in server: what each answer means for the agent."""

from __future__ import annotations

import pytest
from tenacity import RetryCallState

from monitor.agent.protocol import Refused, Rejected, ServerClient, Unavailable
from monitor.agent.sender import ServerWait
from tests.conftest import free_port
from tests.monitor.agent.standin import TOKEN, StandIn, http_check

BODY = (b'{"agent":"lyon-1","boot":"b","batch":1,"sent_at":1.0,"buffered":0,"dropped":0,'
        b'"results":[{"seq":1,"check":"web/a","started_at":1.0,"duration":0.1,'
        b'"status":"up","reason":null,"samples":{},"info":{}}]}')


@pytest.fixture
def standin():
    with StandIn([http_check("web/a", "http://127.0.0.1:9/")]) as server:
        yield server


async def test_checks_come_with_an_etag_and_a_304_when_unchanged(standin):
    async with ServerClient(standin.url, TOKEN) as client:
        fetched = await client.fetch_checks(None)
        assert fetched is not None and fetched.etag == f'"{standin.revision}"'
        assert [c["key"] for c in fetched.answer.checks] == ["web/a"]
        assert abs(fetched.clock_offset) < 3600
        assert await client.fetch_checks(fetched.etag) is None


async def test_a_push_taken(standin):
    async with ServerClient(standin.url, TOKEN) as client:
        stored = await client.push(BODY)
        again = await client.push(BODY)
    assert (stored.stored, stored.duplicates, stored.last_seq) == (1, 0, 1)
    assert (again.stored, again.duplicates) == (0, 1)


@pytest.mark.parametrize(("status", "error", "expected"), [
    (401, "token_revoked", Refused),
    (403, "wrong_location", Rejected),
    (403, "forbidden", Refused),
    (400, "malformed", Rejected),
    (413, "too_large", Rejected),
    (415, "not_json", Rejected),
    (500, "internal", Unavailable),
    (404, "not_found", Unavailable),
])
async def test_each_refusal_of_a_push_means_one_thing(standin, status, error, expected):
    standin.script(status, error, "The server's own sentence.")
    async with ServerClient(standin.url, TOKEN) as client:
        with pytest.raises(expected) as caught:
            await client.push(BODY)
    assert type(caught.value) is expected
    assert caught.value.status == status and caught.value.code == error
    assert "The server's own sentence." in caught.value.message


async def test_a_403_to_the_checks_is_a_refused_token(standin):
    standin.revoked = True
    async with ServerClient(standin.url, TOKEN) as client:
        with pytest.raises(Refused, match="token_revoked"):
            await client.fetch_checks(None)


async def test_retry_after_is_read_and_bounded(standin):
    standin.script(429, "rate_limited", "Slow down.", headers={"Retry-After": "7"})
    standin.script(503, "busy", "Later.", headers={"Retry-After": "999999"})
    async with ServerClient(standin.url, TOKEN) as client:
        with pytest.raises(Unavailable) as limited:
            await client.push(BODY)
        with pytest.raises(Unavailable) as busy:
            await client.push(BODY)
    assert limited.value.retry_after == 7.0
    assert busy.value.retry_after == 3600.0


async def test_no_server_is_unavailable_not_fatal():
    async with ServerClient(f"http://127.0.0.1:{free_port()}", TOKEN) as client:
        with pytest.raises(Unavailable, match="cannot reach the server"):
            await client.push(BODY)


def _after(failure: BaseException, attempt: int) -> RetryCallState:
    # a state as tenacity's loop makes one after a failed attempt (no loop needed here)
    state = RetryCallState(retry_object=None, fn=None, args=(),  # type: ignore[arg-type]  # no loop
                           kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(failure), failure, None))
    return state


def test_the_wait_is_the_servers_retry_after_else_a_growing_backoff():
    wait = ServerWait(maximum=30.0)
    assert wait(_after(Unavailable("x", 429, retry_after=42.0), 1)) == 42.0
    waits = [wait(_after(Unavailable("x"), n)) for n in range(1, 10)]
    assert waits[0] <= 2.0 and waits[3] >= 8.0
    assert max(waits) <= 30.0
