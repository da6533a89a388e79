"""What a ticket says: the title, and the notes volunteers read (plain text), in the
helpdesk's language (French unless told otherwise), from the catalogues
(:mod:`monitor.words`).

The opening note holds the evidence: the services and their status, each failing check
with its reason and since when, and every link (guides, forum topic, status page). Each
text ends with a marker line naming the incident reference and the event's idempotency
key, so that an adapter can recognise a note it already posted.
"""

from __future__ import annotations

from docs_bridge import french
from monitor.api import IncidentEvent, Words, _, duration, say, terms

MAX_TITLE = 200


def ticket_title(event: IncidentEvent, lang: str = "fr") -> str:
    """``[INC-2026-0042] Nextcloud indisponible``: the reference is what a lookup searches."""
    return f"[{event.reference}] {event.title.say(lang)}"[:MAX_TITLE]


def marker(event: IncidentEvent) -> str:
    """The last line of every text Vigie posts for ``event``."""
    return f"-- Vigie · {event.reference} · {event.idempotency_key}"


def _field(lang: str, label: Words | str, value: str) -> str:
    return say(lang, "{label}: {value}", label=label, value=value)


def _heading(lang: str, label: Words) -> str:
    return say(lang, "{label}:", label=label)


def _checks(event: IncidentEvent, zone: str, lang: str) -> list[str]:
    lines = []
    for check in event.checks:
        state = terms.check_status(check.status)
        state = state.say(lang) if isinstance(state, Words) else state
        if check.since:
            state = say(lang, "{state}, since {time}", state=state,
                        time=french.when(check.since, zone, lang))
        name = f"{check.service_id}/{check.check_id} ({check.kind})"
        lines += [f"- {_field(lang, name, state)}",
                  f"    {check.reason.say(lang)}"]
    return lines


def _links(event: IncidentEvent, lang: str) -> list[str]:
    lines = [f"- {_field(lang, link.kind, f'{link.title} — {link.url}')}" for link in event.links
             if link.url and link.kind != "ticket"]
    if event.incident_url:
        lines.append("- " + _field(lang, _("Incident page"), event.incident_url))
    if event.status_page_url:
        lines.append("- " + _field(lang, _("Status page"), event.status_page_url))
    return lines


def _services(event: IncidentEvent, lang: str) -> list[str]:
    lines = []
    for service in event.services:
        name = f"{service.name.say(lang)} ({service.id})"
        lines.append(f"- {_field(lang, name, _said(terms.impact(service.status), lang))}")
    return lines


def _message(event: IncidentEvent, lang: str) -> str:
    return event.message.say(lang) if event.message.fr else ""


def opening_note(event: IncidentEvent, zone: str = "Europe/Paris", lang: str = "fr") -> str:
    """The internal note a ticket is opened with: everything known so far."""
    how = _("Incident {reference} (automatic)") if event.automatic \
        else _("Incident {reference} (opened by hand)")
    lines = [how.with_params(reference=event.reference).say(lang),
             say(lang, "Impact: {impact} — {phase}", impact=terms.impact(event.impact),
                 phase=terms.phase(event.phase)),
             say(lang, "Opened on {when}", when=french.when(event.opened_at, zone, lang)), "",
             _heading(lang, _("Services")),
             *_services(event, lang)]
    checks = _checks(event, zone, lang)
    if checks:
        lines += ["", _heading(lang, _("Failing checks")), *checks]
    message = _message(event, lang)
    if message:
        lines += ["", _heading(lang, _("Message")), message]
    links = _links(event, lang)
    if links:
        lines += ["", _heading(lang, _("Links")), *links]
    return "\n".join(lines + ["", marker(event)])


def update_note(event: IncidentEvent, zone: str = "Europe/Paris", lang: str = "fr") -> str:
    """A follow-up note: the new impact, phase, message and failing checks."""
    lines = [say(lang, "Update of {when}: {impact} — {phase}",
                 when=french.when(event.at, zone, lang), impact=terms.impact(event.impact),
                 phase=terms.phase(event.phase))]
    message = _message(event, lang)
    if message:
        lines += ["", message]
    checks = _checks(event, zone, lang)
    if checks:
        lines += ["", _heading(lang, _("Failing checks")), *checks]
    return "\n".join(lines + ["", marker(event)])


def resolution_note(event: IncidentEvent, zone: str = "Europe/Paris", lang: str = "fr") -> str:
    """The closing note."""
    ended = event.resolved_at or event.at
    lines = [say(lang, "Resolved on {when}, after {duration}.",
                 when=french.when(ended, zone, lang), duration=duration(ended - event.opened_at))]
    message = _message(event, lang)
    if message:
        lines += ["", message]
    return "\n".join(lines + ["", marker(event)])


def _said(words: Words | str, lang: str) -> str:
    return words.say(lang) if isinstance(words, Words) else words
