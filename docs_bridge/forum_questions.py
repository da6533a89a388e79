"""Public forum threads for a member's question, on the second step of ``/assistance/``.

The forum is searched as a visitor who is not signed in (:func:`docs_bridge.discourse.
anonymous_search`: no API key, no cookie), so what comes back is what anyone may read; a
topic without a category (a private message) is dropped all the same. Discourse's search
finds topics holding *every* word of the query, so the query is a few of the member's
words: the first ones that say something (French and English function words, greetings
and the words of every problem such as "problème" or "marche" left out), at most
:data:`MAX_WORDS`.

Each topic becomes a :class:`~monitor.api.Suggestion` (``kind="forum"``): its title, its
address ``{forum}/t/{slug}/{id}`` and one line of the blurb Discourse gives for the post
it found (HTML made plain text, :mod:`monitor.safetext`, cut at a word).
"""

from __future__ import annotations

import re

import aiohttp

from docs_bridge.discourse import Found, anonymous_search, is_public
from docs_bridge.text import STOP_WORDS, fold, shorten, strip_html
from monitor.api import AssistanceQuery, Suggestion, clean_line

#: Link.kind / Suggestion.kind of a forum thread
FORUM_KIND = "forum"
#: words of the member's text put in the search
MAX_WORDS = 4
#: characters of the member's text looked at
MAX_QUESTION = 2000
#: characters of an excerpt
EXCERPT = 160
#: a longer "word" is an address or a code, which finds nothing
MAX_WORD = 40
#: inline markup of a blurb (Discourse wraps the words found in a span): not a word break
_INLINE = re.compile(r"</?(?:span|b|strong|em|i)\b[^>]*>", re.IGNORECASE)
#: words of every request, which narrow the search to nothing (folded)
EMPTY_WORDS = frozenset("""
bonjour bonsoir merci salut svp cordialement aide aider besoin probleme problemes souci
soucis marche fonctionne fonctionnent plus rien toujours encore ceci depuis hier matin
jour aujourd hui impossible
hello thanks please help problem issue work works working anymore still
""".split())


def search_words(text: str) -> str:
    """The words of ``text`` the forum is searched for (lower case, as written)."""
    words: list[str] = []
    for raw in clean_line(text, MAX_QUESTION).lower().split():
        word = raw.strip(".,:;!?()[]{}«»\"'’…")
        word = word.rpartition("'")[2].rpartition("’")[2]  # l'agenda → agenda
        folded = fold(word)
        if (not 3 <= len(folded) <= MAX_WORD or folded in STOP_WORDS or folded in EMPTY_WORDS
                or not folded.isalnum() or word in words):
            continue
        words.append(word)
        if len(words) == MAX_WORDS:
            break
    return " ".join(words)


def suggestion(found: Found) -> Suggestion:
    """A topic as a suggestion for the member."""
    text = strip_html(_INLINE.sub("", found.blurb[: 8 * EXCERPT]))
    blurb = shorten(clean_line(text, 4 * EXCERPT), EXCERPT)
    return Suggestion(kind=FORUM_KIND, title=found.topic.title, url=found.topic.url,
                      excerpt=blurb)


async def forum_suggestions(session: aiohttp.ClientSession, base: str,
                            question: AssistanceQuery, limit: int,
                            timeout: float) -> list[Suggestion]:
    """At most ``limit`` public threads for ``question`` (raises what
    :func:`monitor.api.call` raises)."""
    words = search_words(question.text)
    if not words or not limit:
        return []
    found = await anonymous_search(session, base, words, timeout)
    return [suggestion(f) for f in found if is_public(f.topic)][:limit]
