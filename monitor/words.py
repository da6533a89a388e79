"""Vigie's words: every text a member or a volunteer reads, from one set of gettext
catalogues, in French and English.

The messages are written in English in the code (the ``msgid``) and translated in
``monitor/locale/<lang>/LC_MESSAGES/vigie.po`` (compiled to ``vigie.mo``). The same
catalogues serve the dashboard's templates (Flask-Babel is pointed at them), the alerts,
the forum posts, the tickets, the incident timeline and the probes' reasons, so a phase
or an impact is worded the same everywhere. Plural forms are the catalogue's own
(French: two, ``n > 1``).

Two ways to use it:

- :func:`say` / :func:`say_n` when the language is known: ``say("fr",
  "Connection refused")``;
- :func:`_` / :func:`n_` to make a :class:`Words`, a text to be said later in whatever
  language the reader needs (a reason is stored in both, an alert is sent in one).
  Parameters may be :class:`Words` themselves: they are said in the same language, and
  so is a :class:`Number` (``2,5`` in French, ``2.5`` in English).

``pybabel extract -F babel.cfg`` finds the messages (:data:`KEYWORDS`: ``_``, ``n_:1,2``,
``say:2``, ``say_n:2,3``, and Flask-Babel's ``gettext``, ``ngettext``, ``lazy_gettext`` in
the dashboard); ``tests/monitor/test_words.py`` fails when a message of the code is
missing from a catalogue or has an empty translation, plural forms included. Core
messages use ``{name}`` placeholders (``str.format``); the dashboard's Flask-Babel ones
``%(name)s``.
"""

from __future__ import annotations

import gettext as _gettext
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

#: where the catalogues are (``<lang>/LC_MESSAGES/vigie.mo``)
LOCALES = Path(__file__).resolve().with_name("locale")
#: the catalogues' gettext domain
DOMAIN = "vigie"
#: the languages Vigie speaks, the first being the default
LANGUAGES = ("fr", "en")
#: how the extractor finds messages (Babel's keyword specifications)
KEYWORDS = {"_": None, "n_": (1, 2), "say": (2,), "say_n": (2, 3), "gettext": None,
            "ngettext": (1, 2), "lazy_gettext": None}


