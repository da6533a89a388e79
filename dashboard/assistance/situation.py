"""Step 1: the member's choice (a service, as grouped on the status page, or a category
such as "my account"), and what the status page knows that touches it.

Everything is read from the dashboard's snapshot (:mod:`dashboard.pages`), the same data
the status page shows at this moment: an open incident or a maintenance in progress on the
service, or on another service of its group, is "already known" — the member reads it first
and may stop there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dashboard.views import (
    DetectedMaintenanceView,
    GroupView,
    IncidentView,
    MaintenanceView,
    PageData,
    ServiceView,
)


@dataclass(frozen=True, slots=True)
class Situation:
    """What the member chose and what is known about it."""

    #: the service id or the category id (what the request's ``category`` will be)
    category: str
    #: a LocalizedText or a Text: what the member chose, in words
    label: Any
    #: the chosen service (None for a category)
    service: ServiceView | None = None
    #: its group (None when it has none, or for a category)
    group: GroupView | None = None
    #: open incidents touching the service or its group, the service's own first
    incidents: tuple[IncidentView, ...] = ()
    #: maintenance in progress on the service or its group
    maintenance: tuple[MaintenanceView, ...] = ()
    #: services of the group announcing maintenance themselves
    detected: tuple[DetectedMaintenanceView, ...] = ()
    #: services of the group other than the chosen one that something above touches
    neighbours: tuple[ServiceView, ...] = field(default=())

    @property
    def known(self) -> bool:
        """An incident or a maintenance already explains what the member may see."""
        return bool(self.incidents or self.maintenance or self.detected)

    @property
    def service_id(self) -> str | None:
        """The chosen service's id (None for a category)."""
        return self.service.id if self.service is not None else None


def categories(settings: Any) -> list[Any]:
    """The choices besides the services (``assistance.categories``), in their order."""
    return list(settings.categories)


def find(data: PageData, settings: Any, category: str) -> Situation | None:
    """The situation of ``category`` (a service id or a category id), or None when it is
    neither."""
    service = data.services.get(category)
    if service is None:
        chosen = next((c for c in categories(settings) if c.id == category), None)
        return None if chosen is None else Situation(category=chosen.id, label=chosen.label)
    group = next((g for g in data.groups if g.id is not None and g.id == service.group), None)
    related = [service.id] + ([s.id for s in group.services if s.id != service.id]
                              if group is not None else [])
    # the service's own incidents first, then those of its group
    incidents = sorted((i for i in data.open_incidents if set(i.service_ids) & set(related)),
                       key=lambda i: service.id not in i.service_ids)
    maintenance = tuple(m for m in data.active_maintenance
                        if any(m.covers(sid) for sid in related))
    detected = tuple(d for d in data.detected_maintenance if d.service_id in related)
    touched = {sid for i in incidents for sid in i.service_ids}
    touched |= {sid for m in maintenance for sid in related if m.covers(sid)}
    touched |= {d.service_id for d in detected}
    neighbours = tuple(s for s in (group.services if group is not None else ())
                       if s.id != service.id and s.id in touched)
    return Situation(category=service.id, label=service.name, service=service, group=group,
                     incidents=tuple(incidents), maintenance=maintenance, detected=detected,
                     neighbours=neighbours)


def summary(sit: Situation, lang: str) -> str:
    """What is known, in one plain sentence (the first thing the member reads)."""
    from babel.lists import format_list

    from dashboard.i18n import gettext, ngettext

    name = sit.label.text(lang)
    own = [i for i in sit.incidents if sit.service_id in i.service_ids]
    others = format_list([s.name.text(lang) for s in sit.neighbours], locale=lang)
    if own:
        return ngettext("An incident is going on with %(service)s: the volunteers are on it.",
                        "%(num)d incidents are going on with %(service)s: the volunteers "
                        "are on them.", len(own), service=name)
    if sit.incidents:
        return gettext("An incident is going on with %(others)s, in the same family as "
                       "%(service)s: it may explain what you see. The volunteers are on it.",
                       others=others, service=name)
    if sit.service_id is not None and (
            any(m.covers(sit.service_id) for m in sit.maintenance)
            or any(d.service_id == sit.service_id for d in sit.detected)):
        return gettext("A maintenance is in progress on %(service)s: it may explain what "
                       "you see.", service=name)
    return gettext("A maintenance is in progress on %(others)s, in the same family as "
                   "%(service)s: it may explain what you see.", others=others, service=name)
