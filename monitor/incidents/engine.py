"""The incident engine: opens, updates, reopens and resolves incidents from service status
changes, sends reminders and certificate warnings.

Rules (see docs/incidents.md):

- a service whose derived status becomes degraded / partial outage / major outage (which
  cannot happen while it is in maintenance: its status is then ``maintenance``) gets an
  incident: the one already open for it, else the automatic one resolved less than
  ``cooldown`` ago (reopened), else a new one;
- while open, an automatic incident's impact is the service's current status (and
  ``worst_impact`` the worst seen), unless a volunteer set the impact by hand;
- when the service is operational again the incident enters ``monitoring`` (a timeline
  entry, no alert) and is resolved once it stayed operational for ``quiet_period``: at
  that moment exactly (``max(recovered, back from maintenance/unknown) + quiet_period``),
  whether the ticker or the service's next change notices it first;
  ``maintenance`` and ``unknown`` neither open nor resolve anything;
- an open incident not in maintenance is re-announced every ``reminder_every``.

All methods are synchronous and touch the database: the runtime calls them from one
worker thread, so they run one at a time and in order. Each change is one transaction:
incident rows, timeline rows and one outbox row per subscribed plugin.

**The database away.** Every change goes through a bounded backlog
(:mod:`monitor.incidents.backlog`) and is recorded in order, with its own time; when the
database cannot be reached the changes wait there, and the next change or tick records
them. Decisions depend only on the changes and their times (the status each service had
*as recorded*, never a later one), so the incidents written from a backlog are those the
engine writes with the database up all along. Changes recorded late say so in their
timeline entries ("down from 22:14 to 22:15, recorded at 22:40"). A change the database
refuses (not a connection problem) is logged and skipped, never retried for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cluster.errors import Fenced
from monitor.incidents import lifecycle
from monitor.incidents.backlog import ChangeBacklog, Waiting
from monitor.incidents.context import IncidentContext
from monitor.incidents.emit import emit_incident, emit_system_alert
from monitor.incidents.models import Incident, IncidentService
from monitor.incidents.wording import (
    Late,
    change_message,
    recovered_words,
    resolved_words,
)
from monitor.notifications import CheckSnapshot, SystemAlert
from monitor.probe import Status
from monitor.state import ServiceState, ServiceStatus, ServiceTransition
from monitor.store.writer import is_transient
from monitor.words import Bilingual, _, duration

log = logging.getLogger(__name__)

#: samples whose name ends with this are certificate expiry times (any probe kind)
CERT_SAMPLE_SUFFIX = "cert_expiry_timestamp_seconds"

_FAILING = frozenset({Status.DOWN, Status.DEGRADED, Status.UNKNOWN})


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A service's status as the engine needs it, copied on the event loop (the live
    :class:`~monitor.state.ServiceState` keeps changing)."""

    service_id: str
    name: Bilingual
    previous: str | None
    current: str
    at: float
    checks: tuple[CheckSnapshot, ...] = ()

    @classmethod
    def of(cls, service: ServiceState, previous: ServiceStatus | None,
           current: ServiceStatus, at: float) -> StatusChange:
        """Snapshot of a service and its failing checks."""
        return cls(service.id, service.service.name, previous.label if previous else None,
                   current.label, at, failing_checks(service))

    @classmethod
    def from_transition(cls, t: ServiceTransition) -> StatusChange:
        """Snapshot of a state-book transition."""
        return cls.of(t.service, t.previous, t.current, t.at)


def failing_checks(service: ServiceState) -> tuple[CheckSnapshot, ...]:
    """The service's checks that are not up, with their last reason."""
    out = []
    for c in service.checks:
        if c.status not in _FAILING:
            continue
        reason = c.last.reason if c.last is not None else None
        name = c.check.name
        out.append(CheckSnapshot(
            service.id, c.ref.check_id, c.ref.kind, name.fr, name.en or name.fr,
            Status(c.status).name.lower(), reason.fr if reason else "",
            reason.en if reason else "", c.since, reason.public if reason else True,
            reason.code if reason else ""))
    return tuple(out)


