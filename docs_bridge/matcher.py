"""Choosing the guides for an incident: the service's own guides first, others rarely.

Every guide is about some services or about none (:mod:`docs_bridge.subjects`). For an
incident about the services S, the guides are, at most ``limit`` in all:

1. **mapped**: the guides ``guides.services.<id>`` names for a service of S (its
   ``guides``, then its ``tags``), in the configuration's order;
2. **own**: the other guides about a service of S, ranked by what the failure says (the
   weighted query without the service's own words, which every own guide shares): those
   below ``relative_score`` times the best are dropped; when no word of the failure reaches
   any of them, they are all kept, ranked by the whole query;
3. **others**, only when 1 and 2 found nothing: guides whose title or tags name a service
   of S (every word of its id, or every word of its name, or one of its configured
   keywords or synonyms), and general guides whose title or tags hold a word of a failing
   check's kind or of its synonyms; ranked by the whole query, kept above ``min_score``
   and above ``relative_score`` times the best.

The weighted query is built from what the incident is about: the service (its id, the
configuration's keywords, then its French name) weighs most; the failure reasons next
(their generic words such as "serveur" say little, and host names, addresses and ports
are left out); the failing checks' kinds and the vocabulary for them, and the words for
the services' state ("lent" for a slow service, "panne" for an outage); the incident's
and checks' titles least.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from docs_bridge.guides import Guide
from docs_bridge.ranking import GuideIndex
from docs_bridge.settings import GuidesSettings
from docs_bridge.subjects import Subjects
from docs_bridge.text import terms
from docs_bridge.vocabulary import STATES, expand, merged
from monitor.api import IncidentEvent, ServiceSnapshot

#: weight of each kind of word in the query
SERVICE_WEIGHT = 3.0
NAME_WEIGHT = 2.0
SYNONYM_WEIGHT = 1.5
KIND_WEIGHT = 1.5
OTHER_KIND_WEIGHT = 0.75
STATE_WEIGHT = 1.5
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
    #: the id of its group on the status page (``services[].group``)
    group: str | None = None


@dataclass(slots=True)
class Query:
    """A weighted query, and the words that say what the incident is about.

    ``service_terms`` are the words of the incident's services themselves (every guide of
    the service shares them); ``kind_terms`` those of its failing checks' kinds.
    """

    weights: dict[str, float] = field(default_factory=dict)
    service_terms: set[str] = field(default_factory=set)
    kind_terms: set[str] = field(default_factory=set)

    def add(self, text: str, weight: float, into: set[str] | None = None) -> None:
        """Add the terms of ``text`` (also to ``into``); a term keeps the highest weight it
        was given."""
        for term in terms(text):
            if weight > self.weights.get(term, 0.0):
                self.weights[term] = weight
            if into is not None:
                into.add(term)

    def failure(self) -> dict[str, float]:
        """The query without the services' own words: what tells one of its guides from
        another."""
        return {t: w for t, w in self.weights.items() if t not in self.service_terms}


@dataclass(frozen=True, slots=True)
class Naming:
    """What a guide's title or tags must hold to name one service (rule 3)."""

    all_of: tuple[frozenset[str], ...]
    any_of: frozenset[str]

    def named_by(self, heading: frozenset[str]) -> bool:
        """True when ``heading`` (a guide's title and tag terms) names the service."""
        return any(words <= heading for words in self.all_of if words) \
            or not self.any_of.isdisjoint(heading)


