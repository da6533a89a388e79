"""Waiting for an event with a time limit, without losing a cancellation.

Python 3.11's ``asyncio.wait_for`` swallows a cancellation that arrives in the same loop
turn as the awaited event (it returns the event's result instead of raising
``CancelledError``; fixed in 3.12). A service loop built on it can then miss the one
cancel that was meant to stop it, and whoever awaits the task waits forever: under load,
an outbox lane woken at every delivery did exactly that. ``asyncio.timeout`` does not have
the race; every loop that waits for a wake-up with a limit uses :func:`wait_event`.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True when it was set.

    A cancellation is always raised, even when the event was set in the same turn.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
