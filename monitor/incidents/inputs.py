"""A volunteer's input, checked and made safe before an operation uses it.

The volunteers' operations (:mod:`monitor.incidents.service`) take their values from the
admin forms, the JSON API and the CLI; the checkers here are where those meet. Each takes
the field's name and raises :class:`InvalidInput` naming it, with a message from the
catalogues; an unknown id raises :class:`NotFound` (a subclass).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.incidents.recurrence import RuleError, parse_datetime
from monitor.safetext import clean_line, clean_text
from monitor.schema import parse_duration
from monitor.store.models import ServiceRow
from monitor.words import Words, _, n_

TITLE_MAX = 200
MESSAGE_MAX = 20_000


class InvalidInput(ValueError):
    """A value a volunteer gave is not acceptable.

    :ivar field: the input's name (``title_fr``, ``services``…), None for the whole form.
    :ivar words: what to tell the volunteer, from the catalogues (:mod:`monitor.words`),
        said in the language of the form, the API request or the command line;
        ``str(exc)`` is the English.
    """

    def __init__(self, field: str | None, words: Words) -> None:
        super().__init__(words.en)
        self.field = field
        self.words = words

    def message(self, lang: str = "fr") -> str:
        """The message in ``lang`` (``fr`` or ``en``)."""
        return self.words.say(lang)

    @property
    def message_fr(self) -> str:
        """The message in French."""
        return self.words.fr

    @property
    def message_en(self) -> str:
        """The message in English."""
        return self.words.en


class NotFound(InvalidInput):
    """The incident, window, notice or outbox entry does not exist."""


def text_field(field: str, value: Any, *, required: bool, limit: int) -> str | None:
    """A volunteer's text made safe (:mod:`monitor.safetext`), the one place where the
    forms, the API and the CLI meet: a title (``title_*``) is one line, control and
    bidirectional characters removed; a message keeps its lines. Too long is refused
    rather than cut, so the volunteer knows what is published."""
    text = "" if value is None else str(value).strip()
    if len(text) > limit:
        raise InvalidInput(field, _("Text too long ({length} characters, at most {limit}).",
                                    length=len(text), limit=limit))
    text = clean_line(text, limit) if field.startswith("title") else clean_text(text, limit)
    if not text:
        if required:
            raise InvalidInput(field, _("This field is required."))
        return None
    return text


def rule_refused(exc: RuleError) -> InvalidInput:
    """A refused recurrence (``field`` rule) or duration, said in both languages."""
    if exc.field == "duration":
        return InvalidInput("duration", _("Duration refused: {why}.", why=exc.words))
    return InvalidInput("rule", _("Invalid recurrence: {why}.", why=exc.words))


def choice_field(field: str, value: str, allowed: Sequence[str]) -> str:
    """``value`` when it is one of ``allowed``."""
    if value not in allowed:
        raise InvalidInput(field, _("Unknown value “{value}” (one of: {allowed}).",
                                    value=value, allowed=", ".join(allowed)))
    return value


def date_field(field: str, value: Any, tz: str) -> float | None:
    """A date given as ISO text in the zone ``tz`` or Unix time; None when empty."""
    if value in (None, ""):
        return None
    try:
        return parse_datetime(value, tz)
    except RuleError:
        raise InvalidInput(field, _("Invalid date: {value} (e.g. 2026-04-05 22:00).",
                                    value=value)) from None


def duration_field(field: str, value: Any) -> float | None:
    """A duration (``30m``, ``2h``, seconds); None when empty."""
    if value in (None, ""):
        return None
    try:
        return parse_duration(value)
    except ValueError:
        raise InvalidInput(field, _("Invalid duration: {value} (e.g. 30m, 2h, 2d).",
                                    value=value)) from None


def known_services(session: Session, services: Iterable[str]) -> list[str]:
    """The service ids a volunteer chose, each known to the catalog, without repeats."""
    ids = [s.strip() for s in services if s and s.strip()] if not isinstance(
        services, str) else [services]
    if not ids:
        raise InvalidInput("services", _("Choose at least one service."))
    known = set(session.scalars(select(ServiceRow.id).where(ServiceRow.id.in_(ids))))
    unknown = [s for s in ids if s not in known]
    if unknown:
        raise InvalidInput("services", n_("Unknown service: {services}.",
                                          "Unknown services: {services}.", len(unknown),
                                          services=", ".join(unknown)))
    return list(dict.fromkeys(ids))
