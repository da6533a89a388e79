"""The member's fields, read once at the boundary and checked, with a message per field.

Text is made safe here (:mod:`monitor.safetext`) and never cut silently: a title or a
description longer than ``assistance.text`` allows is refused with the limit in words, so
the member knows that nothing they wrote was lost on the way. Messages are in the page's
language (the catalogues), one per field, in the order of the form (the error summary
links each to its field).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dashboard import formproblems
from dashboard.formproblems import EMAIL_LIMIT, EMAIL_PATTERN
from dashboard.i18n import fmt_number, gettext, select_language
from monitor.safetext import clean_line, clean_text

#: lengths of the sender's fields (characters)
NAME_LIMIT = 200
MEMBER_ID_LIMIT = 100
#: the fields of the request form, in the order of the page
ORDER = ("title", "description", "name", "email", "member_id", "screenshots", "consent")


@dataclass
class Problems(formproblems.Problems):
    """What is wrong with an assistance form (fields in the order of :data:`ORDER`)."""

    order: tuple[str, ...] = ORDER


def _limit(value: int) -> str:
    return fmt_number(value, select_language())


@dataclass
class Description:
    """Step 2: what happens, in the member's words."""

    title: str = ""
    description: str = ""


def read_description(form: Mapping[str, Any], settings: Any, problems: Problems) -> Description:
    """The title and the description of ``form``, checked against ``assistance.text``."""
    limits = settings.text
    raw_title = str(form.get("title") or "")
    raw_description = str(form.get("description") or "")
    # one line for the title; the description keeps its lines (cleaned beyond the limit,
    # so that a text over it is refused rather than cut)
    title = clean_line(raw_title, limits.title + 1)
    description = clean_text(raw_description, limits.description + 1)
    if not title:
        problems.add("title", gettext("Give your request a title: a few words saying what "
                                      "goes wrong."))
    elif len(title) > limits.title:
        problems.add("title", gettext("The title is too long: %(limit)s characters at most.",
                                      limit=_limit(limits.title)))
    if not description:
        problems.add("description", gettext("Describe what happens: what you did, what you "
                                            "saw, since when."))
    elif len(description) > limits.description:
        problems.add("description", gettext(
            "The description is too long: %(limit)s characters at most.",
            limit=_limit(limits.description)))
    return Description(title=title if len(title) <= limits.title else raw_title,
                       description=(description if len(description) <= limits.description
                                    else raw_description))


@dataclass
class Sender:
    """Step 3: who asks, and their consent."""

    name: str = ""
    email: str = ""
    member_id: str | None = None
    consent: bool = False


def read_sender(form: Mapping[str, Any], problems: Problems) -> Sender:
    """The sender's fields of ``form``, checked."""
    name = clean_line(form.get("name") or "", NAME_LIMIT + 1)
    email = clean_line(form.get("email") or "", EMAIL_LIMIT + 1).replace(" ", "")
    member_id = clean_line(form.get("member_id") or "", MEMBER_ID_LIMIT + 1) or None
    consent = form.get("consent") in ("on", "yes", "1", "true")
    if not name:
        problems.add("name", gettext("Give your name, so that the volunteers know whom they "
                                     "answer."))
    elif len(name) > NAME_LIMIT:
        problems.add("name", gettext("The name is too long: %(limit)s characters at most.",
                                     limit=_limit(NAME_LIMIT)))
    if not email:
        problems.add("email", gettext("Give the e-mail address where the volunteers can "
                                      "answer you."))
    elif len(email) > EMAIL_LIMIT or not EMAIL_PATTERN.match(email):
        problems.add("email", gettext("This e-mail address does not look right: it should "
                                      "read like name@example.org."))
    if member_id is not None and len(member_id) > MEMBER_ID_LIMIT:
        problems.add("member_id", gettext(
            "The member account identifier is too long: %(limit)s characters at most.",
            limit=_limit(MEMBER_ID_LIMIT)))
    if not consent:
        problems.add("consent", gettext("Tick the box to agree that your request and its "
                                        "screenshots go to the volunteers."))
    return Sender(name=name, email=email, member_id=member_id, consent=consent)
