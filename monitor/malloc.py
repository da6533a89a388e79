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
