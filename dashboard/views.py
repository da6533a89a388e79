"""What the status page shows, as plain frozen objects built once per snapshot.

The templates, the JSON API, the feed and the badges all read these; none of them touches
the database. Member-facing texts are :class:`~monitor.words.Bilingual` (French, and
English when given).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from monitor.incidents.rulepattern import Pattern
from monitor.probe import Status
from monitor.state import ServiceStatus
from monitor.status import worst
from monitor.words import Bilingual


@dataclass(frozen=True, slots=True)
class Html(Bilingual):
    """A text's safe HTML in French and (optionally) English, as stored when the text was
    saved (:func:`monitor.markup.render`): the pages insert it as is."""


@dataclass(frozen=True, slots=True)
class CheckView:
    """One check of a service: its confirmed status and the reason given for it."""

    key: str
    name: Bilingual
    kind: str
    status: Status | None
    since: float | None
    #: the members' words for the reason (:meth:`monitor.probe.Reason.for_public`)
    reason: Bilingual | None
    #: the probe's own sentence, for volunteers only (addresses, codes, counters): the
    #: admin API shows it, public places never do
    detail: Bilingual | None = None


#: one-letter classes of the bar segments, by the day's worst status (None: no data)
DAY_CLASSES = {
    ServiceStatus.OPERATIONAL: "o", ServiceStatus.DEGRADED: "g",
    ServiceStatus.PARTIAL_OUTAGE: "p", ServiceStatus.MAJOR_OUTAGE: "m",
    ServiceStatus.MAINTENANCE: "w", ServiceStatus.UNKNOWN: "u", None: "n",
}


@dataclass(frozen=True, slots=True)
class DayView:
    """One day of a service's 90-day bar."""

    day: date
    #: availability (monitor.availability); None when no time was counted (no data, or
    #: maintenance all day: then :attr:`worst` says which)
    uptime: float | None
    worst: ServiceStatus | None
    #: incidents touching that day
    incidents: int = 0

    @property
    def css(self) -> str:
        """Class of the segment (one letter: the page has 90 of them per service)."""
        return DAY_CLASSES[self.worst]


@dataclass(frozen=True, slots=True)
class ServiceView:
    """A service as members see it."""

    id: str
    name: Bilingual
    group: str | None
    description: Bilingual | None
    status: ServiceStatus
    since: float | None
    checks: tuple[CheckView, ...]
    days: tuple[DayView, ...]
    #: availability over the days of the bar (monitor.availability), weighted by the time
    #: observed each day
    uptime: float | None
    #: a maintenance window covers it right now
    in_maintenance: bool = False
    #: it announces maintenance itself, no window covering it (DetectedMaintenanceView)
    maintenance_detected: bool = False


@dataclass(frozen=True, slots=True)
class GroupView:
    """A group of services (services without a group form a group with id None)."""

    id: str | None
    name: Bilingual | None
    services: tuple[ServiceView, ...]

    @property
    def worst(self) -> ServiceStatus:
        """The worst status among the group's services (for a collapsed group's summary)."""
        return worst_status(s.status for s in self.services)


@dataclass(frozen=True, slots=True)
class UpdateView:
    """One public entry of an incident's timeline."""

    id: int
    at: float
    kind: str
    phase: str
    impact: str | None
    message: Bilingual
    message_html: Html = Html("")


