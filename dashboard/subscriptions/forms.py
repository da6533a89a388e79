"""The subscription forms' fields, read once at the boundary and checked.

An address is refused rather than cleaned when it holds control or bidirectional
characters (:mod:`monitor.safetext` would remove them, and the member would be subscribed
under an address other than the one they see), and refused when it is longer than an
address can be; the choice of services names only groups and services the status page
shows. Messages are in the page's language, one per field, in the order of the form (the
error summary links each to its field: ``email``, ``choice``, ``language``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dashboard.formproblems import EMAIL_LIMIT, EMAIL_PATTERN, Problems
from dashboard.i18n import LANGUAGES, fmt_number, gettext, select_language
from monitor.safetext import clean_line, is_clean_line

#: the fields of the forms, in the order of the page
ORDER = ("email", "choice", "language")


def problems() -> Problems:
    """An empty list of problems, ordered as the subscription forms are."""
    return Problems(order=ORDER)


@dataclass(frozen=True, slots=True)
class Offer:
    """What a member can choose: the groups and services the status page shows."""

    groups: tuple[Any, ...]

    @property
    def group_ids(self) -> frozenset[str]:
        """The groups one can follow whole."""
        return frozenset(g.id for g in self.groups if g.id is not None)

    @property
    def service_ids(self) -> frozenset[str]:
        """The services one can follow."""
        return frozenset(s.id for g in self.groups for s in g.services)


@dataclass(frozen=True, slots=True)
class Choice:
    """What a member follows: everything, or groups and services."""

    everything: bool = True
    services: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def scope(self) -> str:
        """The radio button checked: ``all`` or ``chosen``."""
        return "all" if self.everything else "chosen"


@dataclass(frozen=True, slots=True)
class Fields:
    """A form as read: the address (sign-up only), the choice, the language."""

    email: str = ""
    choice: Choice = field(default_factory=Choice)
    language: str = "fr"


def _ids(values: Iterable[Any], known: frozenset[str]) -> tuple[list[str], bool]:
    """The distinct values among ``known``, in order, and whether any other was sent."""
    found: list[str] = []
    foreign = False
    for value in values:
        text = str(value)
        if text in known:
            if text not in found:
                found.append(text)
        else:
            foreign = True
    return found, foreign


def preset(args: Mapping[str, Any], offer: Offer) -> Choice:
    """The choice an address proposes (``?service=mail&group=hebergement``: the link of an
    incident page); unknown names are left out."""
    getlist = getattr(args, "getlist", None)
    services, _ = _ids(getlist("service") if getlist else (), offer.service_ids)
    groups, _ = _ids(getlist("group") if getlist else (), offer.group_ids)
    if not services and not groups:
        return Choice()
    return Choice(False, tuple(services), tuple(groups))


def read_email(form: Mapping[str, Any], found: Problems) -> str:
    """The address of ``form``, checked (see the module)."""
    raw = str(form.get("email") or "").strip()
    if len(raw) > EMAIL_LIMIT:
        found.add("email", gettext("This e-mail address is too long: %(limit)s characters "
                                   "at most.", limit=fmt_number(EMAIL_LIMIT, select_language())))
        return clean_line(raw, EMAIL_LIMIT)
    if not is_clean_line(raw, EMAIL_LIMIT):
        found.add("email", gettext("This e-mail address holds invisible or control "
                                   "characters. Type it again."))
        return clean_line(raw, EMAIL_LIMIT)
    if not raw:
        found.add("email", gettext("Give the e-mail address where you want to receive the "
                                   "news of the services."))
    elif not EMAIL_PATTERN.match(raw):
        found.add("email", gettext("This e-mail address does not look right: it should "
                                   "read like name@example.org."))
    return raw


def read_choice(form: Mapping[str, Any], offer: Offer, found: Problems) -> Choice:
    """The services chosen in ``form``: ``scope`` ``all``, or ``chosen`` with at least one
    ``group`` or ``service`` box ticked."""
    scope = form.get("scope")
    getlist = getattr(form, "getlist", None)
    services, foreign_service = _ids(getlist("service") if getlist else (), offer.service_ids)
    groups, foreign_group = _ids(getlist("group") if getlist else (), offer.group_ids)
    if scope == "all":
        if services or groups:
            found.add("choice", gettext(
                "You chose “all services” and ticked some of them: choose “only the ones I "
                "tick” to receive news of those alone, or untick them."))
        # shown again as the member left it: "all" checked, the boxes ticked
        return Choice(True, tuple(services), tuple(groups))
    if scope != "chosen":
        found.add("choice", gettext("Choose which services you want news of: all of them, "
                                    "or the ones you tick."))
    elif foreign_service or foreign_group:
        found.add("choice", gettext("A service you chose is no longer on the status page. "
                                    "Choose again among those listed."))
    elif not services and not groups:
        found.add("choice", gettext("Tick at least one service or group, or choose “all "
                                    "services”."))
    return Choice(False, tuple(services), tuple(groups))


def read_language(form: Mapping[str, Any], found: Problems) -> str:
    """The language of the mails."""
    language = str(form.get("language") or "")
    if language not in LANGUAGES:
        found.add("language", gettext("Choose the language of the e-mails."))
        return select_language()
    return language


def read_signup(form: Mapping[str, Any], offer: Offer, found: Problems) -> Fields:
    """The sign-up form: address, choice, language."""
    return Fields(read_email(form, found), read_choice(form, offer, found),
                  read_language(form, found))


def read_change(form: Mapping[str, Any], offer: Offer, found: Problems) -> Fields:
    """The manage form: choice and language (the address is not changed there)."""
    return Fields("", read_choice(form, offer, found), read_language(form, found))
