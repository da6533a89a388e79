"""French text normalisation for guide matching: accents, case, stop words, stemming.

Members and guide writers do not agree on accents ("données", "donnees"), plurals
("courriels", "courriel") or verb forms ("synchroniser", "synchronisation"); both the
guides and the queries go through :func:`terms`, so they meet on the same forms. Words
are stemmed by Snowball's French stemmer (PyStemmer) after accents are folded, so a word
typed with or without its accents gets one stem.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata

_WORD = re.compile(r"[a-z0-9]+")

#: words that say nothing about which guide fits (articles, pronouns, auxiliaries…)
STOP_WORDS = frozenset("""
a afin ai aie ainsi alors apres au aucun aussi autre aux avant avec avez avoir avons
bien c ca car ce ceci cela celle celles celui cependant ces cet cette ceux chaque chez
ci comme comment d dans de dela depuis des deux deja doit donc dont du elle elles en encore
entre est et etaient etait ete etre eu eux fait faire faut il ils j je jusqu l la le
les leur leurs lors lorsque lui m ma mais me meme mes moi mon n ne ni nos notre nous
on ont ou par parce pas peu peut peuvent plus pour pourquoi qu quand que quel quelle
quelles quels qui quoi s sa sans se selon ses si sinon soit son sont sous suis sur t ta
te tes toi ton tous tout toute toutes tres tu un une vers via voici voila vos votre vous
y
the of and or to in on for is are be it this that with an as at by from
""".split())

#: one Snowball stemmer per thread (a PyStemmer object is not thread-safe), made with the
#: first word to stem, not at start
_stemmers = threading.local()


def fold(text: str) -> str:
    """Lower-case ASCII-ish form: accents stripped (NFKD), case folded ("Été" → "ete")."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # ligatures NFKD leaves alone
    return stripped.casefold().replace("œ", "oe").replace("æ", "ae")


def stem(word: str) -> str:
    """The Snowball French stem of a folded word ("synchronisation" → "synchronis")."""
    try:
        french = _stemmers.french
    except AttributeError:
        import Stemmer

        french = _stemmers.french = Stemmer.Stemmer("french")
    return french.stemWord(word)


def tokens(text: str) -> list[str]:
    """Folded words of ``text`` (stop words kept), in order."""
    return _WORD.findall(fold(text))


def terms(text: str) -> list[str]:
    """The search terms of ``text``: folded, stop words dropped, stemmed, in order."""
    return [stem(word) for word in tokens(text) if word not in STOP_WORDS and len(word) > 1]


#: a tag of nh3's output: it keeps no attribute and escapes every ``<`` of the text
_CLEAN_TAG = re.compile(r"</?[a-z0-9]+/?>")


def strip_html(fragment: str) -> str:
    """Plain text of an HTML fragment: parsed by nh3 (as a browser would), comments,
    scripts and styles dropped, every tag a word break, entities decoded."""
    import nh3  # with the first guide read, not at start

    # the parser drops a NUL where the text boundary (monitor.safetext) makes any control
    # character a word break: keep it a break
    clean = nh3.clean(fragment.replace("\x00", " "), tags=nh3.ALLOWED_TAGS, attributes={},
                      link_rel=None)
    return " ".join(html.unescape(_CLEAN_TAG.sub(" ", clean)).split())


def slugify(text: str) -> str:
    """A URL-safe, accent-free slug ("Nextcloud en maintenance" → "nextcloud-en-maintenance")."""
    return "-".join(tokens(text))


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word, with "…" when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-—") + "…"
