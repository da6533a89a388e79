"""Ownership: which live node runs each check, by rendezvous (highest random weight)
hashing.

Each (check, node) pair gets a weight from a stable hash (BLAKE2b, the same on every
machine and Python; never ``hash()``, which changes at each start); a check belongs to the
live node of highest weight. Every node computes the same owner from the same live set,
with no table and no coordination, and a change of the live set moves only what it must:

- a node leaves or dies: only its checks move, spread over the others;
- a node joins: only the checks it now wins move to it, about ``1/n`` of them.

Pure functions: the live set comes from :meth:`monitor.cluster.membership.Membership.beat`.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b


def check_key(service_id: str, check_id: str) -> str:
    """The key a check is owned by: ``service/check`` (both are unique ids)."""
    return f"{service_id}/{check_id}"


def weight(key: str, node: str) -> int:
    """The weight of ``node`` for ``key``: 64 bits of BLAKE2b over both (a NUL between
    them, which neither holds, so that no two pairs hash the same text)."""
    digest = blake2b(f"{node}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, live: Iterable[str]) -> str:
    """The live node that runs the check of ``key`` (ties, which need a 64-bit
    collision, go to the greater name).

    :raises ValueError: no node is live.
    """
    best: tuple[int, str] | None = None
    for node in live:
        candidate = (weight(key, node), node)
        if best is None or candidate > best:
            best = candidate
    if best is None:
        raise ValueError("no live node to own a check")
    return best[1]


def owned(keys: Iterable[str], me: str, live: Iterable[str]) -> list[str]:
    """The keys, of ``keys``, that node ``me`` runs (none when ``me`` is not live: a node
    cut from the others runs nothing, its checks are run elsewhere).

    The same answer as :func:`owner` for each key, in about half the time: each node's
    part of the hash is computed once (30,000 checks on 3 nodes take tens of ms).
    """
    nodes = sorted(set(live))
    if me not in nodes:
        return []
    # hashing is streamed: a copy of the hash of "node\0", fed the key, is the weight
    prefixes = [(blake2b(f"{node}\0".encode(), digest_size=8), node) for node in nodes]
    mine = []
    for key in keys:
        data = key.encode()
        best: tuple[bytes, str] | None = None
        for prefix, node in prefixes:
            h = prefix.copy()
            h.update(data)
            candidate = (h.digest(), node)
            if best is None or candidate > best:
                best = candidate
        if best is not None and best[1] == me:
            mine.append(key)
    return mine
