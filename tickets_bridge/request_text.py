"""What a member's request for help becomes at the desk: the member's own words and
screenshots, and the note for volunteers, in the helpdesk's language (French unless told
otherwise), from the catalogues (:mod:`monitor.words`).

The request comes from the outbox (JSON written by the core); what the member wrote is
made safe and bounded here once more (:mod:`monitor.safetext`: plain text, no control
characters) and the e-mail address is checked, since it becomes a Zammad customer or a
``Reply-To`` header. The note for volunteers says what Vigie knew when the request was
sent: the service's status, the open incident and the failing checks' reasons, the guides
and forum threads proposed and which the member opened, the browser. It ends with a
marker line naming the request's reference and idempotency key, so an adapter can
recognise a note it already posted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from docs_bridge import french
from monitor.api import (
    AssistanceRequest,
    PermanentFailure,
    Screenshot,
    Words,
    _,
    clean_line,
    clean_text,
)
from monitor.api import n_, say, terms

MAX_TITLE = 200
MAX_NAME = 200
MAX_DESCRIPTION = 20_000
MAX_FILENAME = 120
#: what a screenshot's media type becomes in a file name, when the name lacks it
EXTENSIONS = {"image/png": (".png",), "image/jpeg": (".jpg", ".jpeg"), "image/webp": (".webp",)}

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_FILE_UNSAFE = re.compile(r'[\\/:*?"<>|]+')


def valid_email(address: str) -> str | None:
    """``address`` when it is one plain mailbox (``local@domain.tld``, no display name, no
    comment, nothing a mail header could misread), else None. A domain in Unicode is
    accepted and given in its ASCII (IDNA) form."""
    address = address.strip()
    if len(address) > 254 or address.count("@") != 1:
        return None
    local, domain = address.split("@")
    if not 0 < len(local) <= 64 or not _LOCAL.match(local):
        return None
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    return f"{local}@{domain}"


@dataclass(frozen=True, slots=True)
class Member:
    """What the member wrote, made safe and bounded."""

    title: str
    description: str
    name: str
    email: str
    member_id: str | None


def member(request: AssistanceRequest) -> Member:
    """The member's words, cleaned; a request whose address is not one plain mailbox is
    refused for good (it could never become a customer or a ``Reply-To``)."""
    email = valid_email(clean_line(request.email, 320))
    if email is None:
        raise PermanentFailure(
            f"L'adresse de courriel de la demande {request.reference} n'est pas valable : "
            "aucun ticket n'a été créé (the member's e-mail address is not valid).")
    member_id = clean_line(request.member_id or "", MAX_NAME) or None
    return Member(clean_line(request.title, MAX_TITLE), clean_text(request.description,
                                                                   MAX_DESCRIPTION).strip(),
                  clean_line(request.name, MAX_NAME), email, member_id)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A screenshot as the desk receives it: the bytes Vigie kept, unchanged."""

    filename: str
    media_type: str
    data: bytes


def _media_type(shot: Screenshot) -> str:
    return shot.media_type if shot.media_type in EXTENSIONS else "application/octet-stream"


def _name(shot: Screenshot, number: int) -> str:
    """The attachment's file name: the member's, made safe, ending as its type says."""
    name = _FILE_UNSAFE.sub("_", clean_line(shot.filename, MAX_FILENAME)).strip(" .")
    extensions = EXTENSIONS.get(_media_type(shot), ())
    if not name:
        name = f"capture-{number}"
    if extensions and not name.lower().endswith(extensions):
        name += extensions[0]
    return name


def attachments(request: AssistanceRequest) -> tuple[list[Attachment], list[str]]:
    """The screenshots' bytes, read from their files, and the names of those that could
    not be read (deleted before the delivery: the ticket says so rather than failing)."""
    found, missing = [], []
    for number, shot in enumerate(request.screenshots, 1):
        name = _name(shot, number)
        try:
            found.append(Attachment(name, _media_type(shot), shot.read()))
        except OSError:
            missing.append(name)
    return found, missing


