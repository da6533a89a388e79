"""An incident's state when its alert is sent, which may differ from the state the event
was written with: a grouped alert leaves up to ``storm.hold`` after the opening, and a
delivery retried by the outbox may leave much later. The alert then says what is true now
(a service that recovered meanwhile is reported as recovered).

The live states are the running Vigie's (``runtime.state``, read only). They describe what
the probes see, so they are not applied to an incident a volunteer opened by hand, nor to
a service whose checks have no verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.api import IncidentEvent, ServiceStatus

if TYPE_CHECKING:
    from monitor.api import StateBook


@dataclass(frozen=True, slots=True)
class StateNow:
    """An incident's state at sending time, when it differs from its event's ``impact``."""

    #: a ServiceStatus label: ``operational`` when every service recovered
    status: str
    #: Unix time the last of its services recovered (None unless recovered)
    since: float | None = None

    @property
    def recovered(self) -> bool:
        """Every service of the incident works again."""
        return self.status == ServiceStatus.OPERATIONAL.label


def incident_now(event: IncidentEvent, states: StateBook | None) -> StateNow | None:
    """The state of ``event``'s services now, or None when it is the event's own impact or
    cannot be told (no live states, a resolved event, an incident opened by hand, a
    service unknown to the states or without a verdict)."""
    if states is None or event.kind == "resolved" or not event.automatic or not event.services:
        return None
    live = [states.services.get(service.id) for service in event.services]
    if any(s is None or s.status in (None, ServiceStatus.UNKNOWN) for s in live):
        return None
    statuses = [s.status for s in live]
    if all(status == ServiceStatus.OPERATIONAL for status in statuses):
        return StateNow(ServiceStatus.OPERATIONAL.label,
                        max((s.since for s in live if s.since is not None), default=None))
    broken = [status for status in statuses if status.is_outage]
    worst = max(broken) if broken else ServiceStatus.MAINTENANCE
    if worst.label == event.impact:
        return None
    return StateNow(worst.label)
