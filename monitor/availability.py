"""Availability: how much of a period members could use a service. Defined here, once.

Every figure Vigie gives (the status page's days and 90-day figure, the JSON API, the SVG
badges, the daily rollups, ``vigie_service_availability_ratio`` behind the Grafana
dashboard) is computed from :func:`weight`; the rule is written for people in
docs/dashboard.md ("What the figures mean").

- **operational** and **degraded** ("Ralenti") count as available: a slow service works;
- a **partial outage** counts :data:`PARTIAL_OUTAGE_WEIGHT` available (some of its checks
  fail, not all), the weight Statuspage gives it (a partial outage is 30 % of downtime);
- a **major outage** counts as unavailable;
- **maintenance** (a planned window, or a service announcing it) and an **unknown**
  status are left out of the count altogether: neither available nor not, the time is not
  *observed*. A day spent in maintenance has no figure, only its colour.

Availability over a period is ``available / observed`` seconds; periods add up by summing
both (so a figure over 90 days weighs each day by the time observed in it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.probe import Status
from monitor.state import ServiceStatus

#: share of a second in partial outage counted as available
PARTIAL_OUTAGE_WEIGHT = 0.7
#: version of this rule, stored with each daily service rollup: a row computed under an
#: older rule is computed again (monitor.store.rollups.refresh_outdated); 3: a day's worst
#: status by the one order of monitor.status (maintenance above unknown)
RULE = 3

_WEIGHTS: dict[ServiceStatus, float | None] = {
    ServiceStatus.OPERATIONAL: 1.0,
    ServiceStatus.DEGRADED: 1.0,
    ServiceStatus.PARTIAL_OUTAGE: PARTIAL_OUTAGE_WEIGHT,
    ServiceStatus.MAJOR_OUTAGE: 0.0,
    ServiceStatus.MAINTENANCE: None,
    ServiceStatus.UNKNOWN: None,
}
#: the same rule for one check's runs (a check has no partial outage)
_RUN_WEIGHTS: dict[Status, float | None] = {
    Status.UP: 1.0, Status.DEGRADED: 1.0, Status.DOWN: 0.0,
    Status.MAINTENANCE: None, Status.UNKNOWN: None,
}

def weight(status: ServiceStatus) -> float | None:
    """Share of each second in ``status`` counted as available; None: not counted."""
    return _WEIGHTS[status]


def run_weight(status: Status) -> float | None:
    """:func:`weight` for one run of a check."""
    return _RUN_WEIGHTS[status]


def worse(a: ServiceStatus | None, b: ServiceStatus | None) -> ServiceStatus | None:
    """The worse of two statuses by the one order (:mod:`monitor.status`; None: nothing
    known), which gives a day the colour of its worst moment."""
    if a is None or (b is not None and b > a):
        return b
    return a


@dataclass(frozen=True, slots=True)
class Tally:
    """A service over a period: seconds available and observed, and its worst status."""

    available: float
    observed: float
    worst: ServiceStatus | None

    @property
    def ratio(self) -> float | None:
        """Availability, 0 to 1; None when nothing was observed."""
        return self.available / self.observed if self.observed > 0 else None

    @classmethod
    def of(cls, ratio: float | None, observed: float, worst: ServiceStatus | None) -> Tally:
        """The tally of a stored day (its ratio and observed seconds)."""
        if ratio is None or not observed:
            return cls(0.0, 0.0, worst)
        return cls(ratio * observed, observed, worst)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.available + other.available, self.observed + other.observed,
                     worse(self.worst, other.worst))


NOTHING = Tally(0.0, 0.0, None)


def over_period(initial: ServiceStatus | None,
                changes: Iterable[tuple[float, ServiceStatus]],
                start: float, end: float) -> Tally:
    """A service's tally over ``[start, end)`` from its status changes.

    :param initial: the status in effect at ``start`` (None: none known yet, the time
        until the first change is not observed).
    :param changes: ``(at, new status)`` with ``start <= at < end``, in time order.
    """
    available = observed = 0.0
    worst: ServiceStatus | None = None
    current, since = initial, start
    for at, status in [*changes, (end, None)]:
        if current is not None:
            worst = worse(worst, current)
            share = _WEIGHTS[current]
            if share is not None:
                observed += at - since
                available += share * (at - since)
        current, since = status, at
    return Tally(available, observed, worst)


def combine(tallies: Iterable[Tally]) -> Tally:
    """Periods added up (availability weighted by observed time, the worst status)."""
    total = NOTHING
    for tally in tallies:
        total = total + tally
    return total
