"""Where a request comes from: the address the rate limits count, and whether every
visitor shares it (the reverse proxy's own address, when its ``X-Forwarded-For`` is not
trusted or not sent). Used by the admin area's login limits and by the members' forms.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from flask import Flask, current_app, request

_LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    # a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d
    return getattr(address, "ipv4_mapped", None) or address


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an address) is this machine."""
    if not host:
        return False
    if host in _LOOPBACK_NAMES:
        return True
    address = _ip(host)
    return address is not None and address.is_loopback


@dataclass(frozen=True, slots=True)
class Client:
    """The address of a request, as the rate limits count it.

    :ivar address: the peer's address (``"unknown"`` when the server gave none).
    :ivar shared: the address is the reverse proxy's own, which every visitor shares.
    """

    address: str
    shared: bool


def client_of(app: Flask) -> Client:
    """Where the current request comes from.

    The proxy's address is a loopback address (nginx on the same machine) or
    ``server.trusted_proxy``. A request still carries it when the proxy's
    ``X-Forwarded-For`` is not trusted (or not sent): every visitor then shares it. With
    ``server.trusted_proxy`` set, the listener puts the visitor's own address there.
    """
    address = request.remote_addr
    if not address:
        return Client("unknown", shared=True)
    if is_loopback(address):
        return Client(address, shared=True)
    state = app.extensions.get("vigie")
    config = getattr(state, "config", None)
    proxy = getattr(getattr(getattr(config, "file", None), "server", None),
                    "trusted_proxy", None)
    shared = bool(proxy and proxy != "*" and _ip(address) is not None
                  and _ip(address) == _ip(proxy))
    return Client(address, shared=shared)


def own_address() -> str | None:
    """The current visitor's own address, for the members' forms' per-address limits; None
    when the request carries the reverse proxy's address, which every member shares (counting
    it would let one sender lock every member out)."""
    client = client_of(current_app)
    return None if client.shared else client.address
