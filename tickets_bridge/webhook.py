"""Generic JSON webhook adapter: any receiver that speaks HTTP and JSON.

Every event is POSTed to the configured URL with an ``Idempotency-Key`` header (the
event's key: a receiver that honours it never acts twice) and, when a token is set,
``Authorization: Bearer <token>``. The body::

    {"version": 1, "event": "opened|updated|resolved", "idempotency_key": "…",
     "reference": "INC-2026-0042", "title": "…", "impact": "…", "phase": "…",
     "text": "<the note a volunteer reads>", "incident": {…the whole event…}}

A receiver may answer ``{"id": …, "number": …, "url": …}`` to the opening event: Vigie
then shows that ticket to volunteers. Error statuses are mapped as for every bridge
(429 → retry later, other 4xx → dead letter with the receiver's message, 5xx → retry).
"""

from __future__ import annotations

import dataclasses

import aiohttp

from monitor.api import IncidentEvent, call
from tickets_bridge import evidence
from tickets_bridge.desk import DeskAdapter
from tickets_bridge.journal import Ticket
from tickets_bridge.settings import WebhookDesk

PAYLOAD_VERSION = 1


def payload(event: IncidentEvent, text: str) -> dict:
    """The JSON body for ``event`` (``own_links`` left out: they are Vigie's own)."""
    incident = dataclasses.asdict(event)
    incident.pop("own_links", None)
    return {"version": PAYLOAD_VERSION, "event": event.kind,
            "idempotency_key": event.idempotency_key, "reference": event.reference,
            "title": evidence.ticket_title(event), "impact": event.impact,
            "phase": event.phase, "text": text, "incident": incident}


class WebhookAdapter(DeskAdapter):
    """Tickets through a JSON webhook."""

    label = "webhook"
    resend_safe = True

    def __init__(self, settings: WebhookDesk, session: aiohttp.ClientSession,
                 zone: str = "Europe/Paris") -> None:
        self.settings = settings
        self.session = session
        self.zone = zone

    async def post(self, event: IncidentEvent, text: str) -> dict:
        """POST the event; the receiver's JSON answer (``{}`` when it is not JSON)."""
        headers = {"Idempotency-Key": event.idempotency_key, "Accept": "application/json"}
        secrets: tuple[str, ...] = ()
        if self.settings.token is not None:
            token = self.settings.token.get_secret_value()
            headers["Authorization"] = f"Bearer {token}"
            secrets = (token,)
        answer = await call(self.session, "POST", self.settings.url, service="Webhook",
                            timeout=self.settings.timeout, secrets=secrets, headers=headers,
                            json=payload(event, text))
        data = answer.json()
        return data if isinstance(data, dict) else {}

    async def create(self, event: IncidentEvent) -> Ticket:
        """POST the opening event; the receiver may name the ticket it made."""
        data = await self.post(event, evidence.opening_note(event, self.zone))
        ticket_id = str(data.get("id") or event.reference)
        return Ticket(ticket_id, str(data.get("number") or ticket_id), str(data.get("url") or ""),
                      evidence.ticket_title(event))

    async def follow_up(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """POST the update."""
        await self.post(event, evidence.update_note(event, self.zone))

    async def resolve(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """POST the resolution."""
        await self.post(event, evidence.resolution_note(event, self.zone))
