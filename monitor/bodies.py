"""Reading request bodies: capped per request, within a memory budget all requests share.

A body announced larger than its path's limit is refused before a byte of it is read; a
body without a length (chunked) is read in the pieces the connection delivers and refused
as soon as it passes the limit. Every byte held is first reserved in the
:class:`BodyBudget`, a piece (:data:`CHUNK`) ahead of what arrived, so however many
clients stall in the middle of their bodies, the listener never holds more than
``server.limits.body_memory`` of them, and a client holds only what it actually sent
(plus a piece), not what it announced.

Under a prefix whose bodies are spooled (``server.paths.<prefix>.spool``: members'
uploads), :func:`spool_body` writes the body to a temporary file as it arrives: it holds
:data:`SPOOL_MEMORY` of the budget at most, whatever its size. The file has no name on
disk (it goes when closed, or when the process dies) and is written by one thread of its
own, so a slow disk never stalls the listener's loop.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from aiohttp.web_request import BaseRequest

from monitor.connections import ListenerStats

#: bytes reserved at a time for a body of unknown length
CHUNK = 64 * 1024
#: bytes of a spooled body kept in memory; past them it is in its file
SPOOL_MEMORY = 64 * 1024


class BodyRefused(Exception):
    """The body cannot be taken: ``status`` 413 (over ``limit``) or 503 (no memory left
    in the budget); ``kind`` names it in the metrics."""

    def __init__(self, status: int, kind: str, limit: int = 0) -> None:
        super().__init__(kind)
        self.status = status
        self.kind = kind
        self.limit = limit


class BodyBudget:
    """Bytes of request bodies the listener may hold at once. Used on the listener's
    loop only (no lock)."""

    def __init__(self, limit: int, stats: ListenerStats) -> None:
        self.limit = limit
        self.stats = stats

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes; False when they do not fit."""
        if self.stats.body_bytes + size > self.limit:
            return False
        self.stats.hold(size)
        return True

    def give(self, size: int) -> None:
        """Release ``size`` bytes reserved earlier."""
        self.stats.body_bytes -= size


@dataclass(slots=True)
class Body:
    """A body read whole: its bytes, its size, and what it holds of the budget;
    ``spooled`` when ``stream`` is a temporary file (to be closed by :func:`release`)."""

    stream: IO[bytes]
    size: int
    held: int
    spooled: bool = False


async def read_body(request: BaseRequest, limit: int, budget: BodyBudget) -> Body:
    """Read ``request``'s body, at most ``limit`` bytes; the caller gives ``held`` back
    to ``budget`` once the body is no longer needed.

    :raises BodyRefused: too large, or no room in the budget (nothing stays reserved).
    """
    length = request.content_length
    if length is not None and length > limit:
        raise BodyRefused(413, "body_too_large", limit)
    # reserved as the bytes arrive, a piece ahead: a client announcing a large body and
    # sending little of it holds little (stalled bodies must not starve the small ones, a
    # job's heartbeat, of the budget)
    most = length if length is not None else limit
    held = min(most, CHUNK)
    if held and not budget.take(held):
        raise BodyRefused(503, "body_memory")
    stream, size = io.BytesIO(), 0
    try:
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > limit:
                raise BodyRefused(413, "body_too_large", limit)
            if size > held:  # reserve the next piece first
                more = min(max(size - held, CHUNK), most - held)
                if not budget.take(more):
                    raise BodyRefused(503, "body_memory")
                held += more
            stream.write(chunk)
    except BaseException:
        budget.give(held)
        raise
    stream.seek(0)
    return Body(stream, size, held)


async def spool_body(request: BaseRequest, limit: int, budget: BodyBudget, *,
                     folder: Path | None, writer: Executor) -> Body:
    """Read ``request``'s body, at most ``limit`` bytes, into a temporary file in
    ``folder`` (the system's temporary folder when None): the first
    :data:`SPOOL_MEMORY` bytes in memory, the rest written by ``writer`` (one thread, so
    the writes of a body stay in order). The caller gives the body to :func:`release`.

    :raises BodyRefused: too large, or no room in the budget for its first bytes.
    """
    length = request.content_length
    if length is not None and length > limit:
        raise BodyRefused(413, "body_too_large", limit)
    held = min(length if length is not None else limit, SPOOL_MEMORY)
    if held and not budget.take(held):
        raise BodyRefused(503, "body_memory")
    # closed by release(), once the application has read it
    stream: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - outlives this block
        max_size=SPOOL_MEMORY, dir=None if folder is None else str(folder))
    loop = asyncio.get_running_loop()
    size = 0
    try:
        while True:
            # the pieces as the connection delivered them: readany() would join whatever
            # is buffered into one more copy, for every client at once
            chunk, end_of_http_chunk = await request.content.readchunk()
            if not chunk:
                if end_of_http_chunk:
                    continue
                break
            size += len(chunk)
            if size > limit:
                raise BodyRefused(413, "body_too_large", limit)
            if size <= SPOOL_MEMORY:
                stream.write(chunk)  # still in memory: no disk touched
            else:  # the file is created (rollover) and written off the loop
                await loop.run_in_executor(writer, stream.write, chunk)
        await loop.run_in_executor(writer, stream.seek, 0)
    except BaseException:
        budget.give(held)
        writer.submit(stream.close)  # after a write still running, never beside it
        raise
    budget.stats.spooled += 1
    budget.stats.spooled_bytes += size
    budget.stats.flood_spooled += size
    return Body(stream, size, held, spooled=True)


def release(body: Body, budget: BodyBudget, writer: Executor) -> None:
    """Give back what ``body`` holds of the budget; a spooled body's file is closed (and
    so deleted) by ``writer``, off the loop."""
    budget.give(body.held)
    if body.spooled:
        writer.submit(body.stream.close)
