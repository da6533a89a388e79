"""Helpers shared by the bridge tests: incident events, and a stand-in for the outbox.

:func:`deliver` calls a durable hook the way the outbox worker does (same event, same
idempotency key on every attempt; RetryLater honoured; PermanentFailure dead-letters;
anything else retried), without sleeping: it records the delays it was asked for.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from monitor.notifications import (
    CheckSnapshot,
    IncidentEvent,
    Link,
    PermanentFailure,
    RetryLater,
    ServiceSnapshot,
)

T0 = 1_773_320_400.0  # 12 March 2026, 14:00 Paris time


def make_event(kind: str = "opened", *, reference: str = "INC-2026-0042",
               incident_id: int = 42, services=(("nextcloud", "Nextcloud (fichiers et agendas)"),),
               checks=(("nextcloud", "status", "nextcloud", "Nextcloud est en mode maintenance",
                        "Nextcloud is in maintenance mode", "nextcloud.maintenance"),),
               impact: str = "major_outage", phase: str = "investigating",
               title: str = "Nextcloud indisponible", message: str = "",
               at: float | None = None, links=(), own_links=(), key: str | None = None,
               resolved_at: float | None = None) -> IncidentEvent:
    """An incident event as the incident engine writes it."""
    return IncidentEvent(
        kind=kind, idempotency_key=key or f"incident-{incident_id}-{kind}-{at or T0}",
        incident_id=incident_id, reference=reference, title_fr=title, title_en=title,
        impact=impact, phase=phase, automatic=True, opened_at=T0, at=at or T0,
        resolved_at=resolved_at, message_fr=message, message_en=message,
        services=tuple(ServiceSnapshot(sid, name, name, None, impact) for sid, name in services),
        checks=tuple(CheckSnapshot(sid, cid, kind_, cid, cid, "down", fr, en, T0 - 120,
                                   reason_code=code[0] if code else "")
                     for sid, cid, kind_, fr, en, *code in checks),
        links=tuple(links), own_links=tuple(own_links),
        incident_url="https://etat.exemple.coop/incidents/42",
        status_page_url="https://etat.exemple.coop/")


def follow(event: IncidentEvent, kind: str, links: list[Link] | None, **changes) -> IncidentEvent:
    """The next event of the same incident, carrying the links a plugin attached."""
    own = tuple(event.own_links) + tuple(links or ())
    at = changes.pop("at", event.at + 600)
    if "message" in changes:
        changes["message_fr"] = changes["message_en"] = changes.pop("message")
    return dataclasses.replace(event, kind=kind, at=at, own_links=own,
                               idempotency_key=f"incident-{event.incident_id}-{kind}-{at}",
                               **changes)


@dataclass
class Delivery:
    """What the stand-in outbox saw."""

    outcome: str  # "ok" | "dead" | "gave_up"
    result: object = None
    attempts: int = 0
    waits: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def deliver(hook: Callable[[IncidentEvent], Awaitable[object]], event: IncidentEvent,
                  max_attempts: int = 5) -> Delivery:
    """Deliver ``event`` through ``hook`` as the outbox worker would."""
    delivery = Delivery("gave_up")
    for _ in range(max_attempts):
        delivery.attempts += 1
        try:
            delivery.result = await hook(event)
        except RetryLater as wait:
            delivery.waits.append(wait.seconds)
            continue
        except PermanentFailure as failure:
            delivery.outcome, delivery.result = "dead", str(failure)
            return delivery
        except Exception as exc:  # retried with backoff by the real outbox
            delivery.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        delivery.outcome = "ok"
        return delivery
    return delivery


def now() -> float:
    """Wall-clock time (tests compare dates the fakes store)."""
    return time.time()
