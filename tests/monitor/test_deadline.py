"""Deadlines on one loop timer behave as asyncio.timeout does, within a slot."""

from __future__ import annotations

import asyncio

import pytest

from monitor import deadline as deadline_module
from monitor.deadline import RESOLUTION, deadline


async def test_a_block_past_its_deadline_is_cancelled_and_raises_timeout():
    loop, delay = asyncio.get_running_loop(), 0.05
    before = loop.time()
    with pytest.raises(TimeoutError):
        async with deadline(delay) as cm:
            inside = loop.time()
            await asyncio.sleep(5)  # slow peer: hung work
    assert cm.expired()
    # its timer is the slot where the deadline falls: never before the deadline, at most
    # one slot after it (when it fires on the wall clock is bench/'s business)
    wakes = cm._slot * RESOLUTION
    assert before + delay <= wakes <= inside + delay + RESOLUTION


async def test_a_block_in_time_is_left_alone():
    async with deadline(1) as cm:
        await asyncio.sleep(0.01)  # slow peer: work well within its deadline
    assert not cm.expired()
    await asyncio.sleep(0)  # nothing left to cancel this task later
    assert asyncio.current_task().cancelling() == 0


async def test_an_outer_cancellation_is_not_turned_into_a_timeout():
    entered = asyncio.Event()

    async def body():
        async with deadline(5):
            entered.set()
            await asyncio.Event().wait()  # hung work: never set

    task = asyncio.create_task(body())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_errors_inside_pass_through():
    with pytest.raises(ValueError):
        async with deadline(1):
            raise ValueError("boom")


async def test_nested_deadlines_the_inner_one_fires_first():
    async with deadline(2) as outer:
        with pytest.raises(TimeoutError):
            async with deadline(0.02) as inner:
                await asyncio.sleep(1)  # hung peer
    assert inner.expired() and not outer.expired()


async def test_many_concurrent_deadlines_fire_each_once_and_leave_nothing_behind():
    async def run(seconds: float) -> bool:
        try:
            async with deadline(seconds):
                await asyncio.sleep(0.2)  # slow peer: work that outlives the short deadlines
        except TimeoutError:
            return True
        return False

    outcomes = await asyncio.gather(*(run(0.05 if i % 2 else 1.0) for i in range(500)))
    assert outcomes.count(True) == 250
    slots = deadline_module._PER_LOOP[asyncio.get_running_loop()]
    assert not slots._slots  # every finished block removed itself


def test_outside_a_task_is_an_error():
    async def enter():
        async with deadline(1):
            pass

    coro = enter()
    with pytest.raises(RuntimeError):
        coro.send(None)  # no running task
    coro.close()
