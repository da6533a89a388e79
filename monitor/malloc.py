"""Giving freed heap memory back to the system (glibc only; elsewhere nothing happens).

Start-up allocates a lot only for a moment (the configuration's YAML events, the catalog
sync, SQLAlchemy's first compilations, the dashboard's first snapshot). Python frees
those objects, but glibc keeps the freed pages of its heaps mapped until the top of a heap
is free, which a long-lived object allocated later rarely leaves it: the pages stay in the
process's resident memory. ``malloc_trim(0)`` returns every wholly free page of every
heap, wherever it is.
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)


def _libc() -> ctypes.CDLL | None:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (AttributeError, ValueError, OSError):  # not glibc (musl, macOS, Windows)
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim  # noqa: B018 (present in every glibc, but be sure)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_MMAP_THRESHOLD = 1024 * 1024


def configure() -> bool:
    """Set Vigie's malloc policy (the runtime calls it at start); True when applied.

    Large blocks go back to the system as soon as they are freed: a scrape builds its
    output (megabytes with thousands of checks) in a web server thread; glibc serves a
    block that large from the system (mmap) and returns it when freed, but then raises
    that threshold to the freed size, so the next scrapes take their blocks from
    per-thread heaps that never shrink (RSS grew scrape after scrape; the figures are in
    docs/performance.md). A fixed threshold keeps the first behaviour. Elsewhere than glibc
    this does nothing.
    """
    if _LIBC is None:
        return False
    try:
        return bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def available() -> bool:
    """Whether :func:`trim` can do anything here (glibc)."""
    return _LIBC is not None


def trim() -> bool:
    """Return the free pages of glibc's heaps to the system; True when some were.

    Cheap when there is little to return (a walk over the heaps: milliseconds with
    hundreds of megabytes); does nothing and returns False elsewhere than glibc.
    """
    if _LIBC is None:
        return False
    try:
        return bool(_LIBC.malloc_trim(0))
    except OSError:  # pragma: no cover - ctypes call failures are not expected
        log.debug("malloc_trim failed", exc_info=True)
        return False
