"""A cluster's node follows ``location_results`` on PostgreSQL (:mod:`monitor.locations.follow`):
batches pushed through the real agents' API are read back in each token's seq order,
from where the rows stood at start, each once; those of the checks the node owns are
applied, the others only say their location is alive; the ingest's NOTIFY wakes the
follower at once (its poll here is an hour)."""

from __future__ import annotations

import asyncio

import pytest

from monitor.locations.follow import ResultFollower
from monitor.probe import Status
from tests.monitor.agents.conftest import result, start_agents


class Recorder:
    """Stands for the LocationSystem: what the follower hands it."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, str, int, Status, bool]] = []
        self.changed = asyncio.Event()

    def take_followed(self, check_key, location, result, owned) -> None:
        self.taken.append((check_key, location, round(result.started_at), result.status,
                           owned))
        self.changed.set()


@pytest.fixture
def agents(postgres_schema_url, tmp_path):
    made = start_agents(postgres_schema_url, tmp_path)
    yield made
    made.server.stop()
    made.store.dispose()


def push(agents, token: str, *results: dict) -> None:
    answer = agents.push(agents.tokens[token], list(results))
    assert answer.status == 200, answer.body


async def test_each_tokens_results_once_in_seq_order_owned_ones_applied(agents):
    recorder = Recorder()
    follower = ResultFollower(recorder, agents.store, lambda: {"web/home"}, every=3600)
    await asyncio.to_thread(push, agents, "lyon-1", result(1), result(2))
    assert await follower.read_once() == 0  # what was there at start is not replayed
    assert recorder.taken == []

    await asyncio.to_thread(push, agents, "lyon-1", result(4, "web/api", "down"),
                            result(3), result(5, status="down"))
    await asyncio.to_thread(push, agents, "paris-1", result(1, "mail/smtp"))
    assert await follower.read_once() == 4
    lyon = [t for t in recorder.taken if t[1] == "lyon"]
    assert [(t[0], t[3], t[4]) for t in lyon] == [
        ("web/home", Status.UP, True), ("web/api", Status.DOWN, False),
        ("web/home", Status.DOWN, True)]
    assert [t[2] for t in lyon] == sorted(t[2] for t in lyon)  # seq order
    assert recorder.taken[-1][:2] == ("mail/smtp", "paris")  # a token with no row at start: read from its first
    # a resent batch stores nothing new, and nothing is read twice
    await asyncio.to_thread(push, agents, "lyon-1", result(5, status="down"))
    assert await follower.read_once() == 0
    assert sorted((follower.cursors or {}).values()) == [1, 5]


async def test_the_ingests_notify_wakes_the_follower(agents):
    recorder = Recorder()
    follower = ResultFollower(recorder, agents.store, lambda: (), every=3600)
    task = asyncio.create_task(follower.run())

    async def taken(count: int) -> None:
        while len(recorder.taken) < count:
            recorder.changed.clear()
            await recorder.changed.wait()

    try:
        async with asyncio.timeout(30):
            # each read after the first comes from a wake: the listener's connection
            while follower.listener is None or not follower.listener.listening:
                follower.read.clear()
                await follower.read.wait()
            # the first push is read at the NOTIFY, or at the read the listener makes
            # when it connects; the second one can only be woken by the NOTIFY
            await asyncio.to_thread(push, agents, "lyon-1", result(1))
            await taken(1)
            await asyncio.to_thread(push, agents, "lyon-1", result(2, status="down"))
            await taken(2)
        assert [(t[0], t[1], t[3], t[4]) for t in recorder.taken] == [
            ("web/home", "lyon", Status.UP, False), ("web/home", "lyon", Status.DOWN, False)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
