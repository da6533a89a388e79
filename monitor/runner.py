"""Running one check once: the hard deadline and the mapping of every outcome to a result.

:func:`run_check` is the hot path of the scheduler: it never raises (except
:class:`asyncio.CancelledError` when its caller is cancelled), so a buggy probe or an
unexpected network error can only ever produce a ``down`` or ``unknown`` result.

Every result then crosses :func:`clean_result`, the one boundary between what probes
report and the rest of Vigie (also for push checks, see ``Runtime.submit_result``): the
text a target sent (a banner, a version, a job's message) may hold NUL bytes, control
characters or megabytes, and leaves here made safe by :mod:`monitor.safetext`.

Network errors a probe lets escape (refused connection, unknown host, TLS failure…) are
turned into ``down`` results with a plain reason, so every probe kind gets them right
without writing the same ``except`` clauses. Any other exception is a bug in the probe:
the result is ``unknown`` with a generic reason (never the exception text, which may hold
a URL with a password), and the exception is logged once, not on every run, its traceback
with the credentials it quotes hidden.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import time
import traceback
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import aiohttp

from monitor.config import Check
from monitor.deadline import deadline
from monitor.probe import (
    LOCAL_RESOURCES,
    CheckRef,
    Probe,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Reason,
    Status,
    reason,
)
from monitor.resources import is_local_error
from monitor.safetext import clean_line
from monitor.schema import redact
from monitor.words import Bilingual, Number, _

log = logging.getLogger(__name__)


class ProbeErrorLog:
    """Which unexpected exception type was last logged for each check, so that a
    recurring probe bug is logged once per episode, not per run. The scheduler owns one
    (so the runtime does); a one-off run gets its own."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        #: check key → name of the exception type last logged; cleared by a clean run
        self._last: dict[str, str] = {}

    def clear(self, check_key: str) -> None:
        """The check ran cleanly: the next failure is a new episode."""
        if self._last:
            self._last.pop(check_key, None)

    def first(self, check_key: str, name: str) -> bool:
        """Whether ``name`` is new for this check (then it is remembered)."""
        if self._last.get(check_key) == name:
            return False
        self._last[check_key] = name
        return True

PROBE_ERROR = reason("probe.error", _("The probe could not judge (internal error)"))
BAD_RESULT = reason("probe.error", _("The probe returned no result"))
LATE_TIMEOUT = reason("timeout", _("No answer in time"))
REFUSED = reason("connection.refused", _("Connection refused"))
RESET = reason("connection.reset", _("Connection reset by the server"))
CLOSED = reason("connection.closed", _("The server closed the connection without answering"))
UNREACHABLE = reason("connection.unreachable", _("Server unreachable (network)"))
CONNECT_FAILED = reason("connection.error", _("Could not connect"))
DNS_FAILED = reason("dns.error", _("Domain name not found (DNS)"))
TLS_FAILED = reason("tls.error", _("Encrypted connection failed (TLS)"))
BAD_HTTP = reason("http.protocol", _("Invalid HTTP response"))

#: longest reason code kept (the store's column)
CODE_LIMIT = 100
#: longest reason sentence kept, per language (the store's column)
REASON_LIMIT = 500
#: longest sample name, sample label value or info key kept
NAME_LIMIT = 120
#: longest info value kept (a version, a certificate subject…)
INFO_LIMIT = 200

_UNREACHABLE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN")
    if hasattr(errno, name)
)


#: most seconds of a check's timeout the runner keeps for itself (see :func:`probe_budget`)
MARGIN = 0.5
#: largest share of a check's timeout the runner keeps for itself
MARGIN_SHARE = 0.1


def probe_budget(timeout: float) -> float:
    """Seconds of a check's ``timeout`` its probe gets: the one rule for every probe kind.

    The runner keeps a margin of a tenth of the timeout, at most half a second, between
    the probe's deadline and its own hard one: the probe's own timeout fires first and
    says what it was waiting for; the runner's fires only for a probe that overran it.
    """
    return timeout - min(MARGIN, timeout * MARGIN_SHARE)


def probe_context(check: CheckRef, timeout: float, http: aiohttp.ClientSession,
                  clock: Callable[[], float] = time.monotonic) -> ProbeContext:
    """The context of one run starting now (by ``clock``): its deadline
    :func:`probe_budget` seconds away. Tests pass a manual clock to control
    :meth:`ProbeContext.remaining`."""
    return ProbeContext(check, timeout, http, clock() + probe_budget(timeout), clock)


@lru_cache(maxsize=256)
def timeout_reason(seconds: float) -> Reason:
    """The reason of a run cut at its deadline: ``No answer within 10 s``."""
    return reason("timeout", _("No answer within {s} s", s=Number(seconds)))


