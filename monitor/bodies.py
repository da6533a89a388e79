"""Reading request bodies: capped per request, within a memory budget all requests share.

A body announced larger than its path's limit is refused before a byte of it is read; a
body without a length (chunked) is read in the pieces the connection delivers and refused
as soon as it passes the limit. Every byte held is first reserved in the
:class:`BodyBudget`, a piece (:data:`CHUNK`) ahead of what arrived, so however many
clients stall in the middle of their bodies, the listener never holds more than
``server.limits.body_memory`` of them, and a client holds only what it actually sent
(plus a piece), not what it announced.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from aiohttp.web_request import BaseRequest

from monitor.connections import ListenerStats

#: bytes reserved at a time for a body of unknown length
CHUNK = 64 * 1024


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
    """A body read whole: its bytes, its size, and what it holds of the budget."""

    stream: io.BytesIO
    size: int
    held: int


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
