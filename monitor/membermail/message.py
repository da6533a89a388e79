"""What a subscriber reads: the confirmation of a subscription, and the incident and
maintenance news of the services they follow, in their language, text and HTML.

**Public wording only.** A member mail says what the status page says and nothing else:
the incident's title, impact, phase and public messages (the timeline's words, which
already replace a reason quoting outside text, :meth:`monitor.probe.Reason.for_public`),
the public links (guides, forum topics), the maintenance window's title, times and
message. Never the checks' reasons (``event.checks``: volunteers' sentences), a private
link (``Link.public`` false: a helpdesk ticket), or a volunteers' note (a private update
writes no event at all).

**Threads.** Every mail of one incident (one maintenance occurrence) to one subscriber
belongs to one thread: the first (``opened``, ``announced``) has the thread's root
``Message-ID``, the later ones (an occurrence's reminder, start, end or cancellation)
point to it (``In-Reply-To``, ``References``). The ids are
computed, not looked up: the same subscriber, thread and event always give the same id,
so a mail sent again after a crash is the same message.

**Leaving.** Every mail carries the manage link (services, language, unsubscribe) and the
one-click unsubscribe of RFC 8058 (``List-Unsubscribe`` with the https address,
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``), plus ``Auto-Submitted``
(:mod:`monitor.mailmessage`). Links carry ``?lang=en`` for an English reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from html import escape

from monitor import markup, terms
from monitor.mailmessage import automatic_message, message_id
from monitor.notifications import IncidentEvent, Link, MaintenanceEvent, ServiceSnapshot
from monitor.words import Bilingual, Words, _, duration, moment, n_, say

#: the kinds that start a thread (their Message-ID is the thread's root)
THREAD_ROOTS = frozenset({"opened", "announced"})
#: service names written in a subject or a headline, at most (then "and N more")
NAMES_SHOWN = 4

#: the subject's first words, by event kind
SUBJECTS: dict[str, Words] = {
    "opened": _("Incident: {what}"),
    "updated": _("Incident update: {what}"),
    "resolved": _("Incident resolved: {what}"),
    "announced": _("Maintenance planned: {what}"),
    "reminder": _("Maintenance reminder: {what}"),
    "started": _("Maintenance started: {what}"),
    "ended": _("Maintenance over: {what}"),
    "cancelled": _("Maintenance cancelled: {what}"),
}
#: the mail's first sentence, by event kind
HEADLINES: dict[str, Words] = {
    "opened": _("An incident affects {services}."),
    "updated": _("News of the incident affecting {services}."),
    "resolved": _("The incident that affected {services} is resolved."),
    "announced": _("Maintenance is planned for {services}."),
    "reminder": _("Reminder: the maintenance planned for {services} starts on {start}."),
    "started": _("The maintenance planned for {services} has started."),
    "ended": _("The maintenance planned for {services} is over."),
    "cancelled": _("The maintenance planned for {services} on {start} is cancelled: it "
                   "will not take place."),
}


@dataclass(frozen=True, slots=True)
class Site:
    """Where member mails come from: the status page's address and title, the site's
    time zone, the sender (whose domain ends the Message-IDs)."""

    public_url: str
    title: Bilingual
    timezone: str
    sender: str
    #: how long a confirmation link is valid (said in the confirmation mail)
    confirm_within: float = 48 * 3600.0

    def url(self, path: str, lang: str) -> str:
        """``<public_url><path>``, with ``?lang=en`` for an English reader."""
        return in_language(f"{self.public_url.rstrip('/')}{path}", lang)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A subscriber as a mail needs them."""

    id: int
    email: str
    language: str
    manage_token: str


@dataclass(frozen=True, slots=True)
class Letter:
    """What one event says in one language, before it is addressed: the subject, the
    text and the HTML body (the footer with the subscriber's own links comes after)."""

    subject: str
    text: str
    html: str


def in_language(url: str, lang: str) -> str:
    """``url`` with ``lang=en`` added for an English reader (French is the default)."""
    if lang != "en":
        return url
    return f"{url}{'&' if '?' in url else '?'}lang=en"