class GuideMatcher:
    """Finds the guides for an incident in a :class:`GuideIndex`."""

    def __init__(self, settings: GuidesSettings, services: Iterable[ServiceInfo] = ()) -> None:
        self.settings = settings
        self.services = {s.id: s for s in services}
        self.synonyms = merged(settings.synonyms)
        self._subjects: tuple[GuideIndex, frozenset[str], Subjects] | None = None

    def keywords(self, service_id: str) -> str:
        """The configuration's ``keywords`` for a service."""
        explicit = self.settings.services.get(service_id)
        return explicit.keywords if explicit else ""

    def identity(self, service_id: str, name: str) -> frozenset[str]:
        """The terms of a service's id, name and configured keywords."""
        return frozenset(terms(" ".join((service_id, name, self.keywords(service_id)))))

    def naming(self, snapshot: ServiceSnapshot) -> Naming:
        """What names ``snapshot``'s service in a guide's title or tags: every word of its
        id, or of its name, or one of its configured keywords or synonyms."""
        own_words = f"{self.keywords(snapshot.id)} {self.settings.synonyms.get(snapshot.id, '')}"
        return Naming((frozenset(terms(snapshot.id)), frozenset(terms(snapshot.name_fr))),
                      frozenset(terms(own_words)))

    def subjects(self, index: GuideIndex, event: IncidentEvent) -> Subjects:
        """The services each guide of ``index`` is about (computed once per index)."""
        return self.subjects_for(index, {s.id: s.name_fr for s in event.services})

    def subjects_for(self, index: GuideIndex, extra: dict[str, str]) -> Subjects:
        """:meth:`subjects`, for the configured services and ``extra`` ones (id → name)."""
        names = {sid: info.name for sid, info in self.services.items()}
        for service_id, name in extra.items():
            names.setdefault(service_id, name)
        known = frozenset(names)
        cached = self._subjects
        if cached is not None and cached[0] is index and cached[1] == known:
            return cached[2]
        subjects = Subjects(index.guides, {sid: self.identity(sid, name)
                                           for sid, name in names.items()},
                            self.settings.services)
        self._subjects = (index, known, subjects)
        return subjects

    def build_query(self, event: IncidentEvent) -> Query:
        """The weighted query for ``event`` (see the module's docstring)."""
        query = Query()
        failing_kinds = {c.kind for c in event.checks}
        for snapshot in event.services:
            query.add(snapshot.name_fr, NAME_WEIGHT, query.service_terms)
            self.add_identifier(query, snapshot.id, SERVICE_WEIGHT, query.service_terms)
            query.add(self.keywords(snapshot.id), SERVICE_WEIGHT, query.service_terms)
            query.add(STATES.get(snapshot.status, ""), STATE_WEIGHT)
            info = self.services.get(snapshot.id)
            if not failing_kinds:
                # an incident opened by hand names no check: the service's kinds say a little
                for kind in (info.kinds if info else ()):
                    self.add_identifier(query, kind, OTHER_KIND_WEIGHT)
        query.add(STATES.get(event.impact, ""), STATE_WEIGHT)
        for check in event.checks:
            self.add_identifier(query, check.kind, KIND_WEIGHT, query.kind_terms)
            query.add(check.name_fr, TITLE_WEIGHT)
            self._add_reason(query, check.reason_fr)
        query.add(event.title_fr, TITLE_WEIGHT)
        return query

    def add_identifier(self, query: Query, word: str, weight: float,
                       into: set[str] | None = None) -> None:
        """An identifier (``sites-web``, ``php_fpm``), its parts, and their synonyms."""
        parts = [word, *word.replace("_", "-").split("-")]
        query.add(" ".join(parts), weight, into)
        for part in dict.fromkeys(parts):
            synonyms = expand(part, self.synonyms)
            if synonyms:
                query.add(synonyms, min(weight, SYNONYM_WEIGHT), into)

    def _add_reason(self, query: Query, reason: str) -> None:
        """A failure reason: its words, and synonyms of the ones the table knows.

        Host names, addresses, ports and ranges are left out: "mysql.exemple.coop:3306"
        says which server, not which guide.
        """
        reason = _TECHNICAL.sub(" ", reason)
        query.add(reason, REASON_WEIGHT)
        for word in reason.split():
            synonyms = expand(word.strip(".,:;!?()«»\"'"), self.synonyms)
            if synonyms:
                query.add(synonyms, REASON_WEIGHT / 2)

    def mapped(self, index: GuideIndex, event: IncidentEvent) -> list[Guide]:
        """Rule 1: the guides the configuration names for the event's services, in its
        order."""
        return self.mapped_for(index, [s.id for s in event.services])

    def mapped_for(self, index: GuideIndex, service_ids: Iterable[str]) -> list[Guide]:
        """:meth:`mapped` for these service ids."""
        out: list[Guide] = []
        for service_id in service_ids:
            wanted = self.settings.services.get(service_id)
            if wanted is None:
                continue
            for ref in wanted.guides:
                out += [g for g in index.guides if g.answers_to(ref)]
            for tag in wanted.tags:
                out += [g for g in index.guides if g.has_tag(tag)]
        return _unique(out)

    def own(self, index: GuideIndex, event: IncidentEvent, query: Query,
            exclude: Iterable[Guide] = ()) -> list[Guide]:
        """Rule 2: the other guides about the event's services, best first."""
        wanted = {s.id for s in event.services}
        subjects = self.subjects(index, event)
        skip = {g.id for g in exclude}
        ids = {g.id for g in index.guides
               if g.id not in skip and not subjects.of(g).isdisjoint(wanted)}
        if not ids:
            return []

        def among(guide: Guide) -> bool:
            return guide.id in ids

        ranked = index.rank(query.failure(), among)
        if ranked[0].score <= 0:
            return [s.guide for s in index.rank(query.weights, among)]
        floor = ranked[0].score * self.settings.relative_score
        return [s.guide for s in ranked if s.score > 0 and s.score >= floor]

    def others(self, index: GuideIndex, event: IncidentEvent, query: Query) -> list[Guide]:
        """Rule 3: guides that name a service of the event (or, for general guides, a
        failing check's kind), above both thresholds, best first."""
        namings = [self.naming(s) for s in event.services]
        subjects = self.subjects(index, event)

        def eligible(guide: Guide) -> bool:
            heading = index.heading(guide)
            if any(n.named_by(heading) for n in namings):
                return True
            return not subjects.of(guide) and not query.kind_terms.isdisjoint(heading)

        found = [s for s in index.rank(query.weights, eligible) if s.score > 0]
        if not found:
            return []
        floor = max(self.settings.min_score, found[0].score * self.settings.relative_score)
        return [s.guide for s in found if s.score >= floor]

    def match(self, index: GuideIndex, event: IncidentEvent) -> list[Guide]:
        """At most ``limit`` guides for ``event`` (the rule of the module's docstring)."""
        query = self.build_query(event)
        mapped = self.mapped(index, event)
        chosen = mapped + self.own(index, event, query, exclude=mapped)
        if not chosen:
            chosen = self.others(index, event, query)
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
    return [ServiceInfo(s.id, s.name.text(lang), tuple(dict.fromkeys(c.ref.kind for c in s.checks)),
                        s.group) for s in services]
