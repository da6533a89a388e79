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

from monitor.notifications import IncidentEvent, Link, MaintenanceEvent, SystemAlert
from plugins.notify_apprise.live import StateNow
from plugins.notify_apprise.routing import IMPACT_SEVERITY, NOTIFY_TYPES, notify_type

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
             "Dec")

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "degraded": "dégradé", "partial_outage": "panne partielle",
        "major_outage": "panne majeure", "maintenance": "en maintenance",
        "operational": "opérationnel", "unknown": "état inconnu",
        "investigating": "recherche de la cause", "identified": "cause identifiée",
        "monitoring": "correctif appliqué, sous surveillance", "resolved": "résolu",
        "sep": " : ", "service": "Service", "services": "Services", "group": "groupe",
        "state": "État", "since": "Depuis", "phase": "Suivi", "reference": "Référence",
        "failing": "Vérifications en échec", "was_failing": "Ce qui échouait",
        "links": "Liens", "message": "Message",
        "incident": "Page de l'incident", "status_page": "Page d'état",
        "private": " (réservé aux bénévoles)", "guide": "Guide", "forum": "Forum",
        "ticket": "Ticket", "update": "mise à jour",
        "reminder": "toujours en cours depuis {duration}",
        "resolved_title": "rétabli après {duration}",
        "resolved_state": "rétabli (c'était : {impact})",
        "recovered_title": "{impact}, déjà rétabli",
        "recovered_since": "rétabli depuis {time} ; c'était : {impact}",
        "recovered": "rétabli ; c'était : {impact}",
        "changed": "{now} (c'était : {impact})",
        "period": "Du {start} au {end}, soit {duration}",
        "storm_title": "{count} services en panne en même temps",
        "storm_recovered_one": ", {count} déjà rétabli",
        "storm_recovered_other": ", {count} déjà rétablis",
        "storm_intro": "{count} services sont tombés en panne en moins de {window} ; "
                       "ce message les regroupe.",
        "already": " (déjà signalé)",
        "m.announced": "Maintenance prévue", "m.started": "Maintenance en cours",
        "m.ended": "Maintenance terminée", "starts": "Début", "ends": "Fin prévue",
        "ended": "Fin", "when": "Quand", "details": "Détails", "code": "Code",
        "system": "Alerte de Vigie",
        "lt_minute": "moins d'une minute",
    },
    "en": {
        "degraded": "degraded", "partial_outage": "partial outage",
        "major_outage": "major outage", "maintenance": "under maintenance",
        "operational": "operational", "unknown": "unknown state",
        "investigating": "investigating", "identified": "cause identified",
        "monitoring": "fix applied, monitoring", "resolved": "resolved",
        "sep": ": ", "service": "Service", "services": "Services", "group": "group",
        "state": "State", "since": "Since", "phase": "Progress", "reference": "Reference",
        "failing": "Failing checks", "was_failing": "What was failing",
        "links": "Links", "message": "Message",
        "incident": "Incident page", "status_page": "Status page",
        "private": " (volunteers only)", "guide": "Guide", "forum": "Forum",
        "ticket": "Ticket", "update": "update",
        "reminder": "still going on after {duration}",
        "resolved_title": "back to normal after {duration}",
        "resolved_state": "back to normal (was: {impact})",
        "recovered_title": "{impact}, already back to normal",
        "recovered_since": "back to normal since {time}; was: {impact}",
        "recovered": "back to normal; was: {impact}",
        "changed": "{now} (was: {impact})",
        "period": "From {start} to {end}, {duration}",
        "storm_title": "{count} services down at once",
        "storm_recovered_one": ", {count} already back to normal",
        "storm_recovered_other": ", {count} already back to normal",
        "storm_intro": "{count} services went down within {window}; this message "
                       "groups them.",
        "already": " (already reported)",
        "m.announced": "Maintenance planned", "m.started": "Maintenance started",
        "m.ended": "Maintenance over", "starts": "Start", "ends": "Planned end",
        "ended": "End", "when": "When", "details": "Details", "code": "Code",
        "system": "Vigie alert",
        "lt_minute": "less than a minute",
    },
}

IMPACT_EMOJI = {"major_outage": "🔴", "partial_outage": "🟠", "degraded": "🟡",
                "maintenance": "🔧", "unknown": "⚪"}
SEVERITY_EMOJI = {"critical": "🔴", "warning": "🟠", "info": "ℹ️", "success": "✅"}
_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2, "success": 3}


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
    #: group id → {"fr": name, "en": name}
    group_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: service id → {"fr": name, "en": name} (system alerts carry only the id)
    service_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


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
    """``45 min``, ``2 h 05`` (``2 h 5 min``), ``3 j 4 h`` (``3 d 4 h``)."""
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return TEXTS[lang]["lt_minute"]
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if not minutes:
            return f"{hours} h"
        return f"{hours} h {minutes:02d}" if lang == "fr" else f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    day = "j" if lang == "fr" else "d"
    return f"{days} {day} {hours} h" if hours else f"{days} {day}"