class IncidentEngine:
    """Turns :class:`StatusChange` values into incidents.

    :param sessions: a callable returning a new ORM session (``store.session``).
    :param on_written: called after a transaction that wrote outbox rows (the runtime
        wakes the outbox worker with it).
    :param on_held: called with a change that could not be recorded when it came (the
        database is away, or not prepared yet): the runtime tells volunteers directly.
    :param limit: changes kept while the database is away (default
        ``incidents.buffer_limit``); beyond it the oldest are dropped, counted, logged.
    """

    def __init__(self, sessions: Callable[[], Session], ctx: IncidentContext,
                 on_written: Callable[[], None] | None = None, *,
                 on_held: Callable[[StatusChange], None] | None = None,
                 limit: int | None = None) -> None:
        self.sessions = sessions
        self.ctx = ctx
        self.on_written = on_written or (lambda: None)
        self.on_held = on_held or (lambda change: None)
        #: service id → the latest StatusChange seen
        self.current: dict[str, StatusChange] = {}
        #: service id → the latest StatusChange recorded (what decisions are made on)
        self.applied: dict[str, StatusChange] = {}
        #: service id → when its current failure began (recorded changes)
        self._failing_since: dict[str, float] = {}
        #: changes not recorded yet, oldest first
        self.backlog = ChangeBacklog(limit or ctx.settings.buffer_limit)
        #: changes the database refused (logged and skipped)
        self.refused = 0
        #: number of database outages seen (a change kept waiting starts one)
        self.outages = 0
        self._away = False
        #: whether this episode was logged as the database being unreachable (a start,
        #: whose changes are held until the store is prepared, is not)
        self._said_away = False
        self._cert_warned: set[tuple[str, str]] = set()
        #: a transaction was fenced: this engine's tenure is over (cluster mode)
        self.fenced = False

    @property
    def pending(self) -> int:
        """Changes waiting for the database."""
        return len(self.backlog)

    @property
    def dropped(self) -> int:
        """Changes dropped because the backlog was full."""
        return self.backlog.dropped

    # Status changes ---------------------------------------------------------------------

    def on_change(self, change: StatusChange) -> None:
        """Record one service status change, after any still waiting (one transaction
        each). When the database is away it waits, with the others, for the next change or
        :meth:`tick`."""
        self.current[change.service_id] = change
        waiting = self.backlog.append(change)
        if not self._record_waiting() and not self.fenced:
            waiting.late = True
            self.on_held(change)

    def hold(self, change: StatusChange) -> None:
        """Keep a change without trying to record it (the database is not prepared yet);
        the first :meth:`on_change`, :meth:`restore` or :meth:`tick` records it."""
        self.current[change.service_id] = change
        if not self._away:
            self._away = True
            self.outages += 1
        self.backlog.append(change, late=True)
        self.on_held(change)

    def restore(self, changes: Iterable[StatusChange]) -> None:
        """At start: bring incidents in line with the services' current statuses (opens
        an incident for a service already failing, starts the quiet period of one that
        recovered while Vigie was stopped)."""
        for change in changes:
            self.on_change(change)

    def _record_waiting(self) -> bool:
        """Record the waiting changes in order; True when none is left (False: the
        database is away)."""
        wrote = 0
        while len(self.backlog):
            waiting = self.backlog.first()
            try:
                with self.sessions() as session, session.begin():
                    self._apply(session, waiting)
            except Fenced:
                # another node leads (cluster): it takes the changes from the feed, and
                # nothing is told from here
                self.fenced = True
                return False
            except Exception as exc:
                if is_transient(exc) or isinstance(exc, OSError):
                    self._unreachable(exc)
                    break
                self.refused += 1
                change = waiting.change
                log.error("incident engine: the database refused the change of %s to %s at "
                          "%.0f; skipped (%s: %s)", change.service_id, change.current,
                          change.at, type(exc).__name__, _first_line(exc), exc_info=exc)
            else:
                self._recorded(waiting.change)
                wrote += 1
            self.backlog.pop_first()
        if wrote:
            self.on_written()
        if len(self.backlog):
            return False
        if self._away:
            self._away = False
            if self._said_away:
                self._said_away = False
                log.info("incident engine: the database is reachable again; status changes "
                         "recorded in order")
        return True

    def _unreachable(self, exc: BaseException) -> None:
        if self._said_away:
            return
        if not self._away:
            self._away = True
            self.outages += 1
        self._said_away = True
        log.warning("incident engine: cannot record status changes (database unreachable? "
                    "%s: %s); keeping them in memory, in order (at most %d), and retrying",
                    type(exc).__name__, _first_line(exc), self.backlog.limit)

    def _recorded(self, change: StatusChange) -> None:
        sid = change.service_id
        self.applied[sid] = change
        if change.current in lifecycle.OUTAGE_IMPACTS:
            self._failing_since.setdefault(sid, change.at)
        elif change.current != ServiceStatus.UNKNOWN.label:
            self._failing_since.pop(sid, None)

    def _apply(self, session: Session, waiting: Waiting) -> None:
        change = waiting.change
        sid, at = change.service_id, change.at
        late = Late(self.ctx.now(), self.ctx.timezone) if waiting.late else None
        impact = change.current if change.current in lifecycle.OUTAGE_IMPACTS else None
        incident = lifecycle.open_services_incident(session, sid)
        # an incident whose quiet period ended before this change is resolved first, at
        # that time: as the ticker would have done had it passed in between
        if incident is not None and self._resolve_if_quiet(session, incident, at):
            incident = lifecycle.open_services_incident(session, sid)
        if impact is not None:
            if incident is not None:
                self._worsen_or_change(session, incident, change, impact, late)
                return
            recent = self._recently_resolved(session, sid, at)
            if recent is not None:
                said = change_message(change, "reopened", late)
                lifecycle.reopen(session, self.ctx, recent, at=at, impact=impact,
                                 message_fr=said.fr, message_en=said.say("en"),
                                 checks=change.checks,
                                 statuses={sid: change.current})
                self._retitle(recent, change)
                return
            said = change_message(change, "opened", late)
            title = lifecycle.auto_title(change.name, impact)
            lifecycle.open_incident(session, self.ctx, service_ids=[sid], title_fr=title.fr,
                                    title_en=title.en, impact=impact, at=at, automatic=True,
                                    message_fr=said.fr, message_en=said.en, checks=change.checks,
                                    statuses={sid: change.current})
        elif change.current == ServiceStatus.OPERATIONAL.label and incident is not None:
            if incident.automatic and incident.recovered_at is None:
                incident.recovered_at = at
                incident.phase = "monitoring"
                since = max(self._failing_since.get(sid, incident.opened_at), incident.opened_at)
                back = recovered_words(change, incident.worst_impact or incident.impact, since,
                                       late)
                lifecycle.add_update(session, incident, at=at, kind="recovered",
                                     message_fr=back.fr, message_en=back.en)

    def _worsen_or_change(self, session: Session, incident: Incident, change: StatusChange,
                          impact: str, late: Late | None = None) -> None:
        """The service of an open incident is (still) failing: follow its status."""
        was_recovering = incident.recovered_at is not None
        incident.recovered_at = None
        if was_recovering and incident.phase == "monitoring":
            incident.phase = "investigating"
        changed = False
        if incident.automatic and not incident.impact_manual:
            changed = lifecycle.set_impact(incident, impact)
            self._retitle(incident, change)
        # back from maintenance or unknown in the same state: nothing new to say
        moved = change.previous in lifecycle.OUTAGE_IMPACTS and change.previous != change.current
        if not (changed or was_recovering or moved):
            return
        said = change_message(change, "status", late)
        lifecycle.add_update(session, incident, at=change.at, kind="status",
                             message_fr=said.fr, message_en=said.en, impact=impact)
        emit_incident(session, self.ctx, incident, "updated", at=change.at,
                      message_fr=said.fr, message_en=said.say("en"), checks=change.checks,
                      statuses={change.service_id: change.current}, ask_links=changed)

    @staticmethod
    def _retitle(incident: Incident, change: StatusChange) -> None:
        if incident.automatic and not incident.impact_manual:
            title = lifecycle.auto_title(change.name, incident.impact)
            incident.title_fr, incident.title_en = title.fr, title.en

    def _recently_resolved(self, session: Session, service_id: str, at: float) -> Incident | None:
        return session.scalars(
            select(Incident).join(IncidentService)
            .where(IncidentService.service_id == service_id, Incident.automatic.is_(True),
                   Incident.resolved_at.is_not(None),
                   Incident.resolved_at >= at - self.ctx.settings.cooldown)
            .order_by(Incident.resolved_at.desc()).limit(1)).first()

    # Time-driven work -------------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        """Record the changes still waiting; then resolve incidents whose services stayed
        operational for the quiet period and send reminders. While changes wait (the
        database is away) nothing else is done: a decision needs every change before it."""
        now = self.ctx.now() if now is None else now
        if not self._record_waiting():
            return
        wrote = False
        with self.sessions() as session, session.begin():
            for incident in session.scalars(select(Incident).where(Incident.resolved_at.is_(None))):
                wrote |= self._resolve_if_quiet(session, incident, now)
                if incident.resolved_at is None:
                    wrote |= self._remind_if_due(session, incident, now)
        if wrote:
            self.on_written()

    def _statuses(self, incident: Incident) -> list[str | None]:
        return [self.applied[s].current if s in self.applied else None
                for s in incident.service_ids]

    def _resolve_if_quiet(self, session: Session, incident: Incident, now: float) -> bool:
        """Resolve ``incident`` if its quiet period ended by ``now``, at the time it ended:
        ``quiet_period`` after its recovery, or the moment its services were last back to
        operational (from maintenance or unknown) if that is later."""
        if not incident.automatic or incident.recovered_at is None:
            return False
        if any(s != ServiceStatus.OPERATIONAL.label for s in self._statuses(incident)):
            return False
        quiet = self.ctx.settings.quiet_period
        at = max(incident.recovered_at + quiet,
                 *(self.applied[s].at for s in incident.service_ids))
        if at > now:
            return False
        names = [self.applied[s] for s in incident.service_ids]
        said = resolved_words([c.name for c in names], quiet)
        lifecycle.resolve(
            session, self.ctx, incident, at=at, message_fr=said.fr, message_en=said.en,
            statuses={s: ServiceStatus.OPERATIONAL.label for s in incident.service_ids})
        return True

    def _remind_if_due(self, session: Session, incident: Incident, now: float) -> bool:
        every = self.ctx.settings.reminder_every
        if not every or incident.recovered_at is not None:
            return False
        statuses = self._statuses(incident)
        if statuses and all(s == ServiceStatus.MAINTENANCE.label for s in statuses):
            return False
        if now - (incident.last_notified_at or incident.opened_at) < every:
            return False
        still = _("The incident is still open ({duration} so far).",
                  duration=duration(now - incident.opened_at))
        emit_incident(session, self.ctx, incident, "reminder", at=now,
                      message_fr=still.fr, message_en=still.en)
        return True

    # Certificates -----------------------------------------------------------------------

    def cert_warnings(self, check_key: str, service_id: str,
                      samples: dict, at: float) -> list[tuple[str, float]]:
        """``(sample name, expiry time)`` of the certificates in ``samples`` expiring
        within ``cert_warn_days`` and not yet warned about today. Cheap: call it on the
        event loop, and :meth:`warn_certificates` in the worker only when it returns any."""
        out: list[tuple[str, float]] = []
        day, limit = "", 0.0
        for name, value in samples.items():
            if not name.endswith(CERT_SAMPLE_SUFFIX):
                continue
            if not day:
                # only now: most results (every http one) have samples but no certificate,
                # and a zoned datetime per result would cost more than the whole loop
                limit = at + self.ctx.settings.cert_warn_days * 86400
                day = datetime.fromtimestamp(at, ZoneInfo(self.ctx.timezone)).date().isoformat()
            values = value.items() if isinstance(value, dict) else [("", value)]
            for label, expiry in values:
                key = f"{name}{'/' + str(label) if label else ''}"
                if isinstance(expiry, (int, float)) and expiry < limit and (
                        (check_key + key, day) not in self._cert_warned):
                    self._cert_warned.add((check_key + key, day))
                    out.append((key, float(expiry)))
        return out

    def warn_certificates(self, check_key: str, service_id: str,
                          found: list[tuple[str, float]], at: float) -> int:
        """Write a ``tls.expiring`` system alert per certificate (once per check and day:
        the idempotency key holds the day)."""
        zi = ZoneInfo(self.ctx.timezone)
        day = datetime.fromtimestamp(at, zi).date().isoformat()
        written = 0
        with self.sessions() as session, session.begin():
            for key, expiry in found:
                days = (expiry - at) / 86400
                when = datetime.fromtimestamp(expiry, zi).strftime("%Y-%m-%d %H:%M")
                if expiry < at:
                    title = _("Certificate expired: {check}", check=check_key)
                    message = _("The certificate checked by {check} expired on {when}, "
                                "{duration} ago.", check=check_key, when=when,
                                duration=duration(at - expiry))
                else:
                    title = _("Certificate expiring soon: {check}", check=check_key)
                    message = _("The certificate checked by {check} expires on {when}, in "
                                "{duration}.", check=check_key, when=when,
                                duration=duration(expiry - at))
                alert = SystemAlert.worded(
                    "tls.expiring", f"tls.expiring:{check_key}:{key}:{day}",
                    "critical" if days < 3 else "warning", title, message, at,
                    service_id=service_id,
                    details={"check": check_key, "sample": key, "expires_at": f"{expiry:.0f}"})
                written += emit_system_alert(session, self.ctx, alert, at=at)
        if written:
            self.on_written()
        return written


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
