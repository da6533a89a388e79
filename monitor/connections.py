"""The listener's connections: who may connect, and how long a request head may take.

- :class:`Gate` admits connections: caps in total and per client address, and the
  reserve of file descriptors under which the listener stops accepting, so that a flood
  of clients can never take the descriptors the checks need.
- :func:`accept_loop` accepts connections one at a time, asking the gate first. (asyncio's
  own server accepts up to a whole backlog in one go: a flood would take the last
  descriptors before anything could refuse it.)
- :class:`ListenerStats`: the counters behind the ``vigie_http_*`` metrics, and
  :class:`FloodTrim`, which hands freed memory back to the system after a flood.

Request heads are guarded in :mod:`monitor.heads`. Everything here runs on the
listener's event loop (:mod:`monitor.web`).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor import malloc, wsgi
from monitor.config import ListenerLimits
from monitor.resources import Descriptors, is_local_error
from monitor.waits import wait_event

if TYPE_CHECKING:
    from monitor.heads import GuardedServer

log = logging.getLogger(__name__)

#: seconds between two counts of the open descriptors while there are plenty free
RECOUNT_EVERY = 1.0
#: seconds the accept loop waits for a connection to close when it cannot accept
ACCEPT_RETRY = 1.0
#: a flood is this many connections open at once, or this many body bytes held; once it
#: is over (a quarter of the connections left, no body held) freed memory is trimmed
TRIM_AFTER_CONNECTIONS = 256
TRIM_AFTER_BODY_BYTES = 8 * 1024 * 1024
#: or this many bytes of bodies written to disk (uploads: their parsing and decoding in
#: the worker threads leave freed pages behind, not the listener)
TRIM_AFTER_SPOOLED_BYTES = 32 * 1024 * 1024
#: seconds between two warnings that the listener pauses (a flood pauses it again and
#: again as its connections time out: once is enough for the log)
WARN_EVERY = 600.0
#: accept errors that only mean a client gave up before it was accepted
_CLIENT_GONE = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.ECONNRESET})


@dataclass(slots=True)
class ListenerStats:
    """What the listener did; written on its loop, read by the metrics collector."""

    #: connections open now, and the most at once
    open: int = 0
    open_peak: int = 0
    #: connections answered 503 and closed, by cap: ``total`` or ``address``
    refused: Counter[str] = field(default_factory=Counter)
    #: connections closed for dawdling, by phase: ``head`` or ``body``
    timeouts: Counter[str] = field(default_factory=Counter)
    #: requests refused, by reason: ``head_too_large``, ``body_too_large``, ``body_memory``
    requests_refused: Counter[str] = field(default_factory=Counter)
    #: request body bytes held in memory now (reserved), and the most at once
    body_bytes: int = 0
    body_bytes_peak: int = 0
    #: bodies written to a temporary file (``server.paths.<prefix>.spool``), and their bytes
    spooled: int = 0
    spooled_bytes: int = 0
    #: the listener is not accepting: free descriptors are under the reserve
    accept_paused: bool = False
    accept_pauses: int = 0
    #: accepts the OS refused for want of a local resource (EMFILE…)
    accept_errors: int = 0
    #: times freed memory was handed back to the system after a flood
    trims: int = 0
    #: the most connections and body bytes since the last trim (see :class:`FloodTrim`)
    flood_open: int = 0
    flood_bytes: int = 0
    #: bytes of bodies spooled since the last trim
    flood_spooled: int = 0

    def opened(self) -> None:
        """A connection was admitted."""
        self.open += 1
        self.open_peak = max(self.open_peak, self.open)
        self.flood_open = max(self.flood_open, self.open)

    def hold(self, size: int) -> None:
        """``size`` more bytes of request bodies are held."""
        self.body_bytes += size
        self.body_bytes_peak = max(self.body_bytes_peak, self.body_bytes)
        self.flood_bytes = max(self.flood_bytes, self.body_bytes)


class FloodTrim:
    """Hands freed memory back to the system (``malloc_trim``, in a thread) once a
    flood of connections or bodies is over: Python frees their objects, but glibc would
    keep the pages, and the process would stay at its peak."""

    def __init__(self, stats: ListenerStats) -> None:
        self.stats = stats
        self._running = False

    def check(self) -> None:
        """Called when a connection closes or a body is released (on the loop)."""
        stats = self.stats
        if self._running or stats.body_bytes or not (
                stats.flood_open >= TRIM_AFTER_CONNECTIONS
                or stats.flood_bytes >= TRIM_AFTER_BODY_BYTES
                or stats.flood_spooled >= TRIM_AFTER_SPOOLED_BYTES):
            return
        if stats.open > stats.flood_open // 4:
            return
        stats.flood_open, stats.flood_bytes, stats.flood_spooled = stats.open, 0, 0
        self._running = True
        asyncio.get_running_loop().run_in_executor(None, malloc.trim).add_done_callback(
            self._done)

    def _done(self, _future: Any) -> None:
        self._running = False
        self.stats.trims += 1


def address_key(address: str) -> str:
    """What the per-address cap counts: the address, an IPv6 client by its /64 (a single
    host usually holds a whole /64), an IPv4-mapped one as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Gate:
    """Admits connections within the caps and the descriptor reserve.

    :param trusted_proxy: the reverse proxy's address (``*``: every peer), whose
        connections are not capped per address: they carry every visitor.
    :param reserve: free descriptors kept for the rest of Vigie (0: no reserve).
    :param on_pause: called when the listener stops accepting for the reserve.
    :param on_release: called after a connection closed.
    """

    def __init__(self, limits: ListenerLimits, stats: ListenerStats, *,
                 trusted_proxy: str | None = None, descriptors: Descriptors | None = None,
                 reserve: int = 0, on_pause: Callable[[], None] | None = None,
                 on_release: Callable[[], None] | None = None) -> None:
        self.limits = limits
        self.stats = stats
        self._exempt = trusted_proxy
        self._descriptors = descriptors or Descriptors()
        self.reserve = self._sane_reserve(reserve)
        self._on_pause = on_pause or (lambda: None)
        self._on_release = on_release or (lambda: None)
        self._per_address: Counter[str] = Counter()
        #: accepts allowed before counting the descriptors again, and when they were counted
        self._spare = 0
        self._counted_at = float("-inf")
        self._released: asyncio.Event | None = None
        self._warned_at = float("-inf")

    def _sane_reserve(self, reserve: int) -> int:
        if reserve <= 0 or not self._descriptors.countable:
            return 0
        limit = self._descriptors.limit()
        if reserve > limit // 2:
            log.warning("the descriptor reserve (%d) is more than half the limit of %d: "
                        "using %d; raise the limit (LimitNOFILE=)", reserve, limit, limit // 2)
            return limit // 2
        return reserve

    # Caps -----------------------------------------------------------------------------

    def admit(self, peer: Any) -> tuple[str | None, str | None]:
        """``(key, None)`` for an admitted connection from ``peer`` (give ``key`` back to
        :meth:`release`), or ``(None, cap)`` naming the cap that refuses it."""
        if self.stats.open >= self.limits.max_connections:
            self.stats.refused["total"] += 1
            return None, "total"
        address = peer[0] if isinstance(peer, tuple) and peer else ""
        key = None if self._exempt in ("*", address) else address_key(address)
        if key is not None:
            if self._per_address[key] >= self.limits.max_connections_per_address:
                self.stats.refused["address"] += 1
                return None, "address"
            self._per_address[key] += 1
        self.stats.opened()
        return key, None

    def release(self, key: str | None) -> None:
        """A connection admitted with ``key`` closed."""
        self.stats.open -= 1
        if key is not None:
            left = self._per_address[key] - 1
            if left > 0:
                self._per_address[key] = left
            else:
                del self._per_address[key]
        if self._released is not None:
            self._released.set()
        self._on_release()

    # Descriptors ----------------------------------------------------------------------

    def has_room(self) -> bool:
        """Whether one more connection leaves the reserve of descriptors free.

        Counting costs about a millisecond per thousand descriptors: with plenty free the
        count is trusted for half the margin it showed (or a second), near the reserve
        every accept counts again.
        """
        if not self.reserve:
            return True
        now = time.monotonic()
        if self._spare > 0 and now - self._counted_at < RECOUNT_EVERY:
            self._spare -= 1
            return True
        free = self._descriptors.free()
        self._counted_at = now
        if free is None:
            return True
        margin = free - self.reserve
        self._spare = margin // 2 - 1
        return margin > 0

    async def wait_for_room(self) -> None:
        """Pause accepting until the reserve is free again (a connection closing, or
        every :data:`ACCEPT_RETRY` s for descriptors freed elsewhere)."""
        stats = self.stats
        if not stats.accept_paused:
            stats.accept_paused = True
            stats.accept_pauses += 1
            now = time.monotonic()
            warn, self._warned_at = now - self._warned_at >= WARN_EVERY, now
            log.log(logging.WARNING if warn else logging.DEBUG,
                    "listener: fewer than %d file descriptors free (kept for the checks); "
                    "not accepting connections until some close", self.reserve)
            self._on_pause()
        await self.wait_for_release()
        if self.has_room():
            stats.accept_paused = False
            log.debug("listener: file descriptors free again; accepting connections")

    async def wait_for_release(self) -> None:
        """Until a connection closes, or :data:`ACCEPT_RETRY` seconds."""
        if self._released is None:
            self._released = asyncio.Event()
        self._released.clear()
        await wait_event(self._released, ACCEPT_RETRY)


async def accept_loop(sock: socket.socket, gate: Gate, server: GuardedServer,
                      on_local_error: Callable[[], None] | None = None) -> None:
    """Accept connections on the listening ``sock`` for ``server``, one at a time,
    within the ``gate``'s caps and reserve, until cancelled. Nothing but cancelling
    stops it: a listener that quietly stopped accepting would be Vigie down."""
    while True:
        try:
            await _accept_one(sock, gate, server, on_local_error)
        except Exception:  # noqa: BLE001 - see above
            log.exception("listener: unexpected error while accepting; going on")
            await gate.wait_for_release()


async def _accept_one(sock: socket.socket, gate: Gate, server: GuardedServer,
                      on_local_error: Callable[[], None] | None) -> None:
    # returns without waiting when a client is pending, so a burst is accepted in one turn
    # of the loop (each connection is set up in a task: GuardedServer.open)
    if not gate.has_room():
        await gate.wait_for_room()
        return
    try:
        conn, peer = await asyncio.get_running_loop().sock_accept(sock)
    except OSError as exc:
        if exc.errno in _CLIENT_GONE:
            return
        if is_local_error(exc):
            gate.stats.accept_errors += 1
            if on_local_error is not None:
                on_local_error()
        else:
            log.warning("listener: accept failed (%s); retrying", exc)
        await gate.wait_for_release()
        return
    key, refused = gate.admit(peer)
    if refused is not None:
        _refuse(conn)
        return
    server.open(conn, key)


def _refuse(conn: socket.socket) -> None:
    """Answer 503 to a connection over a cap and close it."""
    try:
        conn.send(wsgi.raw_refusal(503))
    except OSError:
        pass
    finally:
        conn.close()
