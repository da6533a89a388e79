"""Which receivers get an event: its name, its severity, and the route rules.

An incident keeps the severity of its impact through all its events (opened, updated,
reminder, resolved), so the people alerted when it opened also hear when it is over.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.api import IncidentEvent, MaintenanceEvent, SystemAlert

if TYPE_CHECKING:
    from plugins.notify_apprise.settings import RouteSettings
    from plugins.notify_apprise.targets import Target

Event = IncidentEvent | MaintenanceEvent | SystemAlert

#: an incident's severity, from its impact (a ServiceStatus label): a mapping to Apprise's
#: vocabulary, not an order (statuses are ranked by monitor.status)
IMPACT_SEVERITY = {
    "major_outage": "critical",
    "partial_outage": "warning",
    "degraded": "warning",
    "unknown": "warning",
    "maintenance": "info",
    "operational": "success",
}
#: Apprise's message type for each severity (colours and icons in chat receivers)
NOTIFY_TYPES = {"critical": "failure", "warning": "warning", "info": "info",
                "success": "success"}


def event_name(event: Event) -> str:
    """``incident.opened``, ``maintenance.started``, ``system``… (see ``EVENT_NAMES``)."""
    if isinstance(event, IncidentEvent):
        return f"incident.{event.kind}"
    if isinstance(event, MaintenanceEvent):
        return f"maintenance.{event.kind}"
    return "system"


def severity(event: Event) -> str:
    """The severity routes match: critical, warning, info or success."""
    if isinstance(event, IncidentEvent):
        return IMPACT_SEVERITY.get(event.impact, "warning")
    if isinstance(event, MaintenanceEvent):
        return "info"
    return event.severity if event.severity in NOTIFY_TYPES else "warning"


def notify_type(event: Event) -> str:
    """Apprise's type for the message: an incident's end is a success whatever it was."""
    if isinstance(event, IncidentEvent) and event.kind == "resolved":
        return "success"
    if isinstance(event, MaintenanceEvent) and event.kind == "ended":
        return "success"
    return NOTIFY_TYPES[severity(event)]


@dataclass(frozen=True, slots=True)
class Scope:
    """What route rules look at in an event."""

    name: str
    severity: str
    services: frozenset[str]
    groups: frozenset[str]
    code: str | None = None


def scope(event: Event, service_groups: Mapping[str, str | None]) -> Scope:
    """The scope of ``event``; ``service_groups`` maps service ids to group ids (for the
    system alerts that only name a service)."""
    if isinstance(event, SystemAlert):
        services = frozenset([event.service_id] if event.service_id else [])
        groups = frozenset(g for s in services if (g := service_groups.get(s)))
        return Scope(event_name(event), severity(event), services, groups, event.code)
    services = frozenset(s.id for s in event.services)
    groups = frozenset(s.group or service_groups.get(s.id) or "" for s in event.services) - {""}
    return Scope(event_name(event), severity(event), services, groups)


def rule_matches(rule: RouteSettings, where: Scope) -> bool:
    """True when every criterion the rule gives matches the event."""
    if rule.services and not where.services & set(rule.services):
        return False
    if rule.groups and not where.groups & set(rule.groups):
        return False
    if rule.severities and where.severity not in rule.severities:
        return False
    if rule.events and where.name not in rule.events:
        return False
    return not rule.codes or bool(where.code and any(
        fnmatch.fnmatchcase(where.code, pattern) for pattern in rule.codes))


def routed_tags(where: Scope, routes: Iterable[RouteSettings]) -> set[str]:
    """The tags of every rule that matches."""
    return {tag for rule in routes if rule_matches(rule, where) for tag in rule.tags}


def select(where: Scope, targets: Sequence[Target], routes: Iterable[RouteSettings],
           default_tags: Iterable[str]) -> list[Target]:
    """The receivers of an event, in configuration order.

    Untagged receivers get everything. Tagged ones get the events routed to one of their
    tags; an event no rule routes to a tagged receiver takes the default route (receivers
    with a default tag, or every receiver when none has one), so nothing is dropped.
    """
    untagged = [t for t in targets if not t.tags]
    tags = routed_tags(where, routes)
    chosen = [t for t in targets if t.tags & tags]
    if not chosen:
        defaults = set(default_tags)
        chosen = [t for t in targets if t.tags & defaults] or list(targets)
    keep = {id(t) for t in [*chosen, *untagged]}
    return [t for t in targets if id(t) in keep]
