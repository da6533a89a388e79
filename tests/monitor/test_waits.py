"""monitor.waits: a wait with a limit that never loses a cancellation."""

from __future__ import annotations

import asyncio

from monitor.waits import wait_event


async def _loop_until_cancelled(event: asyncio.Event, turns: list[int]) -> None:
    while True:  # the shape of every service loop: wait for a wake-up, work, again
        await wait_event(event, 3600)
        event.clear()
        turns.append(1)


async def test_a_cancel_arriving_with_the_wake_up_stops_the_loop():
    """The outbox lanes' hang: Python 3.11's wait_for returned the event instead of
    raising the cancel that came in the same turn, so the loop went on forever."""
    event, turns = asyncio.Event(), []
    task = asyncio.create_task(_loop_until_cancelled(event, turns))
    await asyncio.sleep(0)  # the task waits for its event
    event.set()
    task.cancel()
    for _ in range(5):  # a few turns of the loop: enough to deliver a cancel
        await asyncio.sleep(0)
    assert task.cancelled(), "the loop went on after its cancel"
    assert turns == []
    task.cancel()  # (when the test fails: do not leave the loop running)


async def test_it_tells_a_wake_up_from_the_end_of_the_limit():
    event = asyncio.Event()
    assert await wait_event(event, 0) is False
    event.set()
    assert await wait_event(event, 3600) is True
