"""The French texts Vigie posts on the forum: a topic per incident, its updates, its end.

Written for members: what is affected, since when, what is known, where to look (the
status page, the guides). Markdown, as Discourse expects in ``raw``. The forum is public:
a check's reason that quotes outside text (a plugin's output, a server's error) is
replaced by a generic sentence (:meth:`monitor.notifications.CheckSnapshot.public_reason`).
"""

from __future__ import annotations

import re

from docs_bridge import french
from docs_bridge.guides import GUIDE_LINK_KIND
from monitor.notifications import IncidentEvent

#: Discourse's default minimum title length
MIN_TITLE = 15
MAX_TITLE = 200


def topic_title(event: IncidentEvent) -> str:
    """``[INC-2026-0042] Nextcloud indisponible``: the reference keeps titles unique (a
    Discourse rule) and lets volunteers search for it."""
    title = f"[{event.reference}] {event.title_fr}".strip()
    if len(title) < MIN_TITLE:
        title = f"{title} — incident en cours"
    return title[:MAX_TITLE]


def _services(event: IncidentEvent) -> list[str]:
    return [f"- **{s.name_fr}** : {french.impact(s.status)}" for s in event.services]


def _known(event: IncidentEvent, zone: str) -> list[str]:
    lines = []
    for check in event.checks:
        since = f" (depuis le {french.when(check.since, zone)})" if check.since else ""
        lines.append(f"- {check.name_fr} : {check.public_reason()[0]}{since}")
    return lines


def _guides(event: IncidentEvent) -> list[str]:
    guides = [link for link in event.links if link.kind == GUIDE_LINK_KIND and link.public]
    if not guides:
        return []
    return ["", "**Guides utiles :**", *(f"- [{_link_text(g.title)}]({_link_url(g.url)})"
                                         for g in guides)]


#: characters that mean something in Markdown (or HTML, which Discourse also reads)
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+!|~&])")
_URL_UNSAFE = {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E"}


def _link_text(title: str) -> str:
    """A guide's title (outside text: a BookStack page's name) as literal link text: its
    Markdown and HTML characters escaped, so it can neither close the link nor add one."""
    return _MARKDOWN.sub(r"\\\1", title)


def _link_url(url: str) -> str:
    """A link's address with the characters that would end a Markdown link encoded."""
    return "".join(_URL_UNSAFE.get(ch, ch) for ch in url)


def _follow(event: IncidentEvent) -> list[str]:
    where = []
    if event.incident_url:
        where.append(f"[la page de l'incident]({event.incident_url})")
    if event.status_page_url:
        where.append(f"[la page d'état des services]({event.status_page_url})")
    return ["", f"Suivez l'évolution sur {' et '.join(where)}."] if where else []


def _footer(event: IncidentEvent) -> list[str]:
    return ["", f"<small>Sujet tenu à jour automatiquement par Vigie — réf. "
                f"{event.reference}.</small>"]


def topic_body(event: IncidentEvent, zone: str) -> str:
    """The first post of an incident's topic."""
    lines = [f"**{french.impact(event.impact).capitalize()}** depuis le "
             f"{french.when(event.opened_at, zone)} — {french.phase(event.phase)}.", "",
             "**Services touchés :**", *_services(event)]
    known = _known(event, zone)
    if known or event.message_fr:
        lines += ["", "**Ce que nous savons :**", *known]
        if event.message_fr:
            lines += ["", event.message_fr]
    lines += _guides(event) + _follow(event) + _footer(event)
    return "\n".join(lines)


def update_body(event: IncidentEvent, zone: str) -> str:
    """A reply for an update of the incident."""
    lines = [f"**Mise à jour du {french.when(event.at, zone)}** — {french.phase(event.phase)}, "
             f"{french.impact(event.impact)}.", ""]
    if event.message_fr:
        lines += [event.message_fr, ""]
    lines += ["**Services :**", *_services(event)]
    known = _known(event, zone)
    if known:
        lines += ["", *known]
    return "\n".join(lines + _follow(event) + _footer(event))


def resolution_body(event: IncidentEvent, zone: str) -> str:
    """The last reply, when the incident is resolved."""
    ended = event.resolved_at or event.at
    names = ", ".join(s.name_fr for s in event.services) or "Les services"
    lines = [f"**Résolu le {french.when(ended, zone)}** : {names} "
             f"{'fonctionne' if len(event.services) == 1 else 'fonctionnent'} de nouveau "
             f"normalement (durée de l'incident : {french.duration(ended - event.opened_at)}).",
             ""]
    if event.message_fr:
        lines += [event.message_fr, ""]
    lines.append("Si le problème persiste de votre côté, dites-le ici.")
    return "\n".join(lines + _follow(event) + _footer(event))
