"""The text of each alert, in French (and English when configured).

A message says which service, what state, since when, why each failing check fails, and
where to look: the incident page, the status page, the guides and the ticket. Volunteers
receive alerts, so private links (the helpdesk ticket) are included, marked as such. The
body is plain text with bare links (clickable in mail and chat clients alike).

Every time is local to the site's zone and carries its UTC offset (``14 h 05 UTC+1``), so
it reads right in summer and winter time and from another zone. An incident's state is
the one at sending time when the notifier knows it (:mod:`~plugins.notify_apprise.live`):
an alert sent late says that the service recovered meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.api import (
    Bilingual,
    IncidentEvent,
    Link,
    MaintenanceEvent,
    ServiceStatus,
    SystemAlert,
    Words,
    _,
    duration,
    n_,
    terms,
)
from plugins.notify_apprise.live import StateNow
from plugins.notify_apprise.routing import IMPACT_SEVERITY, NOTIFY_TYPES, notify_type

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
             "Dec")

#: a link's kind → its words (other kinds are written as they are, capitalised)
LINK_KINDS = {"guide": _("Guide"), "forum": _("Forum"), "ticket": _("Ticket")}
#: a maintenance event's kind → its words
MAINTENANCE_KINDS = {"announced": _("Maintenance planned"), "started": _("Maintenance started"),
                     "ended": _("Maintenance over"), "cancelled": _("Maintenance cancelled")}

IMPACT_EMOJI = {"major_outage": "🔴", "partial_outage": "🟠", "degraded": "🟡",
                "maintenance": "🔧", "unknown": "⚪"}
SEVERITY_EMOJI = {"critical": "🔴", "warning": "🟠", "info": "ℹ️", "success": "✅"}


@dataclass(frozen=True, slots=True)
class Message:
    """What Apprise sends: a title, a plain-text body and a type (colour, icon)."""

    title: str
    body: str
    notify_type: str


@dataclass(frozen=True)
class MessageContext:
    """Where a message is read: languages, time zone, and names the events lack."""

    languages: Sequence[str] = ("fr",)
    timezone: str = "Europe/Paris"
    #: the status page, when an event carries no link to it
    public_url: str | None = None
    #: group id → its name
    group_names: Mapping[str, Bilingual] = field(default_factory=dict)
    #: service id → its name (system alerts carry only the id)
    service_names: Mapping[str, Bilingual] = field(default_factory=dict)


def format_time(at: float, lang: str, timezone: str) -> str:
    """``14 h 05 UTC+1 (28/11)`` in French, ``14:05 UTC+1 (28 Nov)`` in English: local
    time in ``timezone`` and its offset at that moment (``UTC+2`` in summer time)."""
    local = datetime.fromtimestamp(at, ZoneInfo(timezone))
    offset = utc_offset(local)
    if lang == "fr":
        return (f"{local.hour} h {local.minute:02d} {offset} "
                f"({local.day:02d}/{local.month:02d})")
    return (f"{local.hour:02d}:{local.minute:02d} {offset} "
            f"({local.day} {MONTHS_EN[local.month - 1]})")


def utc_offset(local: datetime) -> str:
    """``UTC+1``, ``UTC+5:30``, ``UTC-5``, or ``UTC`` for an aware ``local`` time."""
    delta = local.utcoffset()
    minutes = round(delta.total_seconds() / 60) if delta is not None else 0
    if not minutes:
        return "UTC"
    hours, minutes = divmod(abs(minutes), 60)
    sign = "+" if delta.total_seconds() > 0 else "-"
    return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")


def format_duration(seconds: float, lang: str) -> str:
    """``45 minutes``, ``2 heures 5 minutes``, ``3 jours 4 heures``, ``moins d'une
    minute`` (:func:`monitor.words.duration`)."""
    return duration(seconds).say(lang)


class _Writer:
    """Builds one language's block of a message."""

    def __init__(self, lang: str, ctx: MessageContext) -> None:
        self.lang, self.ctx = lang, ctx

    def say(self, words: Words | Bilingual | str) -> str:
        """``words`` in this block's language (a text of the event in its language,
        French when it has no English; a label that is not a catalogue's as it is)."""
        return words if isinstance(words, str) else words.say(self.lang)

    def time(self, at: float) -> str:
        return format_time(at, self.lang, self.ctx.timezone)

    def duration(self, seconds: float) -> str:
        return format_duration(seconds, self.lang)

    def impact(self, label: str) -> str:
        return self.say(terms.impact(label))

    def field(self, label: Words, value: str) -> str:
        return self.say(_("{label}: {value}", label=label, value=value))

    def heading(self, label: Words) -> str:
        return self.say(_("{label}:", label=label))

    def service_names(self, services) -> str:
        return ", ".join(self.say(s.name) for s in services)

    def service_line(self, services) -> str:
        parts = []
        for s in services:
            name = self.say(s.name)
            known = self.ctx.group_names.get(s.group or "")
            group = known.say(self.lang) if known else s.group
            parts.append(self.say(_("{service} (group {group})", service=name, group=group))
                         if group else name)
        label = _("Services") if len(services) > 1 else _("Service")
        return self.field(label, ", ".join(parts))

    def link(self, link: Link) -> str:
        kind = self.say(LINK_KINDS[link.kind]) if link.kind in LINK_KINDS \
            else link.kind.capitalize()
        title = self.say(_("“{title}”", title=link.title))
        private = "" if link.public else self.say(_(" (volunteers only)"))
        return self.field(f"{kind} {title}{private}", link.url)

    def status_url(self, url: str | None) -> str | None:
        return url or self.ctx.public_url

    def state(self, event: IncidentEvent, now: StateNow | None) -> str:
        """The incident's state: its impact, or what it is now and what it was."""
        impact = self.impact(event.impact)
        if now is None:
            return impact
        if now.recovered:
            if now.since is None:
                return self.say(_("back to normal; was: {impact}", impact=impact))
            return self.say(_("back to normal since {time}; was: {impact}",
                            time=self.time(now.since), impact=impact))
        return self.say(_("{now} (was: {impact})", now=self.impact(now.status), impact=impact))

    # Incidents -------------------------------------------------------------------------

    def incident_title(self, event: IncidentEvent, now: StateNow | None = None) -> str:
        names = self.service_names(event.services) or self.say(event.title)
        impact = self.impact(event.impact)
        if event.kind == "resolved":
            end = event.resolved_at or event.at
            ended = self.say(_("back to normal after {duration}",
                             duration=self.duration(end - event.opened_at)))
            return f"✅ {self.field(names, ended)}"
        update = self.say(_(" (update)")) if event.kind == "updated" else ""
        if now is not None and now.recovered:
            recovered = self.say(_("{impact}, already back to normal", impact=impact))
            return f"✅ {self.field(names, recovered)}{update}"
        current = now.status if now is not None else event.impact
        emoji = IMPACT_EMOJI.get(current, "⚪")
        impact = self.impact(current)
        if event.kind == "reminder":
            still = self.say(_("{impact}, still going on after {duration}", impact=impact,
                             duration=self.duration(event.at - event.opened_at)))
            return f"⏰ {self.field(names, still)}"
        return f"{emoji} {self.field(names, impact)}{update}"

    def incident_body(self, event: IncidentEvent, now: StateNow | None = None) -> list[str]:
        lines = []
        title = self.say(event.title)
        if title:
            lines.append(title)
        if event.services:
            lines.append(self.service_line(event.services))
        impact = self.impact(event.impact)
        if event.kind == "resolved":
            end = event.resolved_at or event.at
            lines.append(self.field(_("State"),
                                    self.say(_("back to normal (was: {impact})", impact=impact))))
            lines.append(self.say(_("From {start} to {end}, {duration}",
                                  start=self.time(event.opened_at), end=self.time(end),
                                  duration=self.duration(end - event.opened_at))))
        else:
            lines.append(self.field(_("State"), self.state(event, now)))
            lines.append(self.field(_("Since"), self.time(event.opened_at)))
        lines.append(self.field(_("Progress"), self.say(terms.phase(event.phase))))
        if event.reference:
            lines.append(self.field(_("Reference"), event.reference))
        message = self.say(event.message)
        if message:
            lines += ["", self.field(_("Message"), message)]
        if event.checks:
            over = event.kind == "resolved" or (now is not None and now.recovered)
            lines += ["", self.heading(_("What was failing") if over else _("Failing checks"))]
            lines += [self.check_line(check, event) for check in event.checks]
        lines += self.links(event.incident_url, event.status_page_url, event.links)
        return lines

    def check_line(self, check, event: IncidentEvent) -> str:
        name = self.say(check.name)
        if len(event.services) > 1:  # say which service the check belongs to
            owner = next((s for s in event.services if s.id == check.service_id), None)
            name = f"{self.say(owner.name) if owner else check.service_id}" \
                   f" › {name}"
        reason = self.say(check.reason)
        if check.since:
            reason = self.say(_("{reason}, since {time}", reason=reason,
                              time=self.time(check.since)))
        return f"- {self.field(name, reason)}"

    def links(self, incident_url: str | None, status_url: str | None,
              links: Sequence[Link]) -> list[str]:
        out = []
        if incident_url:
            out.append("- " + self.field(_("Incident page"), incident_url))
        if self.status_url(status_url):
            out.append("- " + self.field(_("Status page"), self.status_url(status_url)))
        out += [f"- {self.link(link)}" for link in links]
        return ["", self.heading(_("Links")), *out] if out else []

    # Storms ----------------------------------------------------------------------------

    def storm_title(self, events: Sequence[IncidentEvent],
                    nows: Mapping[int, StateNow | None]) -> str:
        title = self.say(n_("{n} service down at once", "{n} services down at once",
                            len(events)))
        recovered = sum(1 for e in events if _recovered(nows.get(e.incident_id)))
        if recovered:
            title += self.say(n_(", {n} already back to normal",
                                 ", {n} already back to normal", recovered))
        impacts = [_impact_now(e, nows.get(e.incident_id)) for e in events
                   if not _recovered(nows.get(e.incident_id))]
        if not impacts:
            return f"✅ {title}"
        # the one order (monitor.status); an impact naming no status ranks lowest
        worst = max(impacts, key=lambda i: ServiceStatus.of(i) or ServiceStatus.OPERATIONAL)
        return f"{IMPACT_EMOJI.get(worst, '⚪')} {title}"

    def storm_body(self, events: Sequence[IncidentEvent], reported: set[int],
                   window: float, nows: Mapping[int, StateNow | None]) -> list[str]:
        lines = [self.say(n_("{n} service went down within {window}; this message groups "
                             "them.", "{n} services went down within {window}; this message "
                             "groups them.", len(events), window=self.duration(max(window, 60))))]
        status_url = None
        for event in events:
            names = self.service_names(event.services) or self.say(event.title)
            now = nows.get(event.incident_id)
            state = self.state(event, now)
            ref = f" — {event.reference}" if event.reference else ""
            already = self.say(_(" (already reported)")) if event.incident_id in reported else ""
            if _recovered(now):  # what failed is history: the resolved alert recalls it
                lines += ["", f"- {self.field(names, state)}{ref}{already}"]
            else:
                state = self.say(_("{state}, since {time}", state=state,
                                 time=self.time(event.opened_at)))
                lines += ["", f"- {self.field(names, state)}{ref}{already}"]
                lines += [f"  {self.check_line(c, event)}" for c in event.checks]
            if event.incident_url:
                lines.append("  " + self.field(_("Incident page"), event.incident_url))
            lines += [f"  {self.link(link)}" for link in event.links]
            status_url = status_url or event.status_page_url
        if self.status_url(status_url):
            lines += ["", self.field(_("Status page"), self.status_url(status_url))]
        return lines

    # Maintenance and system alerts -----------------------------------------------------

    def maintenance_title(self, event: MaintenanceEvent) -> str:
        emoji = {"announced": "📅", "started": "🔧", "ended": "✅",
                 "cancelled": "🚫"}.get(event.kind, "🔧")
        what = self.say(MAINTENANCE_KINDS.get(event.kind, MAINTENANCE_KINDS["started"]))
        return f"{emoji} {self.field(what, self.say(event.title))}"

    def maintenance_body(self, event: MaintenanceEvent) -> list[str]:
        lines = []
        if event.services:
            lines.append(self.service_line(event.services))
        lines.append(self.field(_("Planned start") if event.kind == "cancelled"
                                else _("Start"), self.time(event.starts_at)))
        lines.append(self.field(_("End") if event.kind == "ended" else _("Planned end"),
                                self.time(event.ends_at)))
        if event.kind == "cancelled" and event.cancelled_at is not None:
            lines.append(self.field(_("Cancelled"), self.time(event.cancelled_at)))
        message = self.say(event.message)
        if message:
            lines += ["", message]
        if self.status_url(event.status_page_url):
            lines += ["", self.field(_("Status page"), self.status_url(event.status_page_url))]
        return lines

    def system_title(self, alert: SystemAlert) -> str:
        emoji = SEVERITY_EMOJI.get(alert.severity, "🟠")
        title = self.say(alert.title) or self.say(_("Vigie alert"))
        return f"{emoji} {title}"

    def system_body(self, alert: SystemAlert) -> list[str]:
        lines = [self.say(alert.message)] if alert.message.fr else []
        if alert.service_id:
            name = self.ctx.service_names.get(alert.service_id)
            lines.append(self.field(_("Service"), name.say(self.lang) if name else
                                    alert.service_id))
        lines.append(self.field(_("When"), self.time(alert.at)))
        if alert.details:
            lines += ["", self.heading(_("Details"))]
            lines += [f"- {self.field(key, value)}" for key, value in alert.details.items()]
        lines += ["", self.field(_("Code"), alert.code)]
        if self.ctx.public_url:
            lines.append(self.field(_("Status page"), self.ctx.public_url))
        return lines


