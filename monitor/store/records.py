"""What the store is asked to write: results and status changes, as plain frozen values.

They are built on the event loop (cheap, no database access) and handed to the writer
thread, so they hold only immutable data copied from the probe result or transition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from monitor.probe import ProbeResult, Reason, Status
from monitor.state import CheckTransition, ServiceStatus, ServiceTransition


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """One run of one check, ready to be stored.

    ``(check_key, started_at)`` is its natural key: writing the same record twice stores
    it once.
    """

    check_key: str
    started_at: float
    status: Status
    duration: float
    reason: Reason | None = None
    samples: dict[str, Any] | None = None

    @classmethod
    def from_result(cls, check_key: str, result: ProbeResult) -> ResultRecord:
        """The record of ``result`` for the check ``check_key``."""
        return cls(
            check_key=check_key,
            started_at=result.started_at,
            status=Status(result.status),
            duration=result.duration,
            reason=result.reason,
            samples=clean_samples(result.samples),
        )


@dataclass(frozen=True, slots=True)
class OwnLocationRecord:
    """One run of a check run from several locations by the server itself, at its own
    location: a row of ``location_results`` without token or seq (an agent's rows are
    written by the agents' endpoint). ``(check_key, location, started_at)`` is its
    natural key: writing it twice stores it once."""

    check_key: str
    location: str
    started_at: float
    status: Status
    duration: float
    reason: Reason | None = None
    samples: dict[str, Any] | None = None

    @classmethod
    def from_result(cls, check_key: str, location: str, result: ProbeResult
                    ) -> OwnLocationRecord:
        """The record of the server's own run ``result`` of ``check_key`` at
        ``location``."""
        return cls(check_key, location, result.started_at, Status(result.status),
                   result.duration, result.reason, clean_samples(result.samples))


@dataclass(frozen=True, slots=True)
class CheckChange:
    """A check's confirmed status changed at ``at``."""

    check_key: str
    at: float
    previous: Status | None
    current: Status
    reason: Reason | None = None

    @classmethod
    def from_transition(cls, transition: CheckTransition) -> CheckChange:
        """The record of a state-machine transition (its result gives time and reason)."""
        return cls(transition.check.check.key, transition.result.started_at,
                   transition.previous, transition.current, transition.result.reason)


@dataclass(frozen=True, slots=True)
class ServiceChange:
    """A service's derived status changed at ``at``."""

    service_id: str
    at: float
    previous: ServiceStatus | None
    current: ServiceStatus
    reason: Reason | None = None

    @classmethod
    def from_transition(cls, transition: ServiceTransition,
                        reason: Reason | None = None) -> ServiceChange:
        """The record of a state-machine transition; ``reason`` is optional context."""
        return cls(transition.service.id, transition.at, transition.previous,
                   transition.current, reason)


Change = CheckChange | ServiceChange


@dataclass(frozen=True, slots=True)
class CheckStateRecord:
    """A check's hidden state after the run started at ``at`` (cluster mode): what the
    node taking the check over starts from (see :mod:`monitor.cluster.models`)."""

    check_key: str
    status: Status | None
    since: float | None
    failures: int
    at: float


@dataclass(frozen=True, slots=True)
class FeedTransition:
    """A check's confirmed status changed on the node that runs it (cluster mode): what
    the leader follows (see :mod:`monitor.cluster.feed`)."""

    check_key: str
    previous: Status | None
    #: since when ``previous`` held
    previous_since: float | None
    current: Status
    #: the run that confirmed it: its start, its duration, its reason
    at: float
    duration: float
    reason: Reason | None
    #: the node that ran it
    node: str

    @classmethod
    def from_transition(cls, transition: CheckTransition, previous_since: float | None,
                        node: str) -> FeedTransition:
        """The feed's record of a transition of the owner's book."""
        result = transition.result
        return cls(transition.check.check.key, transition.previous, previous_since,
                   transition.current, result.started_at, result.duration, result.reason,
                   node)


@dataclass(frozen=True, slots=True)
class StoredCheckState:
    """A check's hidden state as the database holds it, with the start of its last run
    stored (None: never run)."""

    status: Status | None
    since: float | None
    failures: int
    last_run: float | None


def clean_samples(samples: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-safe copy of ``samples``: non-finite numbers left out, None when empty.

    PostgreSQL refuses NaN and infinities in JSON; a probe reporting one must not make a
    whole batch fail.
    """
    if not samples:
        return None
    out: dict[str, Any] = {}
    for name, value in samples.items():
        if isinstance(value, dict):
            inner = {str(k): float(v) for k, v in value.items() if _finite(v)}
            if inner:
                out[str(name)] = inner
        elif _finite(value):
            out[str(name)] = float(value)
    return out or None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)
