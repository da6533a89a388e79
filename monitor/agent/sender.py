"""Sending the spool to the server: batches of at most :data:`BATCH_MAX` results, in seq
order, each acknowledged before the next is read.

- the server away (no answer, 5xx, 429…): the same results are tried again after a
  wait that grows (tenacity: exponential with jitter, up to ``--max-backoff``), or as long
  as the server's ``Retry-After`` says; meanwhile new results wait on disk;
- a batch refused for its content (400, 413, 415, a 403 ``wrong_location``): it is cut in
  half until the one result the server will not take is alone; that one is dropped
  (counted in ``dropped``, logged with the server's sentence) and the rest goes on;
- the token refused (401, another 403): :class:`~monitor.agent.protocol.Refused` goes up
  to the agent, which stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_base, wait_exponential_jitter

from monitor.agent.protocol import Rejected, ServerClient, Unavailable
from monitor.agent.spool import SpoolThread

log = logging.getLogger(__name__)

#: most results in one push
BATCH_MAX = 500
#: seconds a push waits for more results to come, unless a full batch is waiting
LINGER = 1.0
#: seconds before the first new attempt after a failure (then doubled each time)
FIRST_BACKOFF = 1.0


@dataclass(slots=True)
class Identity:
    """Who the pushes come from: the agent's name (the server's, from the checks'
    answer), this process's boot id, and the number of pushes made since it started."""

    boot: str
    agent: str | None = None
    batches: int = 0
    #: set once the name is known (no push before: the server wants it)
    known: asyncio.Event = field(default_factory=asyncio.Event)

    def name(self, agent: str) -> None:
        """The server told the agent its name."""
        self.agent = agent
        self.known.set()


class ServerWait(wait_base):
    """tenacity's wait between two attempts: the server's ``Retry-After`` when it gave
    one, else exponential with jitter from :data:`FIRST_BACKOFF` up to ``maximum``."""

    def __init__(self, maximum: float) -> None:
        self._backoff = wait_exponential_jitter(initial=FIRST_BACKOFF, max=maximum,
                                                jitter=FIRST_BACKOFF)

    def __call__(self, retry_state: RetryCallState) -> float:
        """Seconds to wait after the attempt ``retry_state`` describes."""
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        if isinstance(failure, Unavailable) and failure.retry_after is not None:
            return failure.retry_after
        return float(self._backoff(retry_state))


