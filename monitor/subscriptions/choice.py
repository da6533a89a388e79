"""What a member sends, cleaned and checked once: the address, the language, and what
they follow (every service, or chosen services and groups of the configuration)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from monitor.safetext import clean_line
from monitor.subscriptions.errors import InvalidSubscription
from monitor.subscriptions.models import EMAIL_LENGTH, LANGUAGES
from monitor.words import _

#: an address as members type it (a local part, ``@``, a domain with a dot)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


def clean_email(value: object) -> str:
    """The address (cleaned of control characters and spaces).

    :raises InvalidSubscription: empty, too long, or not an address.
    """
    email = clean_line(value, EMAIL_LENGTH + 1).replace(" ", "")
    if not email:
        raise InvalidSubscription(_("Please give your e-mail address."), "email")
    if len(email) > EMAIL_LENGTH or not EMAIL.match(email):
        raise InvalidSubscription(_("This is not an e-mail address (for example: "
                                    "prenom@exemple.fr)."), "email")
    return email


def clean_language(value: object) -> str:
    """``fr`` or ``en``.

    :raises InvalidSubscription: another language.
    """
    lang = clean_line(value, 10).lower()
    if lang not in LANGUAGES:
        raise InvalidSubscription(_("Please choose French or English."), "language")
    return lang


@dataclass(frozen=True, slots=True)
class Choice:
    """What a subscriber follows."""

    everything: bool
    services: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def covers(self, service_ids: Collection[str], group_of: Mapping[str, str | None]) -> bool:
        """Whether an event about ``service_ids`` concerns this subscriber (an event about
        no service concerns those who follow everything only)."""
        if self.everything:
            return True
        return any(s in self.services or group_of.get(s) in self.groups for s in service_ids)


def clean_choice(everything: object, services: Sequence[object], groups: Sequence[object],
                 known_services: Collection[str], known_groups: Collection[str]) -> Choice:
    """The choice as stored: every service, or the named services and groups (each once,
    in the configuration's order).

    :raises InvalidSubscription: nothing chosen, or a service or group that does not
        exist.
    """
    if everything:
        return Choice(True)
    wanted_services = {clean_line(s, 100) for s in list(services or ())[:10_000]}
    wanted_groups = {clean_line(g, 100) for g in list(groups or ())[:10_000]}
    wanted_services.discard("")
    wanted_groups.discard("")
    if wanted_services - set(known_services) or wanted_groups - set(known_groups):
        raise InvalidSubscription(_("One of the chosen services does not exist (any more). "
                                    "Please choose again."), "services")
    if not wanted_services and not wanted_groups:
        raise InvalidSubscription(_("Please choose at least one service, or all of them."),
                                  "services")
    return Choice(False, tuple(s for s in known_services if s in wanted_services),
                  tuple(g for g in known_groups if g in wanted_groups))