def manage_url(site: Site, recipient: Recipient) -> str:
    """The subscriber's page: services, language, unsubscribe."""
    return site.url(f"/abonnement/gerer/{recipient.manage_token}", recipient.language)


def unsubscribe_url(site: Site, recipient: Recipient) -> str:
    """The one-click unsubscribe address (RFC 8058: a POST there unsubscribes)."""
    return site.url(f"/abonnement/u/{recipient.manage_token}", recipient.language)


def confirm_url(site: Site, token: str, lang: str) -> str:
    """The confirmation link of a subscription."""
    return site.url(f"/abonnement/confirmer/{token}", lang)


# Message-IDs ------------------------------------------------------------------------------


def root_id(site: Site, thread: str, subscriber_id: int) -> str:
    """The Message-ID of the first mail of ``thread`` to one subscriber."""
    return message_id(site.sender, (thread.replace(":", "-"), f"s{subscriber_id}"),
                      f"{thread}|{subscriber_id}")


def event_id(site: Site, thread: str, kind: str, key: str, subscriber_id: int) -> str:
    """The Message-ID of one event's mail to one subscriber (the root for an ``opened``
    or ``announced`` event)."""
    if kind in THREAD_ROOTS:
        return root_id(site, thread, subscriber_id)
    return message_id(site.sender, (thread.replace(":", "-"), kind, f"s{subscriber_id}"),
                      f"{key}|{subscriber_id}")


# Words --------------------------------------------------------------------------------------


def service_names(services: Sequence[ServiceSnapshot], lang: str) -> str:
    """``Mail, Web hosting and 3 more``: the services named (a few at most)."""
    names = [s.name.say(lang) for s in services]
    if not names:
        return say(lang, "the services")
    shown = names[:NAMES_SHOWN]
    if len(names) > len(shown):
        return say_more(shown, len(names) - len(shown), lang)
    if len(shown) == 1:
        return shown[0]
    return say(lang, "{names} and {last}", names=", ".join(shown[:-1]), last=shown[-1])


def say_more(shown: list[str], more: int, lang: str) -> str:
    """``A, B, C, D and 3 more``."""
    return n_("{names} and {n} more", "{names} and {n} more", more,
              names=", ".join(shown)).say(lang)


def subject_of(kind: str, title: str, services: Sequence[ServiceSnapshot], lang: str) -> str:
    """The subject: the kind of news, the services and the title (the services only once
    when the title names them already, as automatic titles do)."""
    names = service_names(services, lang)
    if any(s.name.say(lang) and s.name.say(lang) in title for s in services):
        what = title
    else:
        what = say(lang, "{services} — {title}", services=names, title=title) if title else names
    return SUBJECTS[kind].with_params(what=what).say(lang)


def public_links(links: Sequence[Link], site: Site) -> list[tuple[str, str]]:
    """``(title, absolute URL)`` of the links the status page shows (never a private one:
    a ticket)."""
    out = []
    for link in links:
        if not link.public or not link.url:
            continue
        url = link.url if not link.url.startswith("/") else site.public_url.rstrip("/") + link.url
        out.append((link.title or url, url))
    return out