class Sender:
    """Sends what the spool holds whenever :attr:`wake` is set (see the module).

    :param dropped_elsewhere: results lost before reaching the spool (its disk refusing
        to write), added to the spool's own ``dropped`` in each push.
    """

    def __init__(self, client: ServerClient, disk: SpoolThread, identity: Identity, *,
                 max_backoff: float, dropped_elsewhere: Callable[[], int] = lambda: 0,
                 linger: float = LINGER) -> None:
        self.client = client
        self.disk = disk
        self.identity = identity
        self.wake = asyncio.Event()
        self.max_backoff = max_backoff
        self.linger = linger
        self._dropped_elsewhere = dropped_elsewhere
        #: results per push now (smaller while a refused batch is being cut)
        self._size = BATCH_MAX
        #: when the server stopped answering (None: it answers)
        self._away_since: float | None = None
        #: the push being made, with its acknowledgement
        self._in_flight: asyncio.Future[bool] | None = None

    @property
    def away(self) -> bool:
        """The server did not take the last push attempted."""
        return self._away_since is not None

    async def run(self) -> None:
        """Send forever (cancel to stop); :class:`~monitor.agent.protocol.Refused` ends
        it."""
        await self.identity.known.wait()
        while True:
            await self.wake.wait()
            self.wake.clear()
            waiting = await self.disk.call(lambda: self.disk.spool.buffered)
            if 0 < waiting < BATCH_MAX and self.linger > 0:
                await asyncio.sleep(self.linger)  # let a few more results join the batch
            while await self._send_with_retries():
                pass

    async def _send_with_retries(self) -> bool:
        """Send the oldest waiting results, trying again while the server is away;
        False when nothing waits."""
        retrying = AsyncRetrying(wait=ServerWait(self.max_backoff),
                                 retry=retry_if_exception_type(Unavailable),
                                 before_sleep=self._away, reraise=True)
        async for attempt in retrying:
            with attempt:
                sent = await self.send_once()
        if self._away_since is not None:
            log.info("server %s answers again (away %.0f s)", self.client.base_url,
                     time.monotonic() - self._away_since)
            self._away_since = None
        return sent

    async def send_once(self) -> bool:
        """One push of the oldest waiting results; False when nothing waits.

        The push and its acknowledgement run as a task of their own, which the
        cancellation of this call (the agent stopping) does not cut: :meth:`settle`
        lets it end, so a batch the server took is not sent again at the next start.

        :raises ProtocolError: :class:`Unavailable` or
            :class:`~monitor.agent.protocol.Refused` (a :class:`Rejected` batch is cut
            here).
        """
        spool = self.disk.spool
        batch, buffered, dropped = await self.disk.call(
            lambda: (spool.pending(self._size), spool.buffered, spool.dropped))
        if not batch:
            return False
        body = self._body(batch, buffered - len(batch), dropped + self._dropped_elsewhere())
        self._in_flight = asyncio.ensure_future(self._push(batch, body))
        return await asyncio.shield(self._in_flight)

    async def _push(self, batch: list[tuple[int, bytes]], body: bytes) -> bool:
        try:
            stored = await self.client.push(body)
        except Rejected as exc:
            await self._rejected(batch, exc)
            return True
        await self.disk.call(self.disk.spool.acknowledge, batch[-1][0])
        log.debug("pushed seq %d-%d: %d stored, %d already there", batch[0][0],
                  batch[-1][0], stored.stored, stored.duplicates)
        self._size = min(BATCH_MAX, self._size * 2)
        return True

    async def settle(self, timeout: float) -> None:
        """Let the push in flight (if any) end and be acknowledged, for at most
        ``timeout`` seconds (then it is cut: its batch goes again at the next start)."""
        task, self._in_flight = self._in_flight, None
        if task is None or task.done():
            if task is not None and not task.cancelled():
                task.exception()  # retrieved: the caller of send_once is gone
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except Exception:  # noqa: BLE001 - a failed last push leaves the batch on disk
            log.debug("the push in flight at stop failed", exc_info=True)

    def _body(self, batch: list[tuple[int, bytes]], buffered: int, dropped: int) -> bytes:
        """The push's JSON: its fields, then the results as the spool holds them."""
        self.identity.batches += 1
        head = json.dumps({"agent": self.identity.agent, "boot": self.identity.boot,
                           "batch": self.identity.batches, "sent_at": time.time(),
                           "buffered": max(0, buffered), "dropped": dropped},
                          separators=(",", ":"))
        return b"".join((head[:-1].encode(), b',"results":[',
                         b",".join(payload for _, payload in batch), b"]}"))

    async def _rejected(self, batch: list[tuple[int, bytes]], exc: Rejected) -> None:
        if len(batch) > 1:
            self._size = max(1, len(batch) // 2)
            log.warning("the server refused a batch of %d results (%s); sending %d at a "
                        "time to find the one it refuses", len(batch), exc.message,
                        self._size)
            return
        seq, payload = batch[0]
        try:
            check = json.loads(payload).get("check")
        except ValueError:
            check = None
        log.error("the server refuses the result seq %d of check %s (%s); it is dropped "
                  "and counted as such", seq, check, exc.message)
        await self.disk.call(self.disk.spool.skip, seq)

    def _away(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None else None
        wait = retry_state.upcoming_sleep
        if self._away_since is None:
            self._away_since = time.monotonic()
            log.warning("cannot send results to %s: %s; they wait on disk, trying again "
                        "in %.0f s", self.client.base_url,
                        getattr(failure, "message", failure), wait)
        else:
            log.debug("still cannot send results: %s; next try in %.1f s",
                      getattr(failure, "message", failure), wait)