def ticket_title(request: AssistanceRequest, lang: str = "fr") -> str:
    """``[DEM-20261206-7KQ2] Je ne peux plus synchroniser`` (what a lookup searches)."""
    title = clean_line(request.title, MAX_TITLE) or say(lang, "Request for help")
    return f"[{request.reference}] {title}"[:MAX_TITLE]


def marker(request: AssistanceRequest) -> str:
    """The last line of the note for volunteers."""
    return f"-- Vigie · {request.reference} · {request.idempotency_key}"


def member_text(who: Member) -> str:
    """What the member wrote, as the ticket's first article."""
    return who.description or who.title


def _field(lang: str, label: Words | str, value: object) -> str:
    return say(lang, "{label}: {value}", label=label, value=value)


def _heading(lang: str, label: Words) -> str:
    return say(lang, "{label}:", label=label)


def _status(label: str, lang: str) -> str:
    words = terms.impact(label) if label else _("unknown state")
    return words.say(lang) if isinstance(words, Words) else clean_line(words, 100)


def _suggestions(request: AssistanceRequest, lang: str) -> list[str]:
    if not request.suggestions:
        return [_field(lang, _("Suggested before sending"), say(lang, "nothing found"))]
    lines = [_heading(lang, _("Suggested before sending"))]
    for item in request.suggestions:
        kind = {"guide": _("Guide"), "forum": _("Forum")}.get(item.kind)
        seen = _("opened") if item.opened else _("not opened")
        what = f"{kind.say(lang) if kind else clean_line(item.kind, 40)}, {seen.say(lang)}"
        lines.append("- " + _field(lang, what, f"{clean_line(item.title, 300)} — "
                                                f"{clean_line(item.url, 500)}"))
    return lines


def volunteers_note(request: AssistanceRequest, who: Member, missing: list[str],
                    zone: str = "Europe/Paris", lang: str = "fr") -> str:
    """The internal note: what Vigie knew when the member sent the request."""
    sender = f"{who.name} <{who.email}>" if who.name else who.email
    about = clean_line(request.service_name, MAX_NAME)
    about = f"{about} ({clean_line(request.service_id or request.category, 100)})"
    lines = [say(lang, "Request for help {reference}, sent on {when}",
                 reference=request.reference, when=french.when(request.at, zone, lang)),
             _field(lang, _("Sent by"), sender)]
    if who.member_id:
        lines.append(_field(lang, _("Member account"), who.member_id))
    lines += [_field(lang, _("About"), about),
              _field(lang, _("Status when sent"), _status(request.status_at_send, lang)),
              _field(lang, _("Open incident"), clean_line(request.incident_reference, 100)
                     or say(lang, "none"))]
    reasons = [clean_line(r, 300) for r in request.failing_reasons if clean_line(r, 300)]
    if reasons:
        lines += ["", _heading(lang, _("Failing checks")), *(f"- {r}" for r in reasons)]
    lines += ["", *_suggestions(request, lang), "",
              _field(lang, _("Browser"), clean_line(request.user_agent, 400)
                     or say(lang, "not given"))]
    count = len(request.screenshots) - len(missing)
    lines.append(n_("{n} screenshot attached", "{n} screenshots attached", count).say(lang))
    if missing:
        lines.append(_field(lang, _("Screenshots deleted before delivery"), ", ".join(missing)))
    if request.status_page_url:
        lines.append(_field(lang, _("Status page"), clean_line(request.status_page_url, 500)))
    return "\n".join(lines + ["", marker(request)])


def combined_text(request: AssistanceRequest, who: Member, missing: list[str],
                  zone: str = "Europe/Paris", lang: str = "fr") -> str:
    """The member's words, then the note, for desks that have no internal notes
    (osTicket, e-mail): a line says where the member's text ends."""
    return "\n".join([member_text(who), "", "—" * 20,
                      say(lang, "For the volunteers (added by Vigie, not written by the "
                                "member):"), "",
                      volunteers_note(request, who, missing, zone, lang)])


def unreadable(request: AssistanceRequest) -> list[str]:
    """The names of the screenshots whose file cannot be read now (no bytes read)."""
    return [_name(shot, number) for number, shot in enumerate(request.screenshots, 1)
            if not os.access(shot.path, os.R_OK)]
