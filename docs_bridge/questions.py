"""Guides for a member's question, on the second step of ``/assistance/``: the guides
matcher (:mod:`docs_bridge.matcher`) over the cached index, on what the member wrote, the
service they chose and its group. From memory only: no network, a few milliseconds.

The weighted query holds the member's words (and the vocabulary's synonyms for them), the
service's id, name and configured keywords, and the group's id. Only the member's words
say which guide answers: a guide they do not reach is never proposed, whatever the
service (every guide of the service shares its name). Among the guides they reach, at
most ``guides.limit``:

- the service's own guides (:mod:`docs_bridge.subjects`), their score counted
  ``OWN_BOOST`` times;
- guides about another service of the same group, and general guides (about no
  service), if they score at least ``min_score``;
- never guides about services of other groups. When the member chose no service ("my
  account", "something else"), every guide is considered as in the second case;

all best first, those below ``relative_score`` times the best dropped.

When the member's words reach nothing (a question that is only the service's name), the
guides the configuration names for the service (``guides.services.<id>.guides`` and
``tags``) are proposed: they are the service's main guides.
"""

from __future__ import annotations

from collections.abc import Callable

from docs_bridge.guides import GUIDE_LINK_KIND, Guide
from docs_bridge.matcher import (
    NAME_WEIGHT,
    REASON_WEIGHT,
    SERVICE_WEIGHT,
    GuideMatcher,
    Query,
)
from docs_bridge.ranking import GuideIndex
from docs_bridge.text import fold, shorten, stem, tokens
from docs_bridge.vocabulary import expand
from monitor.api import AssistanceQuery, Suggestion, clean_line

#: weight of the member's own words (a failure reason's: what tells guides apart)
MEMBER_WEIGHT = REASON_WEIGHT
#: weight of the group's words (context, like the service's)
GROUP_WEIGHT = 1.0
#: how much more a guide of the chosen service counts than another one
OWN_BOOST = 1.5
#: characters of the member's text looked at (a title and the start of a description)
MAX_QUESTION = 2000
#: characters of a suggestion's excerpt
EXCERPT = 160


def question_query(matcher: GuideMatcher, question: AssistanceQuery) -> Query:
    """The weighted query for ``question`` (see the module's docstring); the service's
    and group's words are its ``service_terms``."""
    query = Query()
    text = clean_line(question.text, MAX_QUESTION)
    said: set[str] = set()
    query.add(text, MEMBER_WEIGHT, said)
    for word in tokens(text):
        query.add(_infinitive(word), MEMBER_WEIGHT, said)
        synonyms = expand(word, matcher.synonyms)
        if synonyms:
            query.add(synonyms, MEMBER_WEIGHT / 2)
    if question.service_id:
        query.add(question.service_name, NAME_WEIGHT, query.service_terms)
        matcher.add_identifier(query, question.service_id, SERVICE_WEIGHT, query.service_terms)
        query.add(matcher.keywords(question.service_id), SERVICE_WEIGHT, query.service_terms)
    if question.group:
        matcher.add_identifier(query, question.group, GROUP_WEIGHT, query.service_terms)
    # a word the member wrote is theirs even when the service's name or synonyms hold it
    # ("synchronisation" for Nextcloud): it still tells one guide from another
    query.service_terms -= said
    return query


def _infinitive(word: str) -> str:
    """A verb in the third person plural as its infinitive ("synchronisent" →
    "synchroniser"): members write what their files do, guides what to do, and the French
    stemmer leaves that ending alone. Empty for other words."""
    if len(word) > 6 and word.endswith("ent") and stem(word) == word:
        return word[:-3] + "er"
    return ""


def _scope(matcher: GuideMatcher, index: GuideIndex,
           question: AssistanceQuery) -> tuple[Callable[[Guide], bool], Callable[[Guide], bool]]:
    """Which guides are the service's own, and which others may be proposed."""
    service = question.service_id
    if not service:
        return (lambda guide: False), (lambda guide: True)
    subjects = matcher.subjects_for(index, {service: question.service_name})
    group = fold(question.group or "")
    siblings = {sid for sid, info in matcher.services.items()
                if group and fold(info.group or "") == group}

    def own(guide: Guide) -> bool:
        return service in subjects.of(guide)

    def other(guide: Guide) -> bool:
        about = subjects.of(guide)
        return not about or not about.isdisjoint(siblings)

    return own, other


def suggest_guides(matcher: GuideMatcher, index: GuideIndex,
                   question: AssistanceQuery) -> list[Guide]:
    """At most ``guides.limit`` guides for ``question``, best first."""
    settings = matcher.settings
    query = question_query(matcher, question)
    words = query.failure()
    own, other = _scope(matcher, index, question)
    found = [s for s in index.rank(words, lambda g: own(g) or other(g)) if s.score > 0]
    if not found:
        if not question.service_id:
            return []
        return matcher.mapped_for(index, [question.service_id])[: settings.limit]
    # the member chose the service: its own guides weigh more than the others
    scored = sorted(((s.score * (OWN_BOOST if own(s.guide) else 1.0), s.score, s.guide)
                     for s in found), key=lambda item: (-item[0], item[2].title))
    floor = scored[0][0] * settings.relative_score
    return [guide for boosted, score, guide in scored
            if boosted >= floor and (own(guide) or score >= settings.min_score)
            ][: settings.limit]


def excerpt(guide: Guide, limit: int = EXCERPT) -> str:
    """One line of the guide's text (its title left out), cut at a word."""
    text = clean_line(guide.text, 4 * limit)
    if fold(text[: len(guide.title)]) == fold(guide.title):
        text = text[len(guide.title):].lstrip(" :—-")
    return shorten(text, limit)


def suggestion(guide: Guide) -> Suggestion:
    """A guide as a suggestion for the member."""
    return Suggestion(kind=GUIDE_LINK_KIND, title=guide.title, url=guide.url,
                      excerpt=excerpt(guide))