@lru_cache(maxsize=len(LANGUAGES) + 1)
def catalogue(lang: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (English's when ``lang`` is not spoken)."""
    lang = lang if lang in LANGUAGES else "en"
    try:
        with open(LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as handle:
            return _gettext.GNUTranslations(handle)
    except FileNotFoundError:
        return _gettext.NullTranslations()


def load() -> None:
    """Read every catalogue now, once: a process that may later run short of file
    descriptors (when its resource alerts are worded) still has its words."""
    for lang in LANGUAGES:
        catalogue(lang)


def _said(value: Any, lang: str) -> Any:
    return value.say(lang) if isinstance(value, (Words, Bilingual, Number)) else value


def _format(text: str, lang: str, params: Mapping[str, Any]) -> str:
    if not params:
        return text
    said = {name: _said(value, lang) for name, value in params.items()}
    return elide(text, said, lang).format(**said)


def say(lang: str, msgid: str, /, **params: Any) -> str:
    """``msgid`` in ``lang``, formatted with ``params`` (``{name}`` placeholders)."""
    return _format(catalogue(lang).gettext(msgid), lang, params)


def say_n(lang: str, singular: str, plural: str, n: int, /, **params: Any) -> str:
    """The form of ``singular``/``plural`` for ``n`` in ``lang``, formatted with
    ``params`` and ``n``."""
    return _format(catalogue(lang).ngettext(singular, plural, n), lang, {"n": n, **params})


@dataclass(frozen=True, slots=True)
class Words:
    """A text to be said later, in the language its reader needs."""

    msgid: str
    plural: str | None = None
    n: int | None = None
    params: tuple[tuple[str, Any], ...] = ()

    def say(self, lang: str) -> str:
        """The text in ``lang``."""
        params = dict(self.params)
        if self.plural is not None:
            return say_n(lang, self.msgid, self.plural, self.n or 0, **params)
        return say(lang, self.msgid, **params)

    @property
    def fr(self) -> str:
        """The text in French."""
        return self.say("fr")

    @property
    def en(self) -> str:
        """The text in English."""
        return self.say("en")

    def __str__(self) -> str:
        return self.say(LANGUAGES[0])

    def with_params(self, **params: Any) -> Words:
        """The same message with ``params`` added (a table's words given their values)."""
        return Words(self.msgid, self.plural, self.n, (*self.params, *params.items()))


@dataclass(frozen=True, slots=True, eq=False)
class Bilingual:
    """A text that is data, given in French and maybe English (a service's name, a
    volunteer's message, a time written each language's way), French when English is
    missing. The one type for such a pair in code (the configuration's texts, a probe's
    reason, the dashboard's views, a parameter of :class:`Words` said in the reader's
    language); texts of the catalogues are :class:`Words`.

    Two texts are equal when their French and English are, whatever the class of either
    (:class:`monitor.config.LocalizedText` is a Bilingual checked on reading); a subclass
    with an equality of its own (a dataclass subclass, such as the dashboard's safe HTML)
    is only equal to its own kind."""

    fr: str
    en: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bilingual) or type(other).__eq__ is not Bilingual.__eq__:
            return NotImplemented
        return self.fr == other.fr and self.en == other.en

    def __hash__(self) -> int:
        return hash((self.fr, self.en))

    def say(self, lang: str) -> str:
        """The text in ``lang`` (French when there is no English)."""
        return self.en if lang == "en" and self.en else self.fr

    def text(self, lang: str) -> str:
        """:meth:`say` (the name the templates use)."""
        return self.en if lang == "en" and self.en else self.fr

    def __bool__(self) -> bool:
        return bool(self.fr or self.en)


#: Deprecated: the former name of :class:`Bilingual`, kept because ``monitor.api`` offered
#: it to plugins; write ``Bilingual``
Both = Bilingual


def _(msgid: str, /, **params: Any) -> Words:
    """Mark ``msgid`` for the catalogues and make it :class:`Words`."""
    return Words(msgid, params=tuple(params.items()))


def n_(singular: str, plural: str, n: int, /, **params: Any) -> Words:
    """Mark a message with a plural form and make it :class:`Words` for ``n``."""
    return Words(singular, plural, n, tuple(params.items()))


# French elision ----------------------------------------------------------------------------

#: how words starting with an aspirated h begin; they take no elision ("de Hauteville")
ASPIRATED_H = (
    "hache", "haie", "haine", "hall ", "halte", "hameau", "hamac", "hanche", "handicap",
    "hangar", "hareng", "haricot", "hasard", "haut", "héros", "hibou", "hiérarchie", "hockey",
    "homard", "honte", "hors", "hotline", "housse", "hublot", "hutte",
)
#: the short words elided before a vowel sound, followed by a placeholder
_ELIDED = re.compile(r"(?<![\w'’])(de|De|que|Que|le|Le|la|La|jusque|Jusque) "
                     r"(\{(\w+)[^{}]*\}|%\((\w+)\)[sd])")


def vowel_sound(text: str) -> bool:
    """Whether French elides before ``text``: it starts with a vowel or a mute h
    (``Hébergement web``, ``IMAP``), not with a consonant, a digit, a y or an aspirated h."""
    word = text.lstrip(" «“\"'").split(" ", 1)[0]
    if not word:
        return False
    first = unicodedata.normalize("NFD", word[0].lower())[0]
    if first == "h":
        return not (word.lower() + " ").startswith(ASPIRATED_H)
    return first in "aeiou"


def elide(text: str, params: Mapping[str, Any], lang: str) -> str:
    """``text`` (a translation, before formatting) with ``de {name}`` written ``d'{name}``
    (also ``que``, ``le``, ``la``, ``jusque``) where ``params[name]`` starts with a vowel
    sound, in French; unchanged in other languages. Both placeholder styles
    (``{name}``, ``%(name)s``) are understood."""
    if lang != "fr" or not params:
        return text

    def one(match: re.Match) -> str:
        value = params.get(match[3] or match[4])
        if isinstance(value, str) and vowel_sound(value):
            return f"{match[1][:-1]}'{match[2]}"
        return match[0]

    return _ELIDED.sub(one, text)


def of_name(name: str) -> str:
    """``de Messagerie``, ``d'Hébergement web``: French "de" before a name."""
    return f"d'{name}" if vowel_sound(name) else f"de {name}"


# Durations -----------------------------------------------------------------------------------

#: the units of a duration in words, largest first: seconds, and the words for ``n`` of them
_UNITS = (
    (86400, lambda n: n_("{n} day", "{n} days", n)),
    (3600, lambda n: n_("{n} hour", "{n} hours", n)),
    (60, lambda n: n_("{n} minute", "{n} minutes", n)),
    (1, lambda n: n_("{n} second", "{n} seconds", n)),
)


def duration(seconds: float, smallest: int = 60) -> Words:
    """A duration in words, in its two largest units: ``2 minutes 20 secondes``, ``1 heure``,
    ``3 jours 4 heures``; below ``smallest`` (a unit's size: 60 or 1) ``moins d'une
    minute`` (or ``moins d'une seconde``), never "0 min"."""
    rest = int(max(0.0, seconds))
    if rest < smallest:
        return _("less than a minute") if smallest >= 60 else _("less than a second")
    parts: list[Words] = []
    for size, words in _UNITS:
        if size < smallest or len(parts) == 2:
            break
        if rest >= size:
            parts.append(words(rest // size))
            rest %= size
        elif parts:  # "2 heures" rather than "2 heures 0 minute"
            break
    if len(parts) == 1:
        return parts[0]
    return _("{larger} {smaller}", larger=parts[0], smaller=parts[1])


def every(seconds: float) -> Words:
    """How often something happens: ``toutes les minutes``, ``toutes les 5 minutes``,
    ``toutes les 90 secondes``, ``tous les jours`` / ``every minute``…"""
    period = max(1, round(seconds))
    if period % 86400 == 0:
        n = period // 86400
        return _("every day") if n == 1 else n_("every {n} day", "every {n} days", n)
    if period % 3600 == 0:
        n = period // 3600
        return _("every hour") if n == 1 else n_("every {n} hour", "every {n} hours", n)
    if period % 60 == 0:
        n = period // 60
        return _("every minute") if n == 1 else n_("every {n} minute", "every {n} minutes", n)
    return _("every second") if period == 1 else n_("every {n} second", "every {n} seconds",
                                                      period)


def moment(timestamp: float, zone: str = "Europe/Paris", lang: str = "fr") -> str:
    """A date and time as members read it, in the time zone ``zone``: ``12 mars 2026 à
    14 h 05`` / ``March 12, 2026 at 14:05`` (forum posts, tickets, members' mails)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from babel.dates import format_date

    when = datetime.fromtimestamp(timestamp, ZoneInfo(zone))
    day = format_date(when, "long", locale=lang if lang in LANGUAGES else "en")
    clock = f"{when.hour} h {when.minute:02d}" if lang == "fr" else f"{when:%H:%M}"
    return say(lang, "{day} at {time}", day=day, time=clock)


@dataclass(frozen=True, slots=True)
class Number:
    """A decimal number as a parameter, written as each language writes it (``2,5`` in
    French, ``2.5`` in English); ``spec`` is a ``format`` spec (``g`` by default)."""

    value: float
    spec: str = "g"

    def say(self, lang: str) -> str:
        """The number in ``lang``."""
        text = format(self.value, self.spec)
        return text.replace(".", ",") if lang == "fr" else text

    def __str__(self) -> str:
        return self.say(LANGUAGES[0])
