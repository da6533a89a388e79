"""What each guide is about: the services a guide belongs to, known from its site.

The ranking rule (:mod:`docs_bridge.matcher`) shows a service's own guides first and
guides about another service almost never, so it must know, for every guide, which
services it is about. That is read, never guessed from the guide's text:

1. the configuration's explicit mapping: a guide named in ``guides.services.<id>.guides``
   or carrying one of ``guides.services.<id>.tags`` belongs to ``<id>``;
2. what the page declares: a BookStack tag ``[service=<id>]`` (the source's
   ``service_tag``), a Markdown front matter ``service:``/``services:``, a ``service=<id>``
   tag. A declared id that is no configured service still says the guide is about
   something else (a service Vigie does not watch);
3. when a page declares nothing: where it sits (its BookStack book, the folders of its
   Markdown file or MkDocs page). A place belongs to a configured service when each of its
   words is a word of the service's id, name or configured ``keywords``
   (``hebergement/`` → "Hébergement web", ``bases-de-donnees/`` → "Bases de données").

A guide none of these names is *general* (about no particular service).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from docs_bridge.guides import Guide
from docs_bridge.settings import ServiceGuides
from docs_bridge.text import fold, terms


class Subjects:
    """The services each guide is about (see the module's docstring), computed once per
    guide list."""

    def __init__(self, guides: Iterable[Guide], services: Mapping[str, frozenset[str]],
                 mapping: Mapping[str, ServiceGuides] | None = None) -> None:
        """
        :param services: configured service id → the terms of its id, name and keywords
            (:func:`docs_bridge.matcher.identity_terms`).
        :param mapping: the configuration's ``guides.services``.
        """
        self._ids = {fold(sid): sid for sid in services}
        self._words = list(services.items())
        self._of: dict[str, frozenset[str]] = {}
        for guide in guides:
            self._of[guide.id] = self._mapped(guide, mapping or {}) | self._own(guide)

    def of(self, guide: Guide) -> frozenset[str]:
        """The service ids ``guide`` is about (empty: a general guide)."""
        return self._of.get(guide.id, frozenset())

    @staticmethod
    def _mapped(guide: Guide, mapping: Mapping[str, ServiceGuides]) -> frozenset[str]:
        return frozenset(service_id for service_id, wanted in mapping.items()
                         if any(guide.answers_to(ref) for ref in wanted.guides)
                         or any(guide.has_tag(tag) for tag in wanted.tags))

    def _own(self, guide: Guide) -> frozenset[str]:
        declared = [v for v in guide.services if fold(v).strip()]
        if declared:
            return frozenset(self._ids.get(fold(v).strip(), fold(v).strip()) for v in declared)
        found: set[str] = set()
        for section in guide.sections:
            words = set(terms(section))
            if words:
                found.update(sid for sid, known in self._words if words <= known)
        return frozenset(found)
