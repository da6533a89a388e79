"""What side-effect plugins receive and return: incident, maintenance and system events.

These frozen dataclasses are the payload of the durable hooks (``vigie_incident_opened``
and the others): the outbox stores them as JSON (:func:`to_json` / ``from_json``) and the
worker hands them to each subscribed plugin, so a plugin sees exactly the same event after
a restart. Their texts are stored as ``<name>_fr``/``<name>_en`` fields, the JSON's shape;
a plugin reads each as one :class:`~monitor.words.Bilingual` (``event.title``,
``service.name``…). A plugin signals the outcome of a delivery by returning (links, or nothing) or
by raising :class:`RetryLater` or :class:`PermanentFailure`; any other exception is retried
with exponential backoff.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from monitor.probe import Reason, Status
from monitor.words import Bilingual, Words


class RetryLater(Exception):
    """The receiver asked to wait (HTTP 429 / 503 with ``Retry-After``): retry after
    ``seconds``, without counting it as a failure of the plugin."""

    def __init__(self, seconds: float, message: str = "") -> None:
        super().__init__(message or f"retry after {seconds:.0f}s")
        self.seconds = max(0.0, float(seconds))


class PermanentFailure(Exception):
    """The receiver refused the delivery for good (a 4xx validation error): dead-letter it
    at once with this message, which volunteers see in the admin area."""


@dataclass(frozen=True, slots=True)
class Link:
    """Something a plugin attached to an incident: a guide, a forum topic, a ticket…

    ``public`` links are shown on the status page; the others only to volunteers (a
    helpdesk ticket). ``external_id`` lets the same plugin find its object again (the
    ticket id, the topic id) on the next event.
    """

    kind: str
    title: str
    url: str
    public: bool = True
    external_id: str | None = None
    plugin: str = ""


@dataclass(frozen=True, slots=True)
class ServiceSnapshot:
    """A service as it was when the event was written."""

    id: str
    name_fr: str
    name_en: str
    group: str | None
    status: str

    @property
    def name(self) -> Bilingual:
        """The service's name."""
        return Bilingual(self.name_fr, self.name_en)


@dataclass(frozen=True, slots=True)
class CheckSnapshot:
    """A failing check and why, as it was when the event was written."""

    service_id: str
    check_id: str
    kind: str
    name_fr: str
    name_en: str
    status: str
    reason_fr: str
    reason_en: str
    since: float | None
    #: False when the reason quotes outside text (see :class:`monitor.probe.Reason`)
    reason_public: bool = True
    #: the reason's code (``connection.refused``…), which chooses the members' words
    reason_code: str = ""

    @property
    def name(self) -> Bilingual:
        """The check's name."""
        return Bilingual(self.name_fr, self.name_en)

    @property
    def reason(self) -> Bilingual:
        """The probe's sentence, for volunteers (alerts, tickets); empty (false) when the
        check gave no reason."""
        return Bilingual(self.reason_fr, self.reason_en)

    def public_reason(self) -> Bilingual:
        """The reason as public places (forum posts, incident updates) show it: the
        members' words for its code, never the volunteers' sentence (alerts and tickets
        show :attr:`reason`); empty (false) when the check gave no reason."""
        if not self.reason_fr:
            return Bilingual("")
        try:
            status: Status | None = Status[self.status.upper()]
        except KeyError:
            status = None
        why = Reason(self.reason_code, self.reason, self.reason_public)
        return why.for_public(status).words


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """An incident was opened, updated, resolved, or is still open (a reminder).

    ``idempotency_key`` is stable for one (incident, event, plugin) delivery: a receiver
    that honours keys, or a plugin that looks up before creating, never acts twice.
    ``links`` are every link attached so far (guides first); ``own_links`` those this
    plugin attached itself, to follow up on its own ticket or topic.
    """

    kind: str  # "opened" | "updated" | "resolved" | "reminder"
    idempotency_key: str
    incident_id: int
    reference: str
    title_fr: str
    title_en: str
    impact: str  # a ServiceStatus label: degraded, partial_outage, major_outage…
    phase: str  # investigating | identified | monitoring | resolved
    automatic: bool
    opened_at: float
    at: float
    resolved_at: float | None = None
    message_fr: str = ""
    message_en: str = ""
    services: tuple[ServiceSnapshot, ...] = ()
    checks: tuple[CheckSnapshot, ...] = ()
    links: tuple[Link, ...] = ()
    own_links: tuple[Link, ...] = ()
    incident_url: str | None = None
    status_page_url: str | None = None

    @property
    def title(self) -> Bilingual:
        """The title."""
        return Bilingual(self.title_fr, self.title_en)

    @property
    def message(self) -> Bilingual:
        """The message (empty, false, when there is none)."""
        return Bilingual(self.message_fr, self.message_en)