class Page:
    """A mail's body written once as text and as HTML, line by line."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.text: list[str] = []
        self.html: list[str] = []

    def paragraph(self, text: str, *, strong: bool = False) -> None:
        """A paragraph of plain text."""
        if not text:
            return
        self.text += [text, ""]
        inner = escape(text).replace("\n", "<br>\n")
        self.html.append(f"<p><strong>{inner}</strong></p>" if strong else f"<p>{inner}</p>")

    def fields(self, pairs: Sequence[tuple[Words | str, str]]) -> None:
        """``Label: value`` lines."""
        shown = [(label if isinstance(label, str) else label.say(self.lang), value)
                 for label, value in pairs if value]
        if not shown:
            return
        self.text += [say(self.lang, "{label}: {value}", label=label, value=value)
                      for label, value in shown] + [""]
        self.html.append("<p>" + "<br>\n".join(
            escape(say(self.lang, "{label}: {value}", label=label, value=value))
            for label, value in shown) + "</p>")

    def markdown(self, text: str) -> None:
        """A volunteer's public message: as written in the text part, rendered (safe
        HTML, :mod:`monitor.markup`) in the HTML part."""
        if not text.strip():
            return
        self.text += [text.strip(), ""]
        self.html.append(f"<div>{markup.render(text)}</div>")

    def links(self, heading: Words, links: Sequence[tuple[str, str]]) -> None:
        """A short list of links under a heading."""
        if not links:
            return
        self.text.append(heading.say(self.lang))
        self.text += ["- " + say(self.lang, "{label}: {value}", label=title, value=url)
                      for title, url in links] + [""]
        items = "".join(f'<li><a href="{escape(url)}">{escape(title)}</a></li>'
                        for title, url in links)
        self.html.append(f"<p>{escape(heading.say(self.lang))}</p><ul>{items}</ul>")

    def link(self, label: Words, url: str | None) -> None:
        """One link, after its label."""
        if not url:
            return
        said = label.say(self.lang)
        self.text += [say(self.lang, "{label}: {value}", label=said, value=url), ""]
        self.html.append(f'<p><a href="{escape(url)}">{escape(said)}</a></p>')

    def letter(self, subject: str) -> Letter:
        """The letter with this subject."""
        return Letter(subject, "\n".join(self.text).rstrip() + "\n", "\n".join(self.html))


def incident_letter(event: IncidentEvent, site: Site, lang: str) -> Letter:
    """An incident's news (``opened``, ``updated``, ``resolved``) in ``lang``."""
    title = event.title.say(lang)
    names = service_names(event.services, lang)
    page = Page(lang)
    page.paragraph(HEADLINES[event.kind].with_params(services=names).say(lang), strong=True)
    page.paragraph(title)
    resolved_at = event.resolved_at or event.at
    page.fields([
        (_("Impact"), terms.sentence_case(_say(terms.impact(event.impact), lang))
         if event.kind != "resolved" else ""),
        (_("Phase"), terms.sentence_case(_say(terms.phase(event.phase), lang))),
        (_("Since"), moment(event.opened_at, site.timezone, lang)
         if event.kind != "resolved" else ""),
        (_("Resolved"), moment(resolved_at, site.timezone, lang)
         if event.kind == "resolved" else ""),
        (_("Duration"), duration(resolved_at - event.opened_at).say(lang)
         if event.kind == "resolved" else ""),
    ])
    page.markdown(event.message.say(lang))
    page.links(_("Guides and discussions"), public_links(event.links, site))
    page.link(_("Incident page"), in_language(event.incident_url, lang)
              if event.incident_url else site.url("/", lang))
    page.fields([(_("Reference"), event.reference)])
    return page.letter(subject_of(event.kind, title, event.services, lang))


def maintenance_letter(event: MaintenanceEvent, site: Site, lang: str) -> Letter:
    """A maintenance window's news (``announced``, ``reminder``, ``started``, ``ended``,
    ``cancelled``) in ``lang``; a cancellation leaves out the window's message (it
    describes work that will not be done)."""
    title = event.title.say(lang)
    names = service_names(event.services, lang)
    start = moment(event.starts_at, site.timezone, lang)
    cancelled = event.kind == "cancelled"
    page = Page(lang)
    page.paragraph(HEADLINES[event.kind].with_params(services=names, start=start).say(lang),
                   strong=True)
    page.paragraph(title)
    page.fields([
        (_("Planned start") if cancelled else _("Start"), start),
        (_("End") if event.kind == "ended" else _("Planned end"),
         moment(event.ends_at, site.timezone, lang)),
    ])
    if not cancelled:
        page.markdown(event.message.say(lang))
    page.link(_("Status page"), site.url("/", lang))
    return page.letter(subject_of(event.kind, title, event.services, lang))


def _say(words: Words | str, lang: str) -> str:
    return words if isinstance(words, str) else words.say(lang)


# Addressing ---------------------------------------------------------------------------------


#: why the reader gets the mail: a subscriber's news, or a sign-up's answer
SUBSCRIBED = _("You receive this mail because this address is subscribed to the news of "
               "the page “{site}”.")
ASKED = _("You receive this mail because someone asked to subscribe this address to the "
          "news of the page “{site}”.")


