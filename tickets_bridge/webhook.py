"""Generic JSON webhook adapter: any receiver that speaks HTTP and JSON.

Every event is POSTed to the configured URL with an ``Idempotency-Key`` header (the
event's key: a receiver that honours it never acts twice) and, when a token is set,
``Authorization: Bearer <token>``. The body of an incident's event::

    {"version": 1, "event": "opened|updated|resolved", "idempotency_key": "…",
     "reference": "INC-2026-0042", "title": "…", "impact": "…", "phase": "…",
     "text": "<the note a volunteer reads>", "incident": {…the whole event…}}

and of a member's request for help (``Idempotency-Key``: the request's key)::

    {"version": 1, "event": "assistance_request", "idempotency_key": "…",
     "reference": "DEM-20261206-7KQ2", "title": "[DEM-…] <the member's title>",
     "text": "<the member's words>", "note": "<the note for volunteers>",
     "member": {"name", "email", "member_id"}, "category", "service_id", "service_name",
     "attachments": [{"filename", "media_type", "size", "sha256", "data": <base64>}]}

A receiver may answer ``{"id": …, "number": …, "url": …}`` to the opening event or the
request: Vigie then shows that ticket to volunteers. Error statuses are mapped as for
every bridge (429 → retry later, other 4xx → dead letter with the receiver's message,
5xx → retry).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib

import aiohttp

from monitor.api import AssistanceRequest, IncidentEvent, call
from tickets_bridge import evidence, request_text
from tickets_bridge.desk import DeskAdapter
from tickets_bridge.journal import Ticket
from tickets_bridge.request_text import Attachment, Member
from tickets_bridge.settings import WebhookDesk

PAYLOAD_VERSION = 1
REQUEST_EVENT = "assistance_request"


def payload(event: IncidentEvent, text: str, lang: str = "fr") -> dict:
    """The JSON body for ``event`` (``own_links`` left out: they are Vigie's own)."""
    incident = dataclasses.asdict(event)
    incident.pop("own_links", None)
    return {"version": PAYLOAD_VERSION, "event": event.kind,
            "idempotency_key": event.idempotency_key, "reference": event.reference,
            "title": evidence.ticket_title(event, lang), "impact": event.impact,
            "phase": event.phase, "text": text, "incident": incident}


def request_payload(request: AssistanceRequest, who: Member, files: list[Attachment],
                    missing: list[str], zone: str = "Europe/Paris", lang: str = "fr") -> dict:
    """The JSON body for a member's request (screenshots in base64, unchanged)."""
    return {"version": PAYLOAD_VERSION, "event": REQUEST_EVENT,
            "idempotency_key": request.idempotency_key, "reference": request.reference,
            "title": request_text.ticket_title(request, lang),
            "text": request_text.member_text(who),
            "note": request_text.volunteers_note(request, who, missing, zone, lang),
            "member": {"name": who.name, "email": who.email, "member_id": who.member_id},
            "category": request.category, "service_id": request.service_id,
            "service_name": request.service_name, "language": request.language,
            "attachments": [{"filename": f.filename, "media_type": f.media_type,
                             "size": len(f.data), "sha256": hashlib.sha256(f.data).hexdigest(),
                             "data": base64.b64encode(f.data).decode("ascii")} for f in files]}


class WebhookAdapter(DeskAdapter):
    """Tickets through a JSON webhook."""

    label = "webhook"
    resend_safe = True

    def __init__(self, settings: WebhookDesk, session: aiohttp.ClientSession,
                 zone: str = "Europe/Paris", lang: str = "fr") -> None:
        self.settings = settings
        self.session = session
        self.zone = zone
        self.lang = lang

    async def send(self, key: str, body: dict) -> dict:
        """POST ``body`` with ``key``; the receiver's JSON answer (``{}`` when it is not
        JSON)."""
        headers = {"Idempotency-Key": key, "Accept": "application/json"}
        secrets: tuple[str, ...] = ()
        if self.settings.token is not None:
            token = self.settings.token.get_secret_value()
            headers["Authorization"] = f"Bearer {token}"
            secrets = (token,)
        answer = await call(self.session, "POST", self.settings.url, service="Webhook",
                            timeout=self.settings.timeout, secrets=secrets, headers=headers,
                            json=body)
        data = answer.json()
        return data if isinstance(data, dict) else {}

    async def post(self, event: IncidentEvent, text: str) -> dict:
        """POST the event; the receiver's JSON answer."""
        return await self.send(event.idempotency_key, payload(event, text, self.lang))

    @staticmethod
    def _ticket(data: dict, default_id: str, title: str) -> Ticket:
        ticket_id = str(data.get("id") or default_id)
        return Ticket(ticket_id, str(data.get("number") or ticket_id), str(data.get("url") or ""),
                      title)

    async def create(self, event: IncidentEvent) -> Ticket:
        """POST the opening event; the receiver may name the ticket it made."""
        data = await self.post(event, evidence.opening_note(event, self.zone, self.lang))
        return self._ticket(data, event.reference, evidence.ticket_title(event, self.lang))

    async def follow_up(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """POST the update."""
        await self.post(event, evidence.update_note(event, self.zone, self.lang))

    async def resolve(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """POST the resolution."""
        await self.post(event, evidence.resolution_note(event, self.zone, self.lang))

    async def create_request(self, request: AssistanceRequest, who: Member,
                             files: list[Attachment], missing: list[str]) -> Ticket:
        """POST the request with its screenshots; the receiver may name its ticket."""
        data = await self.send(request.idempotency_key,
                               request_payload(request, who, files, missing, self.zone,
                                               self.lang))
        return self._ticket(data, request.reference,
                            request_text.ticket_title(request, self.lang))
