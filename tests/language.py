"""Which language a text is in: a small detector for the tests that render every text in
French and in English and want no English on French pages and no French on English ones.

It looks for function words that belong to one language only (not "service",
"maintenance", "incident", "message", "code", shared by both), after taking out addresses,
references, file names and machine data (``key=value``), which are neither.
"""

from __future__ import annotations

import re

#: words only French writes
FRENCH = frozenset("""
le la les est sont depuis panne sans jours aucun aucune du des une et pas sur nous vous
dans avec été à au aux heure heures seconde secondes fonctionne fonctionnent rétabli
nouveau mise jour prévue début quand liens état recherche identifiée résolu dégradées
détectée détectées moins toujours cours
""".split())
#: words only English writes
ENGLISH = frozenset("""
the is was were since without days outage none and of with are has have been for not we
at from to still back hours hour seconds less than down working again status planned
start end when links looking identified resolved monitoring degraded performance detected
by update
""".split())

_NOT_WORDS = re.compile(r"https?://\S+|\b[A-Z]+-\d[\w-]*|\b[\w.-]+@[\w.-]+|[\w./-]*/[\w./-]*"
                        r"|\b\w+(?:\.\w+)+\b|\b\w+=\S+|\S*-\S*\d\S*|\S*\d\S*-\S*")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def words_of(text: str) -> list[str]:
    """The words of ``text``, lower case, addresses and references left out."""
    return [w.lower() for w in _WORD.findall(_NOT_WORDS.sub(" ", text))]


def foreign_words(text: str, lang: str) -> list[str]:
    """The words of the other language found in ``text``, written in ``lang``."""
    other = ENGLISH if lang == "fr" else FRENCH
    return sorted({w for w in words_of(text) if w in other})


def assert_in_language(text: str, lang: str, what: str = "") -> None:
    """Fail when ``text`` carries a word of the other language."""
    found = foreign_words(text, lang)
    assert not found, f"{what} in {lang} has words of the other language {found}:\n{text}"
