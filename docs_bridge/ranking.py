"""A small BM25 index over guides, the title and tags weighing more than the body.

Field weighting follows BM25F in its simplest form: a term in the title counts
``title_weight`` times, a tag ``tag_weight`` times, before BM25's saturation and length
normalisation. Queries carry a weight per term (the service name matters more than a word
of the failure reason).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from docs_bridge.guides import Guide
from docs_bridge.text import terms

K1 = 1.2
B = 0.75


@dataclass(frozen=True, slots=True)
class Scored:
    """A guide and its score for one query."""

    guide: Guide
    score: float


class GuideIndex:
    """An immutable BM25 index of a list of guides (rebuilt whole after each refresh)."""

    def __init__(self, guides: Iterable[Guide], title_weight: float = 3.0,
                 tag_weight: float = 3.0) -> None:
        self.guides: list[Guide] = list(guides)
        self._tf: list[Counter[str]] = []
        self._len: list[float] = []
        #: terms of each guide's title and tags: what the guide says it is about
        self._heading: dict[str, frozenset[str]] = {}
        df: Counter[str] = Counter()
        for guide in self.guides:
            tf: Counter[str] = Counter(terms(guide.text))
            heading = terms(guide.title)
            for term in heading:
                tf[term] += title_weight
            for tag in guide.tags:
                for term in terms(tag):
                    tf[term] += tag_weight
                    heading.append(term)
            self._heading[guide.id] = frozenset(heading)
            self._tf.append(tf)
            self._len.append(sum(tf.values()))
            df.update(tf.keys())
        self._avg_len = (sum(self._len) / len(self._len)) if self._len else 1.0
        count = len(self.guides)
        # BM25's idf, floored at a small positive value so a word in every guide still
        # counts a little rather than subtracting
        self._idf = {term: max(0.05, math.log(1 + (count - n + 0.5) / (n + 0.5)))
                     for term, n in df.items()}

    def __len__(self) -> int:
        return len(self.guides)

    def heading(self, guide: Guide) -> frozenset[str]:
        """The terms of ``guide``'s title and tags."""
        return self._heading.get(guide.id, frozenset())

    def rank(self, query: Mapping[str, float],
             among: Callable[[Guide], bool] | None = None) -> list[Scored]:
        """Every guide ``among`` accepts (all by default) with its BM25 score for ``query``
        (term → weight), best first; a guide no query term reaches scores 0 and comes
        last, by title."""
        scored = []
        for i, tf in enumerate(self._tf):
            if among is not None and not among(self.guides[i]):
                continue
            norm = K1 * (1 - B + B * self._len[i] / self._avg_len)
            score = 0.0
            for term, weight in query.items():
                freq = tf.get(term)
                if freq:
                    score += weight * self._idf[term] * freq * (K1 + 1) / (freq + norm)
            scored.append(Scored(self.guides[i], score))
        scored.sort(key=lambda s: (-s.score, s.guide.title))
        return scored
