"""Tables for incidents, maintenance windows, notices and the durable outbox.

They live on the store's :class:`monitor.store.models.Base` (same naming convention, same
conventions: times are Unix epoch seconds in doubles, service ids are the config's ids).
Migration ``0002_incidents`` creates them; a test fails when models and migration disagree.

Vocabulary stored as short strings (readable in SQL, stable in the JSON API):

- impact: a :class:`monitor.state.ServiceStatus` label (``degraded``, ``partial_outage``,
  ``major_outage``);
- phase: ``investigating``, ``identified``, ``monitoring``, ``resolved`` (as Statuspage);
- notice level: ``info``, ``warning``;
- outbox status: ``pending``, ``delivered``, ``dead``.

Texts volunteers write in Markdown (update messages, post-mortems, maintenance messages,
notices) are stored with their safe HTML, in a ``*_html`` column beside each: setting the
text renders it (:func:`monitor.markup.render`, in bounded time), so pages only read HTML
and never run the renderer. A row written without it (by another program, or when the
migration ran offline) has a NULL ``*_html``; readers then show the text escaped
(:func:`monitor.markup.stored`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from monitor import markup
from monitor.status import SERVICE_ORDER
from monitor.store.models import ID_LENGTH, NAME_LENGTH, Base, BigId
from monitor.weblinks import URL_LENGTH

PHASES = ("investigating", "identified", "monitoring", "resolved")
#: the impacts an incident can have, mildest first (the outage statuses, in the one order)
IMPACTS = tuple(s.label for s in SERVICE_ORDER if s.is_outage)
NOTICE_LEVELS = ("info", "warning")
OUTBOX_STATUSES = ("pending", "delivered", "dead")

#: longest title of an incident, a window or a notice
TITLE_LENGTH = NAME_LENGTH


class RendersMarkdown:
    """For the models' validators: a Markdown column, when set, renders into its
    ``<name>_html`` column (None stays None)."""

    def _render(self, key: str, value: str | None) -> str | None:
        setattr(self, f"{key}_html", None if value is None else markup.render(value))
        return value


class Incident(RendersMarkdown, Base):
    """Something members are told is wrong with one or more services.

    ``reference`` (``INC-2026-0042``) is stable and human: mail subjects and tickets use it.
    An automatic incident follows its service (impact = current status while open,
    ``worst_impact`` the worst seen); a volunteer who sets the impact by hand takes it
    over (``impact_manual``) and later status changes only add timeline entries.
    """

    __tablename__ = "incidents"
    __table_args__ = (Index(None, "resolved_at"), Index(None, "opened_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    title_fr: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    title_en: Mapped[str | None] = mapped_column(String(TITLE_LENGTH))
    impact: Mapped[str] = mapped_column(String(20))
    worst_impact: Mapped[str] = mapped_column(String(20))
    impact_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    phase: Mapped[str] = mapped_column(String(20))
    #: opened by the engine (True) or by a volunteer (False)
    automatic: Mapped[bool] = mapped_column(Boolean)
    opened_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    resolved_at: Mapped[float | None] = mapped_column(Double)
    #: the service came back at this time; resolved once it stays so for the quiet period
    recovered_at: Mapped[float | None] = mapped_column(Double)
    #: last event or reminder sent to plugins (reminders count from here)
    last_notified_at: Mapped[float | None] = mapped_column(Double)
    #: number of events written so far: part of each delivery's idempotency key
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    postmortem_fr: Mapped[str | None] = mapped_column(Text)
    postmortem_en: Mapped[str | None] = mapped_column(Text)
    postmortem_at: Mapped[float | None] = mapped_column(Double)
    postmortem_fr_html: Mapped[str | None] = mapped_column(Text)
    postmortem_en_html: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))

    services: Mapped[list[IncidentService]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", lazy="selectin")
    updates: Mapped[list[IncidentUpdate]] = relationship(
        back_populates="incident", cascade="all, delete-orphan",
        order_by="IncidentUpdate.id")
    links: Mapped[list[IncidentLink]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentLink.id")

    @validates("postmortem_fr", "postmortem_en")
    def _markdown(self, key: str, value: str | None) -> str | None:
        return self._render(key, value)

    @property
    def service_ids(self) -> list[str]:
        """Ids of the services the incident concerns."""
        return [s.service_id for s in self.services]

    @property
    def is_open(self) -> bool:
        """Not resolved yet."""
        return self.resolved_at is None


class IncidentService(Base):
    """A service an incident concerns."""

    __tablename__ = "incident_services"
    __table_args__ = (Index(None, "service_id"),)

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), primary_key=True)

    incident: Mapped[Incident] = relationship(back_populates="services")


class IncidentUpdate(RendersMarkdown, Base):
    """One entry of an incident's timeline.

    ``kind`` says what happened: ``opened``, ``status`` (the service's status changed),
    ``recovered``, ``reopened``, ``update`` (a volunteer's message), ``impact``,
    ``resolved``, ``postmortem``. Only ``public`` entries are shown to members.
    """

    __tablename__ = "incident_updates"
    __table_args__ = (Index(None, "incident_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[float] = mapped_column(Double)
    kind: Mapped[str] = mapped_column(String(20))
    phase: Mapped[str] = mapped_column(String(20))
    impact: Mapped[str | None] = mapped_column(String(20))
    message_fr: Mapped[str] = mapped_column(Text, default="")
    message_en: Mapped[str | None] = mapped_column(Text)
    message_fr_html: Mapped[str | None] = mapped_column(Text)
    message_en_html: Mapped[str | None] = mapped_column(Text)
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    author: Mapped[str | None] = mapped_column(String(NAME_LENGTH))

    incident: Mapped[Incident] = relationship(back_populates="updates")

    @validates("message_fr", "message_en")
    def _markdown(self, key: str, value: str | None) -> str | None:
        return self._render(key, value)


class IncidentLink(Base):
    """A link a plugin attached to an incident (guide, forum topic, ticket…).

    The core stores it without knowing what it is; ``public`` ones are shown to members.
    """

    __tablename__ = "incident_links"
    __table_args__ = (UniqueConstraint("incident_id", "plugin", "url"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    plugin: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Double)

    incident: Mapped[Incident] = relationship(back_populates="links")


class MaintenanceWindow(RendersMarkdown, Base):
    """A planned maintenance: one-off (``starts_at``/``ends_at``) or recurring (``rule``).

    ``rule`` is ``RRULE:…`` (RFC 5545, evaluated in ``timezone`` wall-clock time, the
    first occurrence not before ``starts_at`` when set) or ``CRON:m h dom mon dow``; each
    occurrence lasts ``duration`` seconds of wall-clock time. Scope: ``all_services``, or
    ``group_id``, or the ids in ``service_ids``. Windows from the configuration file carry
    their ``config_id`` and are re-synced at start; the others are created at run time.
    """

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    config_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), unique=True)
    title_fr: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    title_en: Mapped[str | None] = mapped_column(String(TITLE_LENGTH))
    message_fr: Mapped[str] = mapped_column(Text, default="")
    message_en: Mapped[str | None] = mapped_column(Text)
    message_fr_html: Mapped[str | None] = mapped_column(Text)
    message_en_html: Mapped[str | None] = mapped_column(Text)
    all_services: Mapped[bool] = mapped_column(Boolean, default=False)
    group_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    service_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[float | None] = mapped_column(Double)
    ends_at: Mapped[float | None] = mapped_column(Double)
    rule: Mapped[str | None] = mapped_column(String(500))
    duration: Mapped[float | None] = mapped_column(Double)
    timezone: Mapped[str] = mapped_column(String(64))
    #: seconds ahead of each occurrence when an "announced" event is sent (None: never)
    announce_before: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    cancelled_at: Mapped[float | None] = mapped_column(Double)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))

    @validates("message_fr", "message_en")
    def _markdown(self, key: str, value: str | None) -> str | None:
        return self._render(key, value)

    @property
    def recurring(self) -> bool:
        """Has a recurrence rule."""
        return self.rule is not None


class Notice(RendersMarkdown, Base):
    """An information message on the status page (info or warning), optionally bounded
    in time."""

    __tablename__ = "notices"
    __table_args__ = (Index(None, "ends_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    level: Mapped[str] = mapped_column(String(10), default="info")
    title_fr: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    title_en: Mapped[str | None] = mapped_column(String(TITLE_LENGTH))
    text_fr: Mapped[str] = mapped_column(Text, default="")
    text_en: Mapped[str | None] = mapped_column(Text)
    text_fr_html: Mapped[str | None] = mapped_column(Text)
    text_en_html: Mapped[str | None] = mapped_column(Text)
    #: None: shown from creation
    starts_at: Mapped[float | None] = mapped_column(Double)
    #: None: shown until ended by hand
    ends_at: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))

    @validates("text_fr", "text_en")
    def _markdown(self, key: str, value: str | None) -> str | None:
        return self._render(key, value)


class OutboxEntry(Base):
    """One side effect to deliver to one plugin: a hook call with a JSON payload.

    Written in the same transaction as the change that causes it. ``stream`` groups the
    entries that must reach a plugin in order (``incident:42``): an entry waits while an
    earlier *pending* entry of the same plugin and stream exists (a dead one does not
    block). ``idempotency_key`` is unique: writing the same event twice stores it once.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "plugin", "stream", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    hook: Mapped[str] = mapped_column(String(100))
    plugin: Mapped[str] = mapped_column(String(100))
    stream: Mapped[str] = mapped_column(String(100))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Double)
    next_attempt_at: Mapped[float] = mapped_column(Double)
    last_attempt_at: Mapped[float | None] = mapped_column(Double)
    delivered_at: Mapped[float | None] = mapped_column(Double)
    last_error: Mapped[str | None] = mapped_column(String(1000))


__all__ = [
    "IMPACTS", "NOTICE_LEVELS", "OUTBOX_STATUSES", "PHASES",
    "Incident", "IncidentLink", "IncidentService", "IncidentUpdate",
    "MaintenanceWindow", "Notice", "OutboxEntry",
]