def footer(page: Page, site: Site, recipient: Recipient, why: Words = SUBSCRIBED) -> None:
    """Why the reader gets this mail and how to change or stop it."""
    lang = recipient.language
    page.paragraph(why.with_params(site=site.title.say(lang)).say(lang))
    page.link(_("Change your services or language, or unsubscribe"),
              manage_url(site, recipient))


def addressed(letter: Letter, site: Site, recipient: Recipient, *, mail_id: str,
              root: str | None = None, at: float | None = None,
              why: Words = SUBSCRIBED) -> Message:
    """``letter`` for ``recipient``: the footer with their links, the unsubscribe
    headers, the thread.

    :raises PermanentFailure: the address cannot be written in a header.
    """
    lang = recipient.language
    end = Page(lang)
    footer(end, site, recipient, why)
    text = f"{letter.text}\n-- \n{chr(10).join(end.text).rstrip()}\n"
    html = document(lang, letter.subject, letter.html + "\n<hr>\n" + "\n".join(end.html))
    headers = {"List-Unsubscribe": f"<{unsubscribe_url(site, recipient)}>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    if root is not None and root != mail_id:
        headers.update({"In-Reply-To": root, "References": root})
    return automatic_message(to=recipient.email, subject=letter.subject, message_id=mail_id,
                             language=lang, text=text, html=html, at=at, headers=headers)


def document(lang: str, title: str, body: str) -> str:
    """A small HTML document around ``body`` (readable without any style sheet)."""
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head><meta charset="utf-8">'
            f"<title>{escape(title)}</title></head>\n"
            f'<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">\n'
            f"{body}\n</body>\n</html>\n")


class EventMail:
    """The mails of one event: its letter written once per language, addressed to each
    subscriber with their own links and Message-IDs."""

    def __init__(self, site: Site, event: IncidentEvent | MaintenanceEvent, *, key: str,
                 thread: str) -> None:
        self.site = site
        self.event = event
        self.key = key
        self.thread = thread
        self._letters: dict[str, Letter] = {}

    def letter(self, lang: str) -> Letter:
        """The event's letter in ``lang``."""
        found = self._letters.get(lang)
        if found is None:
            if isinstance(self.event, IncidentEvent):
                found = incident_letter(self.event, self.site, lang)
            else:
                found = maintenance_letter(self.event, self.site, lang)
            self._letters[lang] = found
        return found

    def mail_id(self, recipient: Recipient) -> str:
        """The Message-ID of this event's mail to ``recipient``."""
        return event_id(self.site, self.thread, self.event.kind, self.key, recipient.id)

    def to(self, recipient: Recipient, at: float | None = None) -> Message:
        """The mail for ``recipient``."""
        return addressed(self.letter(recipient.language), self.site, recipient,
                         mail_id=self.mail_id(recipient),
                         root=root_id(self.site, self.thread, recipient.id), at=at)


def confirmation(site: Site, recipient: Recipient, token: str | None, *, key: str,
                 at: float | None = None) -> Message:
    """The mail answering a subscription request: the confirmation link (``token``), or,
    for an address already subscribed (``token`` None), the manage link. The same subject
    either way (who reads the mail may not be who asked)."""
    lang = recipient.language
    site_title = site.title.say(lang)
    page = Page(lang)
    if token is not None:
        page.paragraph(say(lang, "Someone, probably you, asked to receive by mail the news "
                                 "of the page “{site}”.", site=site_title))
        page.link(_("To confirm, open this link"), confirm_url(site, token, lang))
        page.paragraph(say(lang, "The link is valid for {duration}. Nothing is sent to "
                                 "this address before it is confirmed; if you did not ask, "
                                 "ignore this mail.",
                           duration=duration(site.confirm_within).say(lang)))
    else:
        page.paragraph(say(lang, "Someone, probably you, asked to receive by mail the news "
                                 "of the page “{site}”: this address is already subscribed.",
                           site=site_title))
    letter = page.letter(say(lang, "Your subscription to the news of “{site}”",
                             site=site_title))
    return addressed(letter, site, recipient, at=at, why=ASKED,
                     mail_id=message_id(site.sender, ("subscription", f"s{recipient.id}"), key))