def _compose(ctx: MessageContext, title, body) -> tuple[str, str]:
    """Title in the first language; the body in each language, the first one first."""
    writers = [_Writer(lang, ctx) for lang in ctx.languages]
    blocks = []
    for index, writer in enumerate(writers):
        lines = body(writer)
        if index:  # the other languages repeat their own title at the top of their block
            lines = [title(writer), "", *lines]
        blocks.append("\n".join(lines).strip("\n"))
    return title(writers[0]), "\n\n———\n\n".join(blocks)


def _recovered(now: StateNow | None) -> bool:
    return now is not None and now.recovered


def _impact_now(event: IncidentEvent, now: StateNow | None) -> str:
    return now.status if now is not None else event.impact


def _type_now(event: IncidentEvent, now: StateNow | None) -> str:
    """Apprise's type from the state at sending time (success once recovered)."""
    if now is None:
        return notify_type(event)
    if now.recovered:
        return "success"
    return NOTIFY_TYPES[IMPACT_SEVERITY.get(now.status, "warning")]


def incident_message(event: IncidentEvent, ctx: MessageContext,
                     now: StateNow | None = None) -> Message:
    """The alert for an incident opened, updated, still open (reminder) or resolved;
    ``now`` is its state at sending time when it differs from the event's impact."""
    title, body = _compose(ctx, lambda w: w.incident_title(event, now),
                           lambda w: w.incident_body(event, now))
    return Message(title, body, _type_now(event, now))


