"""Per-phase timing of HTTP requests (``phases: true``) through aiohttp's tracing signals.

aiohttp gives signals around name resolution, connection creation (TCP connect and TLS
handshake together: there is no separate TLS signal), headers sent and response headers
received; the probe times the body transfer itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp


class Phases:
    """Seconds spent per phase in one run, summed over redirects."""

    __slots__ = (
        "answered",
        "conn_start",
        "connect",
        "dns",
        "dns_before",
        "dns_start",
        "processing",
        "sent",
        "transfer",
    )

    def __init__(self) -> None:
        self.dns = self.connect = self.processing = self.transfer = 0.0
        self.conn_start = self.dns_before = self.dns_start = self.sent = self.answered = 0.0

    def finish(self, now: float) -> None:
        """Close the transfer phase (the body has been read) at loop time ``now``."""
        if self.answered:
            self.transfer = max(0.0, now - self.answered)

    def as_sample(self) -> dict[str, float]:
        """The ``http_phase_seconds`` sample, by phase."""
        return {"dns": self.dns, "connect": self.connect,
                "processing": self.processing, "transfer": self.transfer}


def _now() -> float:
    return asyncio.get_running_loop().time()


# Each callback receives the request's trace context; requests of checks without
# ``phases: true`` carry None and return at once.

async def _on_conn_start(_s: Any, tctx: Any, _p: Any) -> None:
    if (ph := tctx.trace_request_ctx) is not None:
        ph.conn_start, ph.dns_before = _now(), ph.dns


async def _on_conn_end(_s: Any, tctx: Any, _p: Any) -> None:
    if (ph := tctx.trace_request_ctx) is not None:
        # the connector resolves the name inside connection creation: take DNS out
        ph.connect += _now() - ph.conn_start - (ph.dns - ph.dns_before)


async def _on_dns_start(_s: Any, tctx: Any, _p: Any) -> None:
    if (ph := tctx.trace_request_ctx) is not None:
        ph.dns_start = _now()


async def _on_dns_end(_s: Any, tctx: Any, _p: Any) -> None:
    if (ph := tctx.trace_request_ctx) is not None:
        ph.dns += _now() - ph.dns_start


async def _on_headers_sent(_s: Any, tctx: Any, _p: Any) -> None:
    if (ph := tctx.trace_request_ctx) is not None:
        ph.sent = _now()


async def _on_request_end(_s: Any, tctx: Any, _p: Any) -> None:
    if (ph := tctx.trace_request_ctx) is not None:
        ph.answered = _now()
        ph.processing += ph.answered - ph.sent


def _make_trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_connection_create_start.append(_on_conn_start)
    config.on_connection_create_end.append(_on_conn_end)
    config.on_dns_resolvehost_start.append(_on_dns_start)
    config.on_dns_resolvehost_end.append(_on_dns_end)
    config.on_request_headers_sent.append(_on_headers_sent)
    config.on_request_end.append(_on_request_end)
    config.freeze()
    return config


TRACE_CONFIG = _make_trace_config()
"""The one trace configuration added to the shared session."""


def attach_tracing(session: aiohttp.ClientSession) -> None:
    """Add the phase timers to ``session``, once, when a check first asks for phases.

    Tracing costs every request of the session a few coroutine calls, so it is only
    attached when some check sets ``phases: true``. aiohttp has no per-request trace
    configuration; its ``trace_configs`` property returns the session's own list.
    """
    configs = session.trace_configs
    if TRACE_CONFIG not in configs:
        configs.append(TRACE_CONFIG)