async def run_check(check: Check, probe: Probe, http: aiohttp.ClientSession,
                    errors: ProbeErrorLog | None = None,
                    clock: Callable[[], float] = time.monotonic) -> ProbeResult:
    """Run ``check`` once with ``probe`` under its hard deadline; always return a result.

    ``started_at`` (Unix time) and ``duration`` (seconds, monotonic) are set here. A run
    still going at ``check.timeout`` is cancelled (so its sockets are closed by the probe's
    own cleanup) and reported ``down``. :class:`ProbeFailed` keeps its status, reason,
    samples and info; network errors become ``down`` (``unknown`` when the error is Vigie's
    own shortage of a local resource); anything else ``unknown``, logged once per episode
    as ``errors`` remembers (the scheduler's; default: this run's own). The probe gets
    its deadline in its :class:`ProbeContext`, read on ``clock`` (see :func:`probe_context`).
    """
    if errors is None:
        errors = ProbeErrorLog()
    ctx = probe_context(check.ref, check.timeout, http, clock)
    started_at = time.time()
    start = time.perf_counter()
    run_deadline = deadline(check.timeout)  # asyncio.timeout's semantics, cheaper
    try:
        async with run_deadline:
            result = await probe.check(check.options, ctx)
        if not isinstance(result, ProbeResult):
            result = _unexpected(check, TypeError(f"check() returned {type(result).__name__}"),
                                 BAD_RESULT, errors)
        else:
            errors.clear(check.key)
    except ProbeFailed as exc:
        result = ProbeResult(exc.status, exc.reason, exc.samples, exc.info)
        errors.clear(check.key)
    except TimeoutError:
        # our own deadline, or a socket timeout the probe let escape (aiohttp's
        # ServerTimeoutError is a TimeoutError too): both mean the target did not answer
        why = timeout_reason(check.timeout) if run_deadline.expired() else LATE_TIMEOUT
        result = ProbeResult(Status.DOWN, why)
    except Exception as exc:  # noqa: BLE001 - a probe must never kill the scheduler
        if run_deadline.expired():
            # cut at the deadline, but the probe's cleanup raised something else
            result = ProbeResult(Status.DOWN, timeout_reason(check.timeout))
        elif (known := network_reason(exc)) is not None:
            # Vigie short of a descriptor or memory says nothing about the target
            status = Status.UNKNOWN if known is LOCAL_RESOURCES else Status.DOWN
            result = ProbeResult(status, known)
        else:
            result = _unexpected(check, exc, PROBE_ERROR, errors)
    try:
        result = clean_result(result)
    except TypeError as exc:
        result = _unexpected(check, exc, BAD_RESULT, errors)
    result.started_at = started_at
    result.duration = time.perf_counter() - start
    return result


def clean_result(result: ProbeResult) -> ProbeResult:
    """``result`` made safe for the store, the incident engine, alerts and pages; the one
    boundary every result crosses, from a built-in or a third-party probe.

    The reason's code and sentences, the info keys and values, the sample names and label
    values go through :func:`monitor.safetext.clean_line` (control and bidirectional
    characters removed, length capped); a reason that needed cleaning quoted outside text,
    so it is kept for volunteers (``public=False``). Sample values stay as given (the store
    keeps the finite numbers). A clean result comes back unchanged, without a copy;
    otherwise its fields are replaced (the mappings it was given are never changed).

    :raises TypeError: the result does not have the shape of a :class:`ProbeResult` (a
        status that is not a :class:`Status`, a reason that is not a :class:`Reason`,
        samples or info that are not mappings): a bug in the probe.
    """
    if not isinstance(result, ProbeResult):
        raise TypeError(f"expected a ProbeResult, got {type(result).__name__}")
    if type(result.status) is not Status:
        if isinstance(result.status, bool) or not isinstance(result.status, int):
            raise TypeError(f"status must be a Status, got {result.status!r}")
        try:
            result.status = Status(result.status)
        except ValueError:
            raise TypeError(f"status must be a Status, got {result.status!r}") from None
    why = result.reason
    if why is not None:
        if not isinstance(why, Reason):
            raise TypeError(f"reason must be a Reason or None, got {type(why).__name__}")
        result.reason = _clean_reason(why)
    if result.samples:
        result.samples = _clean_samples(_mapping(result.samples))
    if result.info:
        result.info = _clean_info(_mapping(result.info))
    return result


def _mapping(value: Any) -> Mapping[Any, Any]:
    if isinstance(value, (dict, Mapping)):
        return value
    raise TypeError(f"samples and info must be mappings, got {type(value).__name__}")