@dataclass(frozen=True, slots=True)
class LinkView:
    """A public link a bridge attached to an incident (guide, forum thread)."""

    kind: str
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident with its public timeline and links."""

    id: int
    reference: str | None
    title: Bilingual
    impact: str
    worst_impact: str
    phase: str
    opened_at: float
    updated_at: float
    resolved_at: float | None
    service_ids: tuple[str, ...]
    updates: tuple[UpdateView, ...] = ()
    links: tuple[LinkView, ...] = ()
    postmortem: Bilingual | None = None
    postmortem_at: float | None = None
    postmortem_html: Html | None = None

    @property
    def is_open(self) -> bool:
        """Not resolved yet."""
        return self.resolved_at is None

    @property
    def latest(self) -> UpdateView | None:
        """The newest public update."""
        return self.updates[-1] if self.updates else None

    def duration(self, now: float) -> float:
        """Seconds from opening to resolution (or to ``now`` while open)."""
        return (self.resolved_at or now) - self.opened_at


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    """A maintenance window, by one of its occurrences: the running one, the next one, or
    the latest (a recurring window is shown once, with its rule in words)."""

    id: int
    title: Bilingual
    message: Bilingual
    starts_at: float
    ends_at: float
    #: None: every service
    service_ids: tuple[str, ...] | None
    recurring: bool = False
    message_html: Html = Html("")
    #: a recurring window's rule, to be put in words (dashboard.rulewords)
    rule: Pattern | None = None
    #: the time zone of the rule's times
    timezone: str | None = None

    def state(self, now: float) -> str:
        """``scheduled``, ``in_progress`` or ``completed`` (Statuspage's words)."""
        if now < self.starts_at:
            return "scheduled"
        return "in_progress" if now < self.ends_at else "completed"

    def covers(self, service_id: str) -> bool:
        """The window concerns this service."""
        return self.service_ids is None or service_id in self.service_ids


@dataclass(frozen=True, slots=True)
class DetectedMaintenanceView:
    """A service that announces maintenance itself (its checks report the
    ``maintenance`` status, as an application's status endpoint does) while no window
    covers it: Vigie knows since when it has seen it, never when it will end."""

    service_id: str
    #: when the service's status became maintenance
    since: float | None
    #: the checks announcing it
    checks: tuple[Bilingual, ...] = ()


@dataclass(frozen=True, slots=True)
class NoticeView:
    """An information message shown at the top of the page."""

    id: int
    level: str
    title: Bilingual
    text: Bilingual
    starts_at: float | None
    ends_at: float | None
    text_html: Html = Html("")


def worst_status(statuses) -> ServiceStatus:
    """The worst of ``statuses`` by the one order of :mod:`monitor.status` (operational
    when there is none)."""
    return worst(statuses, default=ServiceStatus.OPERATIONAL)


def overall(services: list[ServiceView]) -> str:
    """The overall status, Statuspage's way (the JSON API's ``vigie_banner`` and
    indicator, the status badge): ``major``, ``disturbed``, ``maintenance``,
    ``operational`` or ``unknown``.

    Any service in major outage makes a major outage; any other trouble, a disturbance;
    then maintenance; ``unknown`` only when no service has a known status. The page's
    banner says more, in a tone scaled to what is affected: :mod:`dashboard.banner`.
    """
    statuses = {s.status for s in services}
    if ServiceStatus.MAJOR_OUTAGE in statuses:
        return "major"
    if statuses & {ServiceStatus.PARTIAL_OUTAGE, ServiceStatus.DEGRADED}:
        return "disturbed"
    if ServiceStatus.MAINTENANCE in statuses:
        return "maintenance"
    if services and statuses == {ServiceStatus.UNKNOWN}:
        return "unknown"
    return "operational"


@dataclass(slots=True)
class PageData:
    """Everything the public pages show, as of one version of the database."""

    built_at: float
    groups: tuple[GroupView, ...]
    services: dict[str, ServiceView]
    open_incidents: tuple[IncidentView, ...]
    recent_incidents: tuple[IncidentView, ...]
    active_maintenance: tuple[MaintenanceView, ...]
    upcoming_maintenance: tuple[MaintenanceView, ...]
    past_maintenance: tuple[MaintenanceView, ...]
    notices: tuple[NoticeView, ...]
    #: services in maintenance that no window explains (they announce it themselves)
    detected_maintenance: tuple[DetectedMaintenanceView, ...] = ()
    banner: str = field(init=False)

    def __post_init__(self) -> None:
        self.banner = overall(list(self.services.values()))
