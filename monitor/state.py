"""Live state of checks and services: damping, derived service status, transitions.

Pure and synchronous: :class:`StateBook` takes results and maintenance changes and returns
the transitions they cause; the runtime turns those into hook calls, metrics and rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from monitor.config import Check, Service
from monitor.probe import LOCAL_RESOURCES, ProbeResult, Status
from monitor.status import ServiceStatus

#: the reason code of a run that could not judge its target because Vigie itself ran
#: short of a local resource (:data:`monitor.probe.LOCAL_RESOURCES`)
UNJUDGED = LOCAL_RESOURCES.code


def unjudged(result: ProbeResult) -> bool:
    """Whether ``result`` says nothing about its target (Vigie's own shortage)."""
    why = result.reason
    return why is not None and why.code == UNJUDGED


@dataclass(slots=True)
class CheckState:
    """One check's confirmed status and the streak that may change it."""

    check: Check
    #: confirmed status after damping; None until the first confirmed result
    status: Status | None = None
    #: Unix time the confirmed status began
    since: float | None = None
    #: last raw result
    last: ProbeResult | None = None
    #: consecutive raw results that disagree with a non-failing confirmed status
    failures: int = 0
    #: the service whose status counts this check (kept in step by :meth:`set_status`)
    owner: ServiceState | None = None

    @property
    def ref(self):
        """The check's :class:`monitor.probe.CheckRef`."""
        return self.check.ref

    @property
    def service_id(self) -> str:
        """Id of the service the check belongs to."""
        return self.check.ref.service_id

    @property
    def pending(self) -> bool:
        """A failure was seen but not yet confirmed: re-check at ``retry_interval``."""
        return self.failures > 0

    def next_delay(self) -> float:
        """Seconds until the next run of this check."""
        return self.check.retry_interval if self.pending else self.check.interval

    def record(self, result: ProbeResult) -> tuple[Status | None, Status] | None:
        """Apply one raw result; return ``(previous, current)`` when the confirmed status
        changes, else None.

        Up (and maintenance announced by the target) is taken at once; down, degraded and
        unknown need ``confirm`` consecutive non-up results, the last of which decides.
        An :func:`unjudged` run changes nothing, not even ``last``: it neither confirms
        nor clears a failure, and the reasons shown stay the target's.
        """
        raw = result.status
        if raw is not Status.UP and unjudged(result):  # (up: the fast path, no look)
            return None
        self.last = result
        if raw in (Status.UP, Status.MAINTENANCE) or self.check.confirm <= 1:
            self.failures = 0
            return self._become(raw, result.started_at)
        if self.status == raw:
            self.failures = 0
            return None
        self.failures += 1
        if self.failures >= self.check.confirm or self.status in (
                Status.DOWN, Status.DEGRADED, Status.UNKNOWN):
            # already failing: moving between failure kinds needs no new confirmation
            self.failures = 0
            return self._become(raw, result.started_at)
        return None

    def _become(self, status: Status, at: float) -> tuple[Status | None, Status] | None:
        if status == self.status:
            return None
        previous = self.status
        self.set_status(status, at)
        return previous, status

    def take_over(self, status: Status | None, since: float | None, failures: int) -> None:
        """Start from the hidden state another node left (cluster hand-over): the
        confirmed status and the failures already seen toward ``confirm``; no transition."""
        self.set_status(status, since)
        self.failures = max(0, failures)

    def set_status(self, status: Status | None, since: float | None) -> None:
        """Set the confirmed status, keeping the owning service's counts in step."""
        if self.owner is not None:
            self.owner.counts[self.status] -= 1
            self.owner.counts[status] += 1
        self.status, self.since = status, since


def derive_service_status(statuses: Iterable[Status | None], maintenance: bool) -> ServiceStatus:
    """A service's status from its checks' confirmed statuses.

    Maintenance (a window, or every judged check announcing it) wins; then all judged checks
    down → major outage, some down → partial outage, any degraded → degraded, all up →
    operational. Checks without a verdict (None, unknown) are left out; a service with no
    judged check is unknown.
    """
    if maintenance:
        return ServiceStatus.MAINTENANCE
    judged = [s for s in statuses if s is not None and s != Status.UNKNOWN]
    if not judged:
        return ServiceStatus.UNKNOWN
    if all(s == Status.MAINTENANCE for s in judged):
        return ServiceStatus.MAINTENANCE
    down = sum(1 for s in judged if s == Status.DOWN)
    if down == len(judged):
        return ServiceStatus.MAJOR_OUTAGE
    if down:
        return ServiceStatus.PARTIAL_OUTAGE
    if any(s == Status.DEGRADED for s in judged):
        return ServiceStatus.DEGRADED
    return ServiceStatus.OPERATIONAL


def derive_from_counts(counts: Counter, total: int, maintenance: bool) -> ServiceStatus:
    """:func:`derive_service_status` from the number of checks in each status."""
    if maintenance:
        return ServiceStatus.MAINTENANCE
    judged = total - counts[None] - counts[Status.UNKNOWN]
    if judged <= 0:
        return ServiceStatus.UNKNOWN
    if counts[Status.MAINTENANCE] == judged:
        return ServiceStatus.MAINTENANCE
    down = counts[Status.DOWN]
    if down == judged:
        return ServiceStatus.MAJOR_OUTAGE
    if down:
        return ServiceStatus.PARTIAL_OUTAGE
    if counts[Status.DEGRADED]:
        return ServiceStatus.DEGRADED
    return ServiceStatus.OPERATIONAL


@dataclass(slots=True)
class ServiceState:
    """One service's derived status and its checks' states."""

    service: Service
    checks: list[CheckState] = field(default_factory=list)
    status: ServiceStatus | None = None
    since: float | None = None
    #: a maintenance window is active for this service
    maintenance: bool = False
    #: how many of its checks are in each confirmed status (None: not judged yet), so a
    #: result costs O(1) however many checks the service has
    counts: Counter = field(default_factory=Counter)

    def add_check(self, check: CheckState) -> None:
        """Attach a check's state to this service."""
        check.owner = self
        self.checks.append(check)
        self.counts[check.status] += 1

    @property
    def id(self) -> str:
        """The service id."""
        return self.service.id

    def refresh(self, at: float) -> tuple[ServiceStatus | None, ServiceStatus] | None:
        """Re-derive the status; return ``(previous, current)`` when it changed."""
        current = derive_from_counts(self.counts, len(self.checks), self.maintenance)
        if current == self.status:
            return None
        previous, self.status, self.since = self.status, current, at
        return previous, current


@dataclass(frozen=True, slots=True)
class CheckTransition:
    """A check's confirmed status changed."""

    check: CheckState
    previous: Status | None
    current: Status
    result: ProbeResult


@dataclass(frozen=True, slots=True)
class ServiceTransition:
    """A service's derived status changed."""

    service: ServiceState
    previous: ServiceStatus | None
    current: ServiceStatus
    at: float


Transition = CheckTransition | ServiceTransition


class StateBook:
    """Every check's and service's live state, keyed by check key and service id."""

    def __init__(self, services: Iterable[Service]) -> None:
        self.services: dict[str, ServiceState] = {}
        self.checks: dict[str, CheckState] = {}
        for service in services:
            state = ServiceState(service)
            for check in service.checks:
                if not check.enabled:
                    continue
                check_state = CheckState(check)
                state.add_check(check_state)
                self.checks[check.key] = check_state
            self.services[service.id] = state

    def restore(self, check_key: str, status: Status, since: float) -> None:
        """Seed a check's confirmed status from the store at start (no transition fired)."""
        state = self.checks.get(check_key)
        if state is not None:
            state.set_status(status, since)

    def restore_services(self, at: float) -> None:
        """Derive service statuses after :meth:`restore`, firing nothing."""
        for service in self.services.values():
            service.refresh(at)

    def apply(self, check_key: str, result: ProbeResult) -> list[Transition]:
        """Record a raw result; return the check and service transitions it causes."""
        state = self.checks[check_key]
        changed = state.record(result)
        if changed is None:
            return []
        out: list[Transition] = [CheckTransition(state, changed[0], changed[1], result)]
        service = self.services[state.service_id]
        service_changed = service.refresh(result.started_at)
        if service_changed is not None:
            out.append(ServiceTransition(service, *service_changed, result.started_at))
        return out

    def apply_change(self, check_key: str, result: ProbeResult) -> list[Transition]:
        """Take a check's confirmed status as another node confirmed it (a cluster's
        leader following the feed): ``result``'s status becomes the check's at once, no
        damping; return the check and service transitions it causes (none when the check
        already has that status, so applying a change twice changes nothing)."""
        state = self.checks.get(check_key)
        if state is None or state.status == result.status:
            return []
        previous = state.status
        state.set_status(result.status, result.started_at)
        state.last = result
        state.failures = 0
        out: list[Transition] = [CheckTransition(state, previous, result.status, result)]
        service = self.services[state.service_id]
        changed = service.refresh(result.started_at)
        if changed is not None:
            out.append(ServiceTransition(service, *changed, result.started_at))
        return out

    def set_maintenance(self, service_id: str, active: bool, at: float) -> list[Transition]:
        """Start or end a maintenance window for a service; return the transition, if any."""
        service = self.services[service_id]
        if service.maintenance == active:
            return []
        service.maintenance = active
        changed = service.refresh(at)
        return [ServiceTransition(service, *changed, at)] if changed else []
