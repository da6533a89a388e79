"""What a ticket says: the title, and the notes volunteers read (plain text, French).

The opening note holds the evidence: the services and their status, each failing check
with its reason (French and English) and since when, and every link (guides, forum topic,
status page). Each text ends with a marker line naming the incident reference and the
event's idempotency key, so that an adapter can recognise a note it already posted.
"""

from __future__ import annotations

from docs_bridge import french
from monitor.notifications import IncidentEvent

MAX_TITLE = 200


def ticket_title(event: IncidentEvent) -> str:
    """``[INC-2026-0042] Nextcloud indisponible``: the reference is what a lookup searches."""
    return f"[{event.reference}] {event.title_fr}"[:MAX_TITLE]


def marker(event: IncidentEvent) -> str:
    """The last line of every text Vigie posts for ``event``."""
    return f"-- Vigie · {event.reference} · {event.idempotency_key}"


def _checks(event: IncidentEvent, zone: str) -> list[str]:
    lines = []
    for check in event.checks:
        since = f", depuis le {french.when(check.since, zone)}" if check.since else ""
        lines += [f"- {check.service_id}/{check.check_id} ({check.kind}) : "
                  f"{french.status(check.status)}{since}",
                  f"    {check.reason_fr}",
                  f"    ({check.reason_en})"]
    return lines


def _links(event: IncidentEvent) -> list[str]:
    lines = [f"- {link.kind} : {link.title} — {link.url}" for link in event.links
             if link.url and link.kind != "ticket"]
    if event.incident_url:
        lines.append(f"- incident : {event.incident_url}")
    if event.status_page_url:
        lines.append(f"- page d'état : {event.status_page_url}")
    return lines


def opening_note(event: IncidentEvent, zone: str = "Europe/Paris") -> str:
    """The internal note a ticket is opened with: everything known so far."""
    lines = [f"Incident {event.reference} ({'automatique' if event.automatic else 'ouvert à la main'})",
             f"Impact : {french.impact(event.impact)} — {french.phase(event.phase)}",
             f"Ouvert le {french.when(event.opened_at, zone)}", "",
             "Services :",
             *(f"- {s.name_fr} ({s.id}) : {french.impact(s.status)}" for s in event.services)]
    checks = _checks(event, zone)
    if checks:
        lines += ["", "Vérifications en échec :", *checks]
    if event.message_fr:
        lines += ["", "Message :", event.message_fr]
    links = _links(event)
    if links:
        lines += ["", "Liens :", *links]
    return "\n".join(lines + ["", marker(event)])


def update_note(event: IncidentEvent, zone: str = "Europe/Paris") -> str:
    """A follow-up note: the new impact, phase, message and failing checks."""
    lines = [f"Mise à jour du {french.when(event.at, zone)} : {french.impact(event.impact)} — "
             f"{french.phase(event.phase)}"]
    if event.message_fr:
        lines += ["", event.message_fr]
    checks = _checks(event, zone)
    if checks:
        lines += ["", "Vérifications en échec :", *checks]
    return "\n".join(lines + ["", marker(event)])


def resolution_note(event: IncidentEvent, zone: str = "Europe/Paris") -> str:
    """The closing note."""
    ended = event.resolved_at or event.at
    lines = [f"Résolu le {french.when(ended, zone)}, après "
             f"{french.duration(ended - event.opened_at)}."]
    if event.message_fr:
        lines += ["", event.message_fr]
    return "\n".join(lines + ["", marker(event)])
