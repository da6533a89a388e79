"""French text normalisation for guide matching: accents, case, stop words, light stemming.

Members and guide writers do not agree on accents ("données", "donnees"), plurals
("courriels", "courriel") or verb forms ("synchroniser", "synchronisation"); both the
guides and the queries go through :func:`terms`, so they meet on the same forms.
"""

from __future__ import annotations

import html
import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+")

#: words that say nothing about which guide fits (articles, pronouns, auxiliaries…)
STOP_WORDS = frozenset("""
a afin ai aie ainsi alors apres au aucun aussi autre aux avant avec avez avoir avons
bien c ca car ce ceci cela celle celles celui cependant ces cet cette ceux chaque chez
ci comme comment d dans de depuis des deux deja doit donc dont du elle elles en encore
entre est et etaient etait ete etre eu eux fait faire faut il ils j je jusqu l la le
les leur leurs lors lorsque lui m ma mais me meme mes moi mon n ne ni nos notre nous
on ont ou par parce pas peu peut peuvent plus pour pourquoi qu quand que quel quelle
quelles quels qui quoi s sa sans se selon ses si sinon soit son sont sous suis sur t ta
te tes toi ton tous tout toute toutes tres tu un une vers via voici voila vos votre vous
y
the of and or to in on for is are be it this that with an as at by from
""".split())

# Longest first: the first ending that leaves a long enough stem wins.
_SUFFIXES = ("issement", "ements", "ement", "ations", "ation", "atrice", "ateur",
             "euses", "euse", "eurs", "eur", "ees", "ee", "er", "ez", "es", "e")
_MIN_STEM = 4


def fold(text: str) -> str:
    """Lower-case ASCII-ish form: accents stripped (NFKD), case folded ("Été" → "ete")."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # ligatures NFKD leaves alone
    return stripped.casefold().replace("œ", "oe").replace("æ", "ae")


def stem(word: str) -> str:
    """A light French stemmer: plural, then one common derivational or verbal ending.

    Deliberately gentle (a few rules, a minimum stem length): it only has to make
    "synchroniser" meet "synchronisation" and "courriels" meet "courriel", never to
    merge unrelated words.
    """
    if len(word) > 4 and word.endswith("aux"):
        word = word[:-3] + "al"
    elif len(word) > 3 and word[-1] in "sx" and not word.endswith("ss"):
        word = word[:-1]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)]
    return word


def tokens(text: str) -> list[str]:
    """Folded words of ``text`` (stop words kept), in order."""
    return _WORD.findall(fold(text))


def terms(text: str) -> list[str]:
    """The search terms of ``text``: folded, stop words dropped, stemmed, in order."""
    return [stem(word) for word in tokens(text) if word not in STOP_WORDS and len(word) > 1]


_TAG = re.compile(r"<[^>]+>")


def strip_html(fragment: str) -> str:
    """Plain text of an HTML fragment (tags dropped, entities decoded)."""
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def slugify(text: str) -> str:
    """A URL-safe, accent-free slug ("Nextcloud en maintenance" → "nextcloud-en-maintenance")."""
    return "-".join(tokens(text))