def _clean_reason(why: Reason) -> Reason:
    code = clean_line(why.code, CODE_LIMIT)
    fr = clean_line(why.fr, REASON_LIMIT)
    en = clean_line(why.en, REASON_LIMIT)
    if code == why.code and fr == why.fr and en == why.en:
        return why
    return Reason(code, Bilingual(fr, en), public=False)


def _name(value: object) -> str:
    # names repeat on every run of a check: remember the short ones (a few hundred)
    if type(value) is str and len(value) <= NAME_LIMIT:
        return _short_name(value)
    return clean_line(value, NAME_LIMIT)


@lru_cache(maxsize=1024)
def _short_name(value: str) -> str:
    return clean_line(value, NAME_LIMIT)


def _clean_samples(samples: Mapping[Any, Any]) -> Mapping[Any, Any]:
    for name, value in samples.items():
        if _name(name) != name or (isinstance(value, dict) and _unclean_labels(value)):
            break
    else:  # the usual case, every name and label already clean: nothing allocated
        return samples
    return {_name(name): ({_name(label): number for label, number in value.items()}
                          if isinstance(value, dict) else value)
            for name, value in samples.items()}


def _unclean_labels(labels: dict[Any, Any]) -> bool:
    return any(_name(label) != label for label in labels)


def _clean_info(info: Mapping[Any, Any]) -> Mapping[Any, Any]:
    out = {_name(key): clean_line(value, INFO_LIMIT) for key, value in info.items()}
    return info if out == info else out


def network_reason(exc: BaseException) -> Reason | None:
    """A plain reason for a common network failure, or None when ``exc`` is not one.

    Looks inside aiohttp's connector errors (``os_error``) and one level of ``__cause__``.
    Vigie's own shortage of a local resource (too many open files…) is
    :data:`~monitor.probe.LOCAL_RESOURCES`, which the state machine does not count
    against the target.
    """
    inner = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else None
    for candidate in (inner, exc, exc.__cause__):
        if candidate is not None:
            found = _classify(candidate)
            if found is not None:
                return found
    if isinstance(exc, (ConnectionError, aiohttp.ClientConnectionError)):
        return CONNECT_FAILED
    return None


def _classify(exc: BaseException) -> Reason | None:
    # order matters: aiohttp's TLS errors are also connector errors, DNS errors OSErrors;
    # Vigie's own shortage first, whatever operation it struck
    if is_local_error(exc):
        return LOCAL_RESOURCES
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", None)
        if detail:
            # OpenSSL's fixed vocabulary ("certificate has expired"): safe and useful
            return reason("tls.verify", _("TLS certificate rejected ({detail})", detail=detail))
        return reason("tls.verify", _("TLS certificate rejected"))
    if isinstance(exc, (ssl.SSLError, aiohttp.ClientSSLError)):
        return TLS_FAILED
    if isinstance(exc, (socket.gaierror, aiohttp.ClientConnectorDNSError)):
        return DNS_FAILED
    if isinstance(exc, ConnectionRefusedError):
        return REFUSED
    if isinstance(exc, ConnectionResetError):
        return RESET
    if isinstance(exc, (aiohttp.ServerDisconnectedError, BrokenPipeError,
                        ConnectionAbortedError, asyncio.IncompleteReadError)):
        return CLOSED
    if isinstance(exc, aiohttp.ClientResponseError) and exc.status >= 400:
        return reason("http.status", _("HTTP status {got}", got=exc.status))
    if isinstance(exc, (aiohttp.ClientResponseError, aiohttp.ClientPayloadError)):
        return BAD_HTTP
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return UNREACHABLE
    return None


def _unexpected(check: Check, exc: BaseException, why: Reason,
                errors: ProbeErrorLog) -> ProbeResult:
    """UNKNOWN for a probe bug; log it once per check and exception type."""
    name = type(exc).__name__
    if errors.first(check.key, name):
        # no exc_info: the handlers would print the exception's own text, which may hold a
        # URL with its password; the traceback goes in the message, credentials hidden
        log.error("check %s (kind %s): the probe failed with %s; reporting 'unknown' "
                  "(logged once until the check runs cleanly again)\n%s",
                  check.key, check.ref.kind, name, _redacted_traceback(exc))
    return ProbeResult(Status.UNKNOWN, why)


def _redacted_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` (chained exceptions included) as the logging module would
    print it, with the credentials it quotes hidden (see :func:`monitor.schema.redact`)."""
    return redact("".join(traceback.format_exception(exc)).rstrip("\n"))
