"""The texts Vigie posts on the forum: a topic per incident, its updates, its end, in the
forum's language (French unless told otherwise), from the catalogues (:mod:`monitor.words`).

Written for members: what is affected, since when, what is known, where to look (the
status page, the guides). Markdown, as Discourse expects in ``raw``. The forum is public:
a check's reason that quotes outside text (a plugin's output, a server's error) is
replaced by a generic sentence (:meth:`monitor.notifications.CheckSnapshot.public_reason`).
"""

from __future__ import annotations

import re

from docs_bridge import french
from monitor.api import IncidentEvent, Words, _, duration, say, say_n, terms
from docs_bridge.guides import GUIDE_LINK_KIND

#: Discourse's default minimum title length
MIN_TITLE = 15
MAX_TITLE = 200


def topic_title(event: IncidentEvent, lang: str = "fr") -> str:
    """``[INC-2026-0042] Nextcloud indisponible``: the reference keeps titles unique (a
    Discourse rule) and lets volunteers search for it."""
    title = f"[{event.reference}] {event.title.say(lang)}".strip()
    if len(title) < MIN_TITLE:
        title = say(lang, "{title} — incident in progress", title=title)
    return title[:MAX_TITLE]


def _field(lang: str, label: str, value: str) -> str:
    return say(lang, "{label}: {value}", label=label, value=value)


def _heading(lang: str, label: Words) -> str:
    return f"**{say(lang, '{label}:', label=label)}**"


def _services(event: IncidentEvent, lang: str) -> list[str]:
    lines = []
    for service in event.services:
        name = f"**{service.name.say(lang)}**"
        lines.append(f"- {_field(lang, name, _said(terms.impact(service.status), lang))}")
    return lines


def _known(event: IncidentEvent, zone: str, lang: str) -> list[str]:
    lines = []
    for check in event.checks:
        reason = check.public_reason().say(lang)
        if check.since:
            reason = say(lang, "{reason} (since {when})", reason=reason,
                         when=french.when(check.since, zone, lang))
        lines.append(f"- {_field(lang, check.name.say(lang), reason)}")
    return lines


def _guides(event: IncidentEvent, lang: str) -> list[str]:
    guides = [link for link in event.links if link.kind == GUIDE_LINK_KIND and link.public]
    if not guides:
        return []
    return ["", _heading(lang, _("Useful guides")),
            *(f"- [{_link_text(g.title)}]({_link_url(g.url)})" for g in guides)]


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


def _follow(event: IncidentEvent, lang: str) -> list[str]:
    where = []
    if event.incident_url:
        where.append("[{}]({})".format(say(lang, "the incident page"), event.incident_url))
    if event.status_page_url:
        where.append("[{}]({})".format(say(lang, "the status page"), event.status_page_url))
    if not where:
        return []
    pages = where[0] if len(where) == 1 else say(lang, "{first} and {second}", first=where[0],
                                                 second=where[1])
    return ["", say(lang, "Follow its progress on {pages}.", pages=pages)]


def _footer(event: IncidentEvent, lang: str) -> list[str]:
    kept = say(lang, "Topic kept up to date automatically by Vigie — ref. {reference}.",
               reference=event.reference)
    return ["", f"<small>{kept}</small>"]


def _message(event: IncidentEvent, lang: str) -> str:
    return event.message.say(lang) if event.message.fr else ""


def topic_body(event: IncidentEvent, zone: str, lang: str = "fr") -> str:
    """The first post of an incident's topic."""
    impact = terms.sentence_case(_said(terms.impact(event.impact), lang))
    lines = [say(lang, "**{impact}** since {when} — {phase}.", impact=impact,
                 when=french.when(event.opened_at, zone, lang), phase=terms.phase(event.phase)),
             "", _heading(lang, _("Affected services")), *_services(event, lang)]
    known = _known(event, zone, lang)
    message = _message(event, lang)
    if known or message:
        lines += ["", _heading(lang, _("What we know")), *known]
        if message:
            lines += ["", message]
    lines += _guides(event, lang) + _follow(event, lang) + _footer(event, lang)
    return "\n".join(lines)


def update_body(event: IncidentEvent, zone: str, lang: str = "fr") -> str:
    """A reply for an update of the incident."""
    lines = [say(lang, "**Update of {when}** — {phase}, {impact}.",
                 when=french.when(event.at, zone, lang), phase=terms.phase(event.phase),
                 impact=terms.impact(event.impact)), ""]
    message = _message(event, lang)
    if message:
        lines += [message, ""]
    lines += [_heading(lang, _("Services")), *_services(event, lang)]
    known = _known(event, zone, lang)
    if known:
        lines += ["", *known]
    return "\n".join(lines + _follow(event, lang) + _footer(event, lang))


def resolution_body(event: IncidentEvent, zone: str, lang: str = "fr") -> str:
    """The last reply, when the incident is resolved."""
    ended = event.resolved_at or event.at
    names = ", ".join(s.name.say(lang) for s in event.services)
    count = len(event.services) if names else 2
    lines = [say_n(lang, "**Resolved on {when}**: {names} is working normally again (the "
                   "incident lasted {duration}).", "**Resolved on {when}**: {names} are working "
                   "normally again (the incident lasted {duration}).", count,
                   when=french.when(ended, zone, lang),
                   names=names or say(lang, "The services"),
                   duration=duration(ended - event.opened_at)), ""]
    message = _message(event, lang)
    if message:
        lines += [message, ""]
    lines.append(say(lang, "If the problem persists on your side, say so here."))
    return "\n".join(lines + _follow(event, lang) + _footer(event, lang))


def _said(words: Words | str, lang: str) -> str:
    return words.say(lang) if isinstance(words, Words) else words
