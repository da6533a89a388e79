"""Vigie's own resources: file descriptors, and the errors that say they ran out.

- :func:`raise_nofile_limit` lifts the soft RLIMIT_NOFILE to the hard limit at start:
  the soft limit is often 1,024 while the hard one allows far more, and every check in
  flight and every client of the listener holds a descriptor.
- :class:`Descriptors` counts the descriptors the process has open, for the listener's
  reserve (:mod:`monitor.connections`).
- :func:`is_local_exhaustion` recognises an error of the operating system refusing
  Vigie a resource of its own (EMFILE, ENFILE…), however a probe wrapped it: such a
  failure says nothing about the target (see :data:`monitor.probe.LOCAL_RESOURCES`).

This module imports nothing from Vigie, so the probe contract can use it.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import socket

log = logging.getLogger(__name__)

#: errors of the OS running out of something local: descriptors (per process, system
#: wide), socket buffers, memory
LOCAL_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: getaddrinfo's "system error" (the resolver could not open its socket) and "out of
#: memory": local failures, not an unknown name
_LOCAL_GAI = frozenset(code for code in (getattr(socket, "EAI_SYSTEM", None),
                                         getattr(socket, "EAI_MEMORY", None))
                       if code is not None)
#: how far down an exception chain to look
_DEPTH = 6


def is_local_error(exc: BaseException) -> bool:
    """Whether ``exc`` itself is the OS refusing Vigie a local resource."""
    if isinstance(exc, socket.gaierror):
        return exc.errno in _LOCAL_GAI
    return isinstance(exc, OSError) and exc.errno in LOCAL_ERRNOS


def is_local_exhaustion(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an exception it wraps (aiohttp's ``os_error``, ``__cause__``,
    or the one being handled when it was raised), is the OS refusing a local resource."""
    seen = 0
    while exc is not None and seen < _DEPTH:
        seen += 1
        if is_local_error(exc):
            return True
        inner = getattr(exc, "os_error", None)  # aiohttp.ClientConnectorError
        if isinstance(inner, OSError) and inner is not exc and is_local_exhaustion(inner):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return ``(before, after)``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = _system_maximum()
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the file descriptor limit from %d to %d: %s", soft,
                        hard, exc)
            return soft, soft
        log.info("file descriptor limit raised from %d to %d", soft, hard)
        return soft, hard
    return soft, soft


def _system_maximum() -> int:
    """The most descriptors one process may have (Linux's fs.nr_open), for an unlimited
    hard limit."""
    try:
        with open("/proc/sys/fs/nr_open", encoding="ascii") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 1 << 20


_FD_DIRS = ("/proc/self/fd", "/dev/fd")


class Descriptors:
    """The process's open file descriptors and its limit.

    Counting lists ``/proc/self/fd`` (``/dev/fd`` elsewhere): about a millisecond with
    a thousand open, so callers count when it matters, not on every event.
    ``limit`` overrides the soft RLIMIT_NOFILE (a test gives a lower one).
    """

    def __init__(self, limit: int | None = None) -> None:
        self._limit = limit
        self._dir = next((d for d in _FD_DIRS if os.path.isdir(d)), None)

    @property
    def countable(self) -> bool:
        """Whether this system lets the process list its descriptors."""
        return self._dir is not None

    def limit(self) -> int:
        """The most descriptors the process may have open."""
        if self._limit is not None:
            return self._limit
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return _system_maximum() if soft == resource.RLIM_INFINITY else soft

    def open_count(self) -> int | None:
        """Descriptors open now (None when they cannot be listed here)."""
        if self._dir is None:
            return None
        try:
            # the listing's own descriptor is counted while it lists: take it off
            return len(os.listdir(self._dir)) - 1
        except OSError:  # EMFILE itself: nothing is free
            return self.limit()

    def free(self) -> int | None:
        """Descriptors the process may still open (None when unknown)."""
        used = self.open_count()
        return None if used is None else self.limit() - used
