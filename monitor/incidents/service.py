"""What volunteers do: incidents by hand, updates, impact, post-mortems, maintenance
windows, notices, and retrying a dead outbox entry.

The admin forms, the JSON API and the CLI call these methods. Each takes an ORM
:class:`~sqlalchemy.orm.Session`, validates its input, changes rows and writes the outbox
rows of the events it causes, all in that session's transaction; **the caller commits**::

    ops = Operations(IncidentContext.build(config, pm))
    with store.session() as session, session.begin():
        incident = ops.open_incident(session, services=["mail"], title_fr="Lenteurs",
                                     message_fr="Nous regardons.", author="camille")

A bad value raises :class:`~monitor.incidents.inputs.InvalidInput` with the field and a
message from the catalogues, said in the reader's language next to the form field or in the
API's answer; an unknown id raises :class:`~monitor.incidents.inputs.NotFound` (a
subclass). Nothing else is raised for a user mistake.

Each operation is declared with :func:`monitor.guard.operation`: it takes an ``actor``
keyword (who acts; Vigie itself when left out), is refused with
:class:`monitor.access.Forbidden` when the actor's role does not allow it, records
the actor as the author when ``author`` is not given, and appends the change (before and
after) to the audit log in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.access import Permission
from monitor.guard import operation
from monitor import terms
from monitor.incidents import lifecycle
from monitor.incidents.context import IncidentContext
from monitor.incidents.emit import emit_incident
from monitor.incidents.inputs import (
    MESSAGE_MAX,
    TITLE_MAX,
    InvalidInput,
    NotFound,
    choice_field,
    date_field,
    known_services,
    text_field,
)
from monitor.incidents.maintenance_ops import MaintenanceOperations
from monitor.incidents.models import (
    IMPACTS,
    NOTICE_LEVELS,
    PHASES,
    Incident,
    IncidentUpdate,
    Notice,
    OutboxEntry,
)
from monitor.words import _, n_


class Operations(MaintenanceOperations):
    """The volunteers' operations, bound to one :class:`IncidentContext` (those on
    maintenance windows come from :class:`MaintenanceOperations`)."""

    def __init__(self, ctx: IncidentContext) -> None:
        self.ctx = ctx

    # Incidents --------------------------------------------------------------------------

    @operation(Permission.INCIDENTS, "incident.open")
    def open_incident(self, session: Session, *, services: Iterable[str], title_fr: str,
                      message_fr: str, title_en: str | None = None,
                      message_en: str | None = None, impact: str = "major_outage",
                      phase: str = "investigating", author: str | None = None,
                      at: float | None = None) -> Incident:
        """Open an incident by hand for one or more services; ``opened`` events go to
        the plugins (alerts, forum, ticket).

        :param services: service ids (at least one, each known to the catalog).
        :param impact: ``degraded``, ``partial_outage`` or ``major_outage``; set by hand,
            later status changes of the services do not override it.
        :param phase: ``investigating`` (default), ``identified`` or ``monitoring``.
        :raises InvalidInput: empty title/message, unknown service, impact or phase.
        """
        service_ids = known_services(session, services)
        at = self._at(at)
        return lifecycle.open_incident(
            session, self.ctx, service_ids=service_ids,
            title_fr=text_field("title_fr", title_fr, required=True, limit=TITLE_MAX),
            title_en=text_field("title_en", title_en, required=False, limit=TITLE_MAX),
            impact=choice_field("impact", impact, IMPACTS), at=at, automatic=False,
            message_fr=text_field("message_fr", message_fr, required=True, limit=MESSAGE_MAX) or "",
            message_en=text_field("message_en", message_en, required=False, limit=MESSAGE_MAX),
            phase=choice_field("phase", phase, PHASES[:3]), author=author)

    @operation(Permission.INCIDENTS, "incident.update")
    def post_update(self, session: Session, incident_id: int, *, phase: str,
                    message_fr: str, message_en: str | None = None,
                    impact: str | None = None, public: bool = True,
                    author: str | None = None, at: float | None = None) -> IncidentUpdate:
        """Post an update on an open incident, moving it to ``phase``
        (investigating → identified → monitoring → resolved). ``phase="resolved"``
        resolves the incident (``resolved`` events); otherwise ``updated`` events are
        written. ``public=False`` keeps the note for volunteers (no event either).

        :raises InvalidInput: unknown phase or impact, empty message, incident resolved.
        :raises NotFound: no such incident.
        """
        incident = self._open(session, incident_id)
        phase = choice_field("phase", phase, PHASES)
        fr = text_field("message_fr", message_fr, required=True, limit=MESSAGE_MAX) or ""
        en = text_field("message_en", message_en, required=False, limit=MESSAGE_MAX)
        at = self._at(at)
        if impact is not None:
            choice_field("impact", impact, IMPACTS)
        if phase == "resolved":
            if impact is not None:
                lifecycle.set_impact(incident, impact)
                incident.impact_manual = True
            lifecycle.resolve(session, self.ctx, incident, at=at, message_fr=fr,
                              message_en=en, automatic=False, author=author)
            return incident.updates[-1]
        incident.phase = phase
        if impact is not None and lifecycle.set_impact(incident, impact):
            incident.impact_manual = True
        update = lifecycle.add_update(session, incident, at=at, kind="update", message_fr=fr,
                                      message_en=en, impact=impact, automatic=False,
                                      public=public, author=author)
        if public:
            emit_incident(session, self.ctx, incident, "updated", at=at, message_fr=fr,
                          message_en=en or "")
        session.flush()
        return update

    @operation(Permission.INCIDENTS, "incident.impact")
    def change_impact(self, session: Session, incident_id: int, impact: str, *,
                      message_fr: str | None = None, message_en: str | None = None,
                      author: str | None = None, at: float | None = None) -> IncidentUpdate:
        """Set the impact of an open incident by hand (it then no longer follows the
        services' status); an ``updated`` event is written.

        :raises InvalidInput: unknown impact, or the incident is resolved.
        :raises NotFound: no such incident.
        """
        incident = self._open(session, incident_id)
        impact = choice_field("impact", impact, IMPACTS)
        at = self._at(at)
        lifecycle.set_impact(incident, impact)
        incident.impact_manual = True
        said = _("Impact: {impact}.", impact=terms.impact(impact))
        fr = text_field("message_fr", message_fr, required=False, limit=MESSAGE_MAX) or said.fr
        en = text_field("message_en", message_en, required=False, limit=MESSAGE_MAX) or said.en
        update = lifecycle.add_update(session, incident, at=at, kind="impact", message_fr=fr,
                                      message_en=en, impact=impact, automatic=False,
                                      author=author)
        emit_incident(session, self.ctx, incident, "updated", at=at, message_fr=fr,
                      message_en=en, ask_links=True)
        session.flush()
        return update

    @operation(Permission.INCIDENTS, "incident.resolve")
    def resolve_incident(self, session: Session, incident_id: int, *,
                         message_fr: str | None = None, message_en: str | None = None,
                         author: str | None = None, at: float | None = None) -> IncidentUpdate:
        """Resolve an open incident now (``resolved`` events).

        :raises InvalidInput: the incident is already resolved.
        :raises NotFound: no such incident.
        """
        said = _("The incident is resolved.")
        fr = text_field("message_fr", message_fr, required=False, limit=MESSAGE_MAX) or said.fr
        en = text_field("message_en", message_en, required=False, limit=MESSAGE_MAX) or said.en
        return self.post_update(session, incident_id, phase="resolved", message_fr=fr,
                                message_en=en, author=author, at=at)

    @operation(Permission.INCIDENTS, "incident.postmortem")
    def set_postmortem(self, session: Session, incident_id: int, *, text_fr: str,
                       text_en: str | None = None, author: str | None = None,
                       at: float | None = None) -> Incident:
        """Attach (or replace) the post-mortem of a resolved incident; a public timeline
        entry and ``updated`` events say it was published.

        :raises InvalidInput: empty text, or the incident is not resolved yet (a review
            comes after the facts: the form is offered on resolved incidents only, and the
            API and the CLI refuse the same way).
        :raises NotFound: no such incident.
        """
        incident = self._incident(session, incident_id)
        if incident.resolved_at is None:
            raise InvalidInput(None, _("This incident is not resolved yet: publish its "
                                       "post-mortem once it is resolved."))
        fr = text_field("text_fr", text_fr, required=True, limit=100_000)
        en = text_field("text_en", text_en, required=False, limit=100_000)
        at = self._at(at)
        incident.postmortem_fr, incident.postmortem_en, incident.postmortem_at = fr, en, at
        published = _("The post-mortem is published.")
        lifecycle.add_update(session, incident, at=at, kind="postmortem",
                             message_fr=published.fr, message_en=published.en,
                             automatic=False, author=author)
        emit_incident(session, self.ctx, incident, "updated", at=at,
                      message_fr=published.fr, message_en=published.en)
        session.flush()
        return incident

    # Notices ----------------------------------------------------------------------------

    @operation(Permission.NOTICES, "notice.add")
    def post_notice(self, session: Session, *, title_fr: str, text_fr: str | None = None,
                    title_en: str | None = None, text_en: str | None = None,
                    level: str = "info", starts_at: str | float | None = None,
                    ends_at: str | float | None = None,
                    author: str | None = None) -> Notice:
        """Post an information message on the status page.

        :param level: ``info`` or ``warning``.
        :param starts_at: when it appears (ISO text in the site's time zone or Unix time;
            None: now).
        :param ends_at: when it disappears (None: until ended by hand).
        :raises InvalidInput: with the offending field.
        """
        now = self.ctx.now()
        notice = Notice(created_at=now, updated_at=now, created_by=author)
        self._fill_notice(notice, dict(title_fr=title_fr, title_en=title_en, text_fr=text_fr,
                                       text_en=text_en, level=level, starts_at=starts_at,
                                       ends_at=ends_at))
        session.add(notice)
        session.flush()
        return notice

    @operation(Permission.NOTICES, "notice.edit")
    def edit_notice(self, session: Session, notice_id: int, **changes: Any) -> Notice:
        """Change a notice: same keywords as :meth:`post_notice`.

        :raises InvalidInput: a bad value. :raises NotFound: no such notice.
        """
        notice = self._notice(session, notice_id)
        allowed = {"title_fr", "title_en", "text_fr", "text_en", "level", "starts_at", "ends_at"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(None, n_("Unknown field: {fields}.", "Unknown fields: {fields}.",
                                        len(unknown), fields=", ".join(sorted(unknown))))
        fields = {k: getattr(notice, k) for k in allowed}
        fields.update(changes)
        self._fill_notice(notice, fields)
        notice.updated_at = self.ctx.now()
        session.flush()
        return notice

    @operation(Permission.NOTICES, "notice.end")
    def end_notice(self, session: Session, notice_id: int, *, at: float | None = None) -> Notice:
        """Take a notice off the status page now.

        :raises NotFound: no such notice.
        """
        notice = self._notice(session, notice_id)
        now = self._at(at)
        if notice.ends_at is None or notice.ends_at > now:
            notice.ends_at = now
        notice.updated_at = now
        session.flush()
        return notice

    # Outbox -----------------------------------------------------------------------------

    @operation(Permission.DELIVERIES, "delivery.retry")
    def retry_outbox(self, session: Session, outbox_id: int) -> OutboxEntry:
        """Queue a dead-lettered delivery again, now, with its attempts reset.

        :raises InvalidInput: the entry was already delivered.
        :raises NotFound: no such entry.
        """
        from monitor.incidents import outbox

        try:
            return outbox.retry(session, outbox_id, self.ctx.now())
        except KeyError:
            raise NotFound("outbox_id", _("No delivery number {id}.", id=outbox_id)) from None
        except ValueError:
            raise InvalidInput("outbox_id", _("Delivery number {id} was already delivered.",
                                              id=outbox_id)) from None

    # Helpers ----------------------------------------------------------------------------

    def _at(self, at: float | None) -> float:
        return self.ctx.now() if at is None else float(at)

    def _incident(self, session: Session, incident_id: int) -> Incident:
        incident = session.get(Incident, int(incident_id)) if str(incident_id).isdigit() else (
            session.scalars(select(Incident).where(Incident.reference == str(incident_id))).first())
        if incident is None:
            raise NotFound("incident_id", _("No incident number {id}.", id=incident_id))
        return incident

    def _open(self, session: Session, incident_id: int) -> Incident:
        incident = self._incident(session, incident_id)
        if incident.resolved_at is not None:
            raise InvalidInput(None, _("This incident is already resolved."))
        return incident

    def _notice(self, session: Session, notice_id: int) -> Notice:
        notice = session.get(Notice, int(notice_id))
        if notice is None:
            raise NotFound("notice_id", _("No notice number {id}.", id=notice_id))
        return notice

    def _fill_notice(self, notice: Notice, f: dict[str, Any]) -> None:
        notice.title_fr = text_field("title_fr", f.get("title_fr"), required=True, limit=TITLE_MAX)
        notice.title_en = text_field("title_en", f.get("title_en"), required=False, limit=TITLE_MAX)
        notice.text_fr = text_field("text_fr", f.get("text_fr"), required=False,
                                    limit=MESSAGE_MAX) or ""
        notice.text_en = text_field("text_en", f.get("text_en"), required=False, limit=MESSAGE_MAX)
        notice.level = choice_field("level", f.get("level") or "info", NOTICE_LEVELS)
        notice.starts_at = date_field("starts_at", f.get("starts_at"), self.ctx.timezone)
        notice.ends_at = date_field("ends_at", f.get("ends_at"), self.ctx.timezone)
        if notice.starts_at is not None and notice.ends_at is not None and (
                notice.ends_at <= notice.starts_at):
            raise InvalidInput("ends_at", _("The end must be after the start."))


__all__ = ["Operations"]