class _Writer:
    """Builds one language's block of a message."""

    def __init__(self, lang: str, ctx: MessageContext) -> None:
        self.lang, self.ctx, self.t = lang, ctx, TEXTS[lang]

    def time(self, at: float) -> str:
        return format_time(at, self.lang, self.ctx.timezone)

    def duration(self, seconds: float) -> str:
        return format_duration(seconds, self.lang)

    def field(self, label: str, value: str) -> str:
        return f"{self.t[label]}{self.t['sep']}{value}"

    def pick(self, fr: str, en: str) -> str:
        return en if self.lang == "en" and en else fr

    def service_names(self, services) -> str:
        return ", ".join(self.pick(s.name_fr, s.name_en) for s in services)

    def service_line(self, services) -> str:
        parts = []
        for s in services:
            name = self.pick(s.name_fr, s.name_en)
            group = self.ctx.group_names.get(s.group or "", {}).get(self.lang) or s.group
            parts.append(f"{name} ({self.t['group']} {group})" if group else name)
        return self.field("services" if len(services) > 1 else "service", ", ".join(parts))

    def link(self, link: Link) -> str:
        kind = self.t[link.kind] if link.kind in ("guide", "forum", "ticket") \
            else link.kind.capitalize()
        title = f"« {link.title} »" if self.lang == "fr" else f"“{link.title}”"
        private = "" if link.public else self.t["private"]
        return f"{kind} {title}{private}{self.t['sep']}{link.url}"

    def status_url(self, url: str | None) -> str | None:
        return url or self.ctx.public_url

    def state(self, event: IncidentEvent, now: StateNow | None) -> str:
        """The incident's state: its impact, or what it is now and what it was."""
        impact = self.t.get(event.impact, event.impact)
        if now is None:
            return impact
        if now.recovered:
            if now.since is None:
                return self.t["recovered"].format(impact=impact)
            return self.t["recovered_since"].format(time=self.time(now.since), impact=impact)
        return self.t["changed"].format(now=self.t.get(now.status, now.status), impact=impact)

    # Incidents -------------------------------------------------------------------------

    def incident_title(self, event: IncidentEvent, now: StateNow | None = None) -> str:
        names = self.service_names(event.services) or self.pick(event.title_fr, event.title_en)
        impact = self.t.get(event.impact, event.impact)
        sep = self.t["sep"]
        if event.kind == "resolved":
            end = event.resolved_at or event.at
            ended = self.t["resolved_title"].format(duration=self.duration(end - event.opened_at))
            return f"✅ {names}{sep}{ended}"
        update = f" ({self.t['update']})" if event.kind == "updated" else ""
        if now is not None and now.recovered:
            return f"✅ {names}{sep}{self.t['recovered_title'].format(impact=impact)}{update}"
        current = now.status if now is not None else event.impact
        emoji = IMPACT_EMOJI.get(current, "⚪")
        impact = self.t.get(current, current)
        if event.kind == "reminder":
            still = self.t["reminder"].format(duration=self.duration(event.at - event.opened_at))
            return f"⏰ {names}{sep}{impact}, {still}"
        return f"{emoji} {names}{sep}{impact}{update}"

    def incident_body(self, event: IncidentEvent, now: StateNow | None = None) -> list[str]:
        lines = []
        title = self.pick(event.title_fr, event.title_en)
        if title:
            lines.append(title)
        if event.services:
            lines.append(self.service_line(event.services))
        impact = self.t.get(event.impact, event.impact)
        if event.kind == "resolved":
            end = event.resolved_at or event.at
            lines.append(self.field("state", self.t["resolved_state"].format(impact=impact)))
            lines.append(self.t["period"].format(start=self.time(event.opened_at),
                                                 end=self.time(end),
                                                 duration=self.duration(end - event.opened_at)))
        else:
            lines.append(self.field("state", self.state(event, now)))
            lines.append(self.field("since", self.time(event.opened_at)))
        lines.append(self.field("phase", self.t.get(event.phase, event.phase)))
        if event.reference:
            lines.append(self.field("reference", event.reference))
        message = self.pick(event.message_fr, event.message_en)
        if message:
            lines += ["", self.field("message", message)]
        if event.checks:
            over = event.kind == "resolved" or (now is not None and now.recovered)
            label = "was_failing" if over else "failing"
            lines += ["", self.t[label] + self.t["sep"].rstrip()]
            lines += [self.check_line(check, event) for check in event.checks]
        lines += self.links(event.incident_url, event.status_page_url, event.links)
        return lines

    def check_line(self, check, event: IncidentEvent) -> str:
        name = self.pick(check.name_fr, check.name_en)
        if len(event.services) > 1:  # say which service the check belongs to
            owner = next((s for s in event.services if s.id == check.service_id), None)
            name = f"{self.pick(owner.name_fr, owner.name_en) if owner else check.service_id}" \
                   f" › {name}"
        since = f", {self.t['since'].lower()} {self.time(check.since)}" if check.since else ""
        return f"- {name}{self.t['sep']}{self.pick(check.reason_fr, check.reason_en)}{since}"

    def links(self, incident_url: str | None, status_url: str | None,
              links: Sequence[Link]) -> list[str]:
        out = []
        if incident_url:
            out.append(f"- {self.field('incident', incident_url)}")
        if self.status_url(status_url):
            out.append(f"- {self.field('status_page', self.status_url(status_url))}")
        out += [f"- {self.link(link)}" for link in links]
        return ["", self.t["links"] + self.t["sep"].rstrip(), *out] if out else []

    # Storms ----------------------------------------------------------------------------

    def storm_title(self, events: Sequence[IncidentEvent],
                    nows: Mapping[int, StateNow | None]) -> str:
        title = self.t["storm_title"].format(count=len(events))
        recovered = sum(1 for e in events if _recovered(nows.get(e.incident_id)))
        if recovered:
            key = "storm_recovered_one" if recovered == 1 else "storm_recovered_other"
            title += self.t[key].format(count=recovered)
        impacts = [_impact_now(e, nows.get(e.incident_id)) for e in events
                   if not _recovered(nows.get(e.incident_id))]
        if not impacts:
            return f"✅ {title}"
        worst = min(impacts, key=lambda i: _SEVERITY_RANK[IMPACT_SEVERITY.get(i, "warning")])
        return f"{IMPACT_EMOJI.get(worst, '⚪')} {title}"

    def storm_body(self, events: Sequence[IncidentEvent], reported: set[int],
                   window: float, nows: Mapping[int, StateNow | None]) -> list[str]:
        lines = [self.t["storm_intro"].format(count=len(events),
                                              window=self.duration(max(window, 60)))]
        status_url = None
        for event in events:
            names = self.service_names(event.services) or self.pick(event.title_fr,
                                                                     event.title_en)
            now = nows.get(event.incident_id)
            state = self.state(event, now)
            ref = f" — {event.reference}" if event.reference else ""
            already = self.t["already"] if event.incident_id in reported else ""
            if _recovered(now):  # what failed is history: the resolved alert recalls it
                lines += ["", f"- {names}{self.t['sep']}{state}{ref}{already}"]
            else:
                since = f"{self.t['since'].lower()} {self.time(event.opened_at)}"
                lines += ["", f"- {names}{self.t['sep']}{state}, {since}{ref}{already}"]
                lines += [f"  {self.check_line(c, event)}" for c in event.checks]
            if event.incident_url:
                lines.append(f"  {self.field('incident', event.incident_url)}")
            lines += [f"  {self.link(link)}" for link in event.links]
            status_url = status_url or event.status_page_url
        if self.status_url(status_url):
            lines += ["", self.field("status_page", self.status_url(status_url))]
        return lines

    # Maintenance and system alerts -----------------------------------------------------

    def maintenance_title(self, event: MaintenanceEvent) -> str:
        emoji = {"announced": "📅", "started": "🔧", "ended": "✅"}.get(event.kind, "🔧")
        what = self.t.get(f"m.{event.kind}", self.t["m.started"])
        return f"{emoji} {what}{self.t['sep']}{self.pick(event.title_fr, event.title_en)}"

    def maintenance_body(self, event: MaintenanceEvent) -> list[str]:
        lines = []
        if event.services:
            lines.append(self.service_line(event.services))
        lines.append(self.field("starts", self.time(event.starts_at)))
        lines.append(self.field("ended" if event.kind == "ended" else "ends",
                                self.time(event.ends_at)))
        message = self.pick(event.message_fr, event.message_en)
        if message:
            lines += ["", message]
        if self.status_url(event.status_page_url):
            lines += ["", self.field("status_page", self.status_url(event.status_page_url))]
        return lines

    def system_title(self, alert: SystemAlert) -> str:
        emoji = SEVERITY_EMOJI.get(alert.severity, "🟠")
        return f"{emoji} {self.pick(alert.title_fr, alert.title_en) or self.t['system']}"

    def system_body(self, alert: SystemAlert) -> list[str]:
        lines = [self.pick(alert.message_fr, alert.message_en)] if alert.message_fr else []
        if alert.service_id:
            names = self.ctx.service_names.get(alert.service_id, {})
            lines.append(self.field("service", names.get(self.lang) or alert.service_id))
        lines.append(self.field("when", self.time(alert.at)))
        if alert.details:
            lines += ["", self.t["details"] + self.t["sep"].rstrip()]
            lines += [f"- {key}{self.t['sep']}{value}" for key, value in alert.details.items()]
        lines += ["", self.field("code", alert.code)]
        if self.ctx.public_url:
            lines.append(self.field("status_page", self.ctx.public_url))
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
    """The alert for a maintenance window announced, started or ended."""
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