@dataclass(frozen=True, slots=True)
class MaintenanceEvent:
    """A maintenance window started or ended (or is announced ahead of time, or was
    cancelled before an occurrence announced)."""

    kind: str  # "announced" | "reminder" | "started" | "ended" | "cancelled"
    idempotency_key: str
    window_id: int
    title_fr: str
    title_en: str
    starts_at: float
    ends_at: float
    services: tuple[ServiceSnapshot, ...] = ()
    message_fr: str = ""
    message_en: str = ""
    status_page_url: str | None = None
    #: when the window was cancelled (a ``cancelled`` event; None for the others)
    cancelled_at: float | None = None

    @property
    def title(self) -> Bilingual:
        """The title."""
        return Bilingual(self.title_fr, self.title_en)

    @property
    def message(self) -> Bilingual:
        """The message (empty, false, when there is none)."""
        return Bilingual(self.message_fr, self.message_en)


#: the kinds of a :class:`MaintenanceEvent`, in the order they can happen to an occurrence
MAINTENANCE_KINDS = ("announced", "reminder", "started", "ended", "cancelled")
#: maintenance kinds written only for a plugin that asks for them (its ``accepts_event``
#: says yes, :meth:`monitor.incidents.context.IncidentContext.wants`): kinds added after
#: plugins were written, which a plugin of that time might word as something else
ASKED_FOR_KINDS = frozenset({"cancelled"})


@dataclass(frozen=True, slots=True)
class SystemAlert:
    """Vigie itself needs attention, or a check warns ahead of trouble.

    ``code`` is stable (``store.unreachable``, ``outbox.backlog``, ``plugin.failing``,
    ``tls.expiring``…); ``severity`` is ``info``, ``warning`` or ``critical``.
    """

    code: str
    idempotency_key: str
    severity: str
    title_fr: str
    title_en: str
    message_fr: str
    message_en: str
    at: float
    service_id: str | None = None
    details: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> Bilingual:
        """The title."""
        return Bilingual(self.title_fr, self.title_en)

    @property
    def message(self) -> Bilingual:
        """The message (empty, false, when there is none)."""
        return Bilingual(self.message_fr, self.message_en)

    @classmethod
    def worded(cls, code: str, idempotency_key: str, severity: str, title: Words | Bilingual,
               message: Words | Bilingual, at: float, **rest: Any) -> SystemAlert:
        """An alert whose title and message are catalogue words (:mod:`monitor.words`)
        or texts already in both languages, said in each: the one way Vigie writes its
        own alerts."""
        return cls(code, idempotency_key, severity, title.say("fr"), title.say("en"),
                   message.say("fr"), message.say("en"), at, **rest)


_TYPES = {cls.__name__: cls for cls in (IncidentEvent, MaintenanceEvent, SystemAlert)}
_NESTED = {"services": ServiceSnapshot, "checks": CheckSnapshot, "links": Link,
           "own_links": Link}


def to_json(event: IncidentEvent | MaintenanceEvent | SystemAlert) -> str:
    """Serialise an event for the outbox."""
    return json.dumps({"type": type(event).__name__, "data": dataclasses.asdict(event)},
                      ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> IncidentEvent | MaintenanceEvent | SystemAlert:
    """Rebuild an event written by :func:`to_json`."""
    raw: dict[str, Any] = json.loads(text)
    cls = _TYPES[raw["type"]]
    data = dict(raw["data"])
    for key, item_cls in _NESTED.items():
        if key in data and isinstance(data[key], list):
            data[key] = tuple(item_cls(**item) for item in data[key])
    return cls(**data)
