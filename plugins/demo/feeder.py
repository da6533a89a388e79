"""The demo's heartbeat feeder: plays a nightly backup job that reports to Vigie.

A real job calls ``POST /push/<token>`` when it has run (see docs/probes/heartbeat.md);
the demo does the same every minute so that its ``heartbeat`` check stays up, while a
second heartbeat check is never fed and goes down once its grace has passed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp

log = logging.getLogger(__name__)

#: the heartbeat check the feeder reports for (the other one is never fed)
FED_CHECK = "sauvegardes/quotidienne"
#: seconds between two beats (the check expects one a minute, with 30 s of grace)
BEAT_EVERY = 60.0
MESSAGE = "Sauvegarde de démonstration terminée"


async def beat(session: aiohttp.ClientSession, url: str) -> bool:
    """Post one successful beat to ``url``; True when Vigie took it."""
    try:
        async with session.post(url, data={"status": "up", "msg": MESSAGE},
                                timeout=aiohttp.ClientTimeout(total=10)) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def feed_heartbeat(url: str, every: float = BEAT_EVERY, *,
                         on_beat: Callable[[bool], object] | None = None) -> None:
    """Post a beat to ``url`` now and every ``every`` seconds, until cancelled.

    A refused beat is logged (once until one succeeds again) and the feeding goes on:
    Vigie's check is what tells the visitor the job went silent.
    """
    failing = False
    async with aiohttp.ClientSession(headers={"User-Agent": "Vigie demo backup job"}) as session:
        while True:
            ok = await beat(session, url)
            if not ok and not failing:
                log.warning("demo: Vigie did not take the heartbeat (is it listening?)")
            failing = not ok
            if on_beat is not None:
                on_beat(ok)
            await asyncio.sleep(every)
