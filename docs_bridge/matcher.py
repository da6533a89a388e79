"""Choosing the guides for an incident: explicit mapping first, then a ranked search.

The ranked query is built from what the incident is about, each source of words with its
own weight: the service (its id, the configuration's keywords, then its French name)
weighs most; the failing checks' kinds and the cooperative's synonyms for them next; the failure
reasons least, because a reason's generic words ("serveur", "répondu") say little. Only
guides that contain at least one word of the service or check vocabulary are considered,
and only scores above an absolute and a relative threshold are kept: a handful of good
guides, never noise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from docs_bridge.guides import Guide
from docs_bridge.ranking import GuideIndex
from docs_bridge.settings import GuidesSettings
from docs_bridge.text import terms
from docs_bridge.vocabulary import expand, merged
from monitor.notifications import IncidentEvent

#: weight of each kind of word in the query
SERVICE_WEIGHT = 3.0
NAME_WEIGHT = 2.0
SYNONYM_WEIGHT = 1.5
KIND_WEIGHT = 1.5
OTHER_KIND_WEIGHT = 0.75
REASON_WEIGHT = 2.5
TITLE_WEIGHT = 1.0

#: URLs, host names, addresses, ranges and long numbers in a reason (a 3-digit status
#: such as 500 stays: guides talk about "erreur 500")
_TECHNICAL = re.compile(r"\S+://\S+|\S*\w\.\w\S*|\b\d+[:,/-][\d:.,/-]*|\b\d{4,}\b")


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """What the matcher knows of a configured service besides the event."""

    id: str
    name: str
    kinds: tuple[str, ...] = ()


@dataclass(slots=True)
class Query:
    """A weighted query and the anchor terms one of which a guide must contain."""

    weights: dict[str, float] = field(default_factory=dict)
    anchors: set[str] = field(default_factory=set)

    def add(self, text: str, weight: float, anchor: bool) -> None:
        """Add the terms of ``text``; a term keeps the highest weight it was given."""
        for term in terms(text):
            if weight > self.weights.get(term, 0.0):
                self.weights[term] = weight
            if anchor:
                self.anchors.add(term)


class GuideMatcher:
    """Finds the guides for an incident in a :class:`GuideIndex`."""

    def __init__(self, settings: GuidesSettings, services: Iterable[ServiceInfo] = ()) -> None:
        self.settings = settings
        self.services = {s.id: s for s in services}
        self.synonyms = merged(settings.synonyms)

    def build_query(self, event: IncidentEvent) -> Query:
        """The weighted query for ``event`` (see the module's docstring)."""
        query = Query()
        failing_kinds = {c.kind for c in event.checks}
        for snapshot in event.services:
            info = self.services.get(snapshot.id)
            query.add(snapshot.name_fr, NAME_WEIGHT, anchor=True)
            self._add_word(query, snapshot.id, SERVICE_WEIGHT, anchor=True)
            explicit = self.settings.services.get(snapshot.id)
            if explicit and explicit.keywords:
                query.add(explicit.keywords, SERVICE_WEIGHT, anchor=True)
            for kind in (info.kinds if info else ()):
                if kind not in failing_kinds:
                    self._add_word(query, kind, OTHER_KIND_WEIGHT, anchor=True)
        for check in event.checks:
            self._add_word(query, check.kind, KIND_WEIGHT, anchor=True)
            query.add(check.name_fr, TITLE_WEIGHT, anchor=False)
            self._add_reason(query, check.reason_fr)
        query.add(event.title_fr, TITLE_WEIGHT, anchor=False)
        return query

    def _add_word(self, query: Query, word: str, weight: float, anchor: bool) -> None:
        """An identifier (``sites-web``, ``php_fpm``), its parts, and their synonyms."""
        parts = [word, *word.replace("_", "-").split("-")]
        query.add(" ".join(parts), weight, anchor)
        for part in dict.fromkeys(parts):
            synonyms = expand(part, self.synonyms)
            if synonyms:
                query.add(synonyms, min(weight, SYNONYM_WEIGHT), anchor)

    def _add_reason(self, query: Query, reason: str) -> None:
        """A failure reason: its words, and synonyms of the ones the table knows.

        Host names, addresses, ports and ranges are left out: "mysql.exemple.coop:3306"
        says which server, not which guide.
        """
        reason = _TECHNICAL.sub(" ", reason)
        query.add(reason, REASON_WEIGHT, anchor=False)
        for word in reason.split():
            synonyms = expand(word.strip(".,:;!?()«»\"'"), self.synonyms)
            if synonyms:
                query.add(synonyms, REASON_WEIGHT / 2, anchor=False)

    def explicit(self, index: GuideIndex, event: IncidentEvent) -> list[Guide]:
        """Guides the configuration names for the event's services, in its order."""
        out: list[Guide] = []
        for snapshot in event.services:
            wanted = self.settings.services.get(snapshot.id)
            if wanted is None:
                continue
            for ref in wanted.guides:
                out += [g for g in index.guides if g.answers_to(ref)]
            for tag in wanted.tags:
                out += [g for g in index.guides if g.has_tag(tag)]
        return _unique(out)

    def ranked(self, index: GuideIndex, event: IncidentEvent) -> list[Guide]:
        """Guides found by the weighted search, above both thresholds, best first."""
        query = self.build_query(event)
        found = index.search(query.weights, limit=self.settings.limit * 4,
                             required=query.anchors)
        if not found:
            return []
        floor = max(self.settings.min_score, found[0].score * self.settings.relative_score)
        return [s.guide for s in found if s.score >= floor]

    def match(self, index: GuideIndex, event: IncidentEvent) -> list[Guide]:
        """At most ``limit`` guides: explicit ones first, then the best ranked."""
        chosen = _unique(self.explicit(index, event) + self.ranked(index, event))
        return chosen[: self.settings.limit]


def _unique(guides: list[Guide]) -> list[Guide]:
    seen: set[str] = set()
    out = []
    for guide in guides:
        if guide.id not in seen:
            seen.add(guide.id)
            out.append(guide)
    return out


def service_infos(services: Iterable, lang: str = "fr") -> list[ServiceInfo]:
    """:class:`ServiceInfo` for configured :class:`monitor.config.Service` objects."""
    return [ServiceInfo(s.id, s.name.text(lang), tuple(dict.fromkeys(c.ref.kind for c in s.checks)))
            for s in services]


def explain(index: GuideIndex, query: Mapping[str, float]) -> list[tuple[str, float]]:
    """``(title, score)`` of the best guides for a query (for ``vigie guides`` and tests)."""
    return [(s.guide.title, round(s.score, 2)) for s in index.search(query, limit=10)]