def storm_message(events: Sequence[IncidentEvent], reported: set[int], window: float,
                  ctx: MessageContext,
                  nows: Mapping[int, StateNow | None] | None = None) -> Message:
    """One alert for several incidents opened together; ``reported`` holds the incident
    ids already announced on their own, ``nows`` the state at sending time of those whose
    state changed since (by incident id)."""
    nows = nows or {}
    title, body = _compose(ctx, lambda w: w.storm_title(events, nows),
                           lambda w: w.storm_body(events, reported, window, nows))
    worst = min((_type_now(e, nows.get(e.incident_id)) for e in events),
                key=lambda t: ("failure", "warning", "info", "success").index(t))
    return Message(title, body, worst)


def maintenance_message(event: MaintenanceEvent, ctx: MessageContext) -> Message:
    """The alert for a maintenance window announced, started, ended or cancelled."""
    title, body = _compose(ctx, lambda w: w.maintenance_title(event),
                           lambda w: w.maintenance_body(event))
    return Message(title, body, notify_type(event))


def system_message(alert: SystemAlert, ctx: MessageContext) -> Message:
    """The alert about Vigie itself or an early warning (a certificate expiring)."""
    title, body = _compose(ctx, lambda w: w.system_title(alert),
                           lambda w: w.system_body(alert))
    return Message(title, body, notify_type(alert))


def message_for(event: IncidentEvent | MaintenanceEvent | SystemAlert,
                ctx: MessageContext, now: StateNow | None = None) -> Message:
    """The message for any event the notifier receives; ``now``: an incident's state at
    sending time (see :func:`incident_message`)."""
    if isinstance(event, IncidentEvent):
        return incident_message(event, ctx, now)
    if isinstance(event, MaintenanceEvent):
        return maintenance_message(event, ctx)
    return system_message(event, ctx)
