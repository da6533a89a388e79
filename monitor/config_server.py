"""The ``server`` section: the HTTP listener for ``/metrics``, the dashboard and plugin
routes, its engine, its reverse proxy and its limits (see docs/operations.md, "Limits of the
listener")."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from monitor.schema import Duration, StrictModel

#: headers a trusted reverse proxy may set (waitress's names)
PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                 "x-forwarded-port", "x-forwarded-by", "forwarded")


class ListenerLimits(StrictModel):
    """What one client may hold of the listener: time, connections, memory (see
    docs/operations.md, "Limits of the listener")."""

    #: a connection must send a whole request head this soon after it opens (or after
    #: its first byte, on a kept-alive connection); otherwise it is answered 408 and closed
    head_timeout: Duration = 10.0
    #: a request's whole body must arrive this soon after its head; otherwise 408
    body_timeout: Duration = 30.0
    #: a kept-alive connection with no request is closed after this
    keepalive_timeout: Duration = 15.0
    #: open connections at once; the next ones are answered 503 and closed
    max_connections: int = Field(default=1024, ge=1, le=1_000_000)
    #: open connections at once from one address (an IPv6 /64 counts as one address;
    #: ``server.trusted_proxy`` is not counted: behind a proxy, limit clients there)
    max_connections_per_address: int = Field(default=64, ge=1, le=1_000_000)
    #: largest request body in bytes, where ``server.paths`` gives no other; a larger
    #: ``Content-Length`` is answered 413 before anything is read
    max_body: int = Field(default=64 * 1024, ge=0, le=1 << 30)
    #: bytes of request bodies held in memory at once, all connections together; a body
    #: that does not fit is answered 503
    body_memory: int = Field(default=32 * 1024 * 1024, ge=1024, le=1 << 34)
    #: file descriptors kept free for the checks, the database and the alerts: below this
    #: many free, the listener stops accepting connections until some close. Default:
    #: ``scheduler.concurrency`` + 64; ``0`` turns the reserve off
    descriptor_reserve: int | None = Field(default=None, ge=0, le=1_000_000)


class PathSettings(StrictModel):
    """Settings of the requests under one path prefix."""

    #: largest request body in bytes under this prefix (default: ``server.limits.max_body``)
    max_body: int | None = Field(default=None, ge=0, le=1 << 30)
    #: worker threads of its own for this prefix, so its slow requests (password hashing
    #: at login) never hold the threads of the others (default: the shared ``threads``)
    threads: int | None = Field(default=None, ge=1, le=256)
    #: write the bodies of this prefix to a temporary file (in ``<data_dir>/spool``) as
    #: they arrive (uploads), instead of holding them in memory: each holds 64 KiB of
    #: ``limits.body_memory`` at most, whatever its size
    spool: bool = False


#: the admin area: forms and API bodies up to 1 MiB, logins on threads of their own; the
#: members' requests for help: the form and its screenshots (15 MiB by default, see
#: ``assistance.screenshots``) written to disk as they arrive, on threads of their own
DEFAULT_PATHS = {"/admin": PathSettings(max_body=1024 * 1024, threads=4),
                 "/assistance": PathSettings(max_body=16 * 1024 * 1024, threads=4,
                                             spool=True)}


class ServerSettings(StrictModel):
    """The HTTP listener for ``/metrics``, the dashboard and plugin routes."""

    #: ``host:port`` to listen on (``0.0.0.0:8080`` for every interface; keep it local
    #: behind a reverse proxy)
    listen: str = "127.0.0.1:8080"
    #: HTTP worker threads (scrapes, status page, push receivers)
    threads: int = Field(default=8, ge=1, le=256)
    #: ``vigie``: Vigie's own listener (aiohttp's server parts; the fast one, with every
    #: limit of ``limits`` and ``paths``); ``waitress``: the same pages served by waitress,
    #: which honours ``threads``, the proxy settings, ``limits.max_body``,
    #: ``limits.max_connections`` and ``limits.keepalive_timeout`` only (see
    #: docs/configuration.md)
    engine: Literal["vigie", "waitress"] = "vigie"
    #: address of the reverse proxy in front of Vigie (``127.0.0.1`` for nginx on the same
    #: machine), whose ``X-Forwarded-*`` headers are then believed: visitors' real
    #: addresses (logs, login limits) and ``https`` (the ``Secure`` cookie). ``*`` trusts
    #: every peer: only when nothing but the proxy can reach the listener. Unset: those
    #: headers are ignored
    trusted_proxy: str | None = None
    #: the headers believed from ``trusted_proxy`` (``forwarded`` alone, or
    #: ``x-forwarded-for``, ``-proto``, ``-host``, ``-port``, ``-by``)
    trusted_proxy_headers: list[str] = ["x-forwarded-for", "x-forwarded-proto",
                                        "x-forwarded-host"]
    #: timeouts, connection caps and body sizes of the listener
    limits: ListenerLimits = ListenerLimits()
    #: settings by path prefix (``/admin`` covers ``/admin`` and everything under it; the
    #: longest prefix wins). Giving ``paths`` replaces the default, so keep ``/admin`` and
    #: ``/assistance`` in it
    paths: dict[str, PathSettings] = DEFAULT_PATHS

    @field_validator("paths")
    @classmethod
    def _path_prefixes(cls, value: dict[str, PathSettings]) -> dict[str, PathSettings]:
        out = {}
        for prefix, settings in value.items():
            if not prefix.startswith("/") or "?" in prefix or "#" in prefix:
                raise ValueError(f"a path prefix starts with / (e.g. /admin), got {prefix!r}")
            out["/" + prefix.strip("/")] = settings
        return out

    @model_validator(mode="after")
    def _bodies_fit_in_memory(self) -> ServerSettings:
        sizes = {"limits.max_body": self.limits.max_body}
        sizes.update((f"paths.{prefix}.max_body", p.max_body)
                     for prefix, p in self.paths.items()
                     if p.max_body is not None and not p.spool)
        key, largest = max(sizes.items(), key=lambda item: item[1])
        if largest > self.limits.body_memory:
            raise ValueError(f"limits.body_memory ({self.limits.body_memory} bytes) is smaller "
                             f"than {key} ({largest} bytes): such a body could never be "
                             "read; raise limits.body_memory")
        return self

    @field_validator("trusted_proxy")
    @classmethod
    def _proxy_address(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "*":
            return None if value is None else "*"
        try:
            # waitress compares it with the peer's address as text: normalise it
            return str(ipaddress.ip_address(value.strip().strip("[]")))
        except ValueError:
            raise ValueError("expected the proxy's IP address (e.g. 127.0.0.1) or *") from None

    @field_validator("trusted_proxy_headers")
    @classmethod
    def _proxy_headers(cls, value: list[str]) -> list[str]:
        headers = list(dict.fromkeys(h.strip().lower() for h in value))
        unknown = [h for h in headers if h not in PROXY_HEADERS]
        if unknown:
            raise ValueError(f"unknown header {unknown[0]!r} (one of: "
                             f"{', '.join(PROXY_HEADERS)})")
        if not headers:
            raise ValueError("give at least one header (e.g. x-forwarded-for)")
        if "forwarded" in headers and len(headers) > 1:
            raise ValueError("forwarded and the x-forwarded-* headers cannot be trusted "
                             "together: choose one kind")
        return headers

    def proxy_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`monitor.web.WebServer` (and waitress) for the
        reverse proxy: empty when no proxy is trusted."""
        if self.trusted_proxy is None:
            return {}
        return {"trusted_proxy": self.trusted_proxy,
                "trusted_proxy_headers": set(self.trusted_proxy_headers)}

    def listener_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`monitor.web.make_listener`: the engine, the proxy,
        the limits and the path settings."""
        return {"engine": self.engine, "limits": self.limits, "paths": self.paths,
                **self.proxy_options()}

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"expected host:port, e.g. 127.0.0.1:8080, got {value!r}")
        return value

    @property
    def host(self) -> str:
        """Host part of ``listen`` (brackets of an IPv6 address removed)."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """Port part of ``listen``."""
        return int(self.listen.rpartition(":")[2])
