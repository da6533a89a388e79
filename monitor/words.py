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


def _said(value: Any, lang: str) -> Any:
    return value.say(lang) if isinstance(value, (Words, Number)) else value


def _format(text: str, lang: str, params: Mapping[str, Any]) -> str:
    if not params:
        return text
    return text.format(**{name: _said(value, lang) for name, value in params.items()})


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


def _(msgid: str, /, **params: Any) -> Words:
    """Mark ``msgid`` for the catalogues and make it :class:`Words`."""
    return Words(msgid, params=tuple(params.items()))


def n_(singular: str, plural: str, n: int, /, **params: Any) -> Words:
    """Mark a message with a plural form and make it :class:`Words` for ``n``."""
    return Words(singular, plural, n, tuple(params.items()))


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
