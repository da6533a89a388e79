"""Zammad adapter: create with an internal note, add a note per update, close; a member's
request as a ticket of the member's with the screenshots, then an internal note.

Shapes (Zammad's REST API documentation): ``Authorization: Token token=<t>``;
``POST /api/v1/tickets`` → 201 ``{"id", "number", …}`` (the first ``article`` may carry
``attachments: [{"filename", "data": <base64>, "mime-type"}]``);
``POST /api/v1/ticket_articles``; ``PUT /api/v1/tickets/{id}`` ``{"state": "closed"}``;
``GET /api/v1/tickets/search?query=`` → ``{"tickets": [ids], "tickets_count",
"assets": {"Ticket": {"<id>": {...}}}}``; errors ``{"error", "error_human"}`` (422 for an
unknown group).

Lookups: the ticket title holds the incident's (or the request's) reference, so a search
by reference finds a ticket created by an attempt whose answer was lost (Zammad's search
index is updated within seconds; the outbox's first retry comes later than that). Notes
end with a marker naming the event's key, so a note posted by a lost attempt is found in
``GET /api/v1/ticket_articles/by_ticket/{id}`` and not posted twice.
"""

from __future__ import annotations

import base64
import re

import aiohttp

from monitor.api import AssistanceRequest, IncidentEvent, call, clean_line
from tickets_bridge import evidence, request_text
from tickets_bridge.desk import DeskAdapter
from tickets_bridge.journal import Ticket
from tickets_bridge.request_text import Attachment, Member
from tickets_bridge.settings import ZammadDesk

#: a Zammad ticket id: a number (it goes into request paths and links)
_ID = re.compile(r"[0-9]{1,18}")


class ZammadAdapter(DeskAdapter):
    """Tickets in a Zammad desk."""

    label = "Zammad"
    can_lookup = True
    internal_notes = True

    def __init__(self, settings: ZammadDesk, session: aiohttp.ClientSession,
                 zone: str = "Europe/Paris", lang: str = "fr") -> None:
        self.settings = settings
        self.session = session
        self.zone = zone
        self.lang = lang

    async def _call(self, method: str, path: str, **kwargs):
        token = self.settings.token.get_secret_value()
        return await call(self.session, method, f"{self.settings.url}{path}", service="Zammad",
                          timeout=self.settings.timeout, secrets=(token,),
                          headers={"Authorization": f"Token token={token}",
                                   "Accept": "application/json"}, **kwargs)

    def _ticket(self, data: dict) -> Ticket:
        # outside text: the id goes into later requests' paths and the volunteers' link
        raw = data.get("id")
        if isinstance(raw, bool) or not _ID.fullmatch(str(raw)):
            raise ValueError(f"Zammad: the ticket id in its answer is not a number: "
                             f"{clean_line(raw, 40)!r}")
        ticket_id = str(int(str(raw)))
        return Ticket(ticket_id, clean_line(data.get("number") or ticket_id, 40),
                      f"{self.settings.url}/#ticket/zoom/{ticket_id}",
                      clean_line(data.get("title") or ""))

    async def _create(self, body: dict) -> Ticket:
        data = (await self._call("POST", "/api/v1/tickets", json=body)).json()
        if not isinstance(data, dict) or "id" not in data:
            raise ValueError("Zammad: the answer to a ticket creation has no id")
        return self._ticket(data)

    async def create(self, event: IncidentEvent) -> Ticket:
        """``POST /api/v1/tickets`` with the evidence as an internal note."""
        title = evidence.ticket_title(event, self.lang)
        return await self._create({
            "title": title, "group": self.settings.group,
            "customer_id": f"guess:{self.settings.customer}",
            "article": {"subject": title,
                        "body": evidence.opening_note(event, self.zone, self.lang),
                        "type": "note", "internal": True, "content_type": "text/plain"}})

    async def create_request(self, request: AssistanceRequest, who: Member,
                             files: list[Attachment], missing: list[str]) -> Ticket:
        """``POST /api/v1/tickets`` for the member (``guess:<e-mail>``: Zammad finds or
        creates the customer) in ``requests_group``, the member's words as the first
        article, visible to the member, with the screenshots."""
        title = request_text.ticket_title(request, self.lang)
        return await self._create({
            "title": title, "group": self.settings.requests_group or self.settings.group,
            "customer_id": f"guess:{who.email}",
            "article": {"subject": title, "body": request_text.member_text(who),
                        "type": "note", "sender": "Customer", "internal": False,
                        "content_type": "text/plain",
                        "attachments": [{"filename": f.filename,
                                         "data": base64.b64encode(f.data).decode("ascii"),
                                         "mime-type": f.media_type} for f in files]}})

    async def find(self, reference: str) -> Ticket | None:
        """Search by reference; keep only a ticket whose title holds it exactly."""
        # newest first: the ticket looked for was created moments ago, and a reference
        # also matches loosely (its parts are separate search terms)
        answer = await self._call("GET", "/api/v1/tickets/search",
                                  params={"query": reference, "limit": "20",
                                          "sort_by": "created_at", "order_by": "desc"})
        data = answer.json()
        if not isinstance(data, dict):
            return None
        found = (data.get("assets") or {}).get("Ticket") or {}
        wanted = f"[{reference}]"
        for ticket_id in data.get("tickets") or ():
            ticket = found.get(str(ticket_id)) or {}
            if wanted in str(ticket.get("title", "")):
                return self._ticket({"id": ticket_id, **ticket})
        return None

    async def _has_note(self, ticket: Ticket, mark: str) -> bool:
        answer = await self._call("GET", f"/api/v1/ticket_articles/by_ticket/{ticket.id}")
        articles = answer.json() or []
        return any(isinstance(a, dict) and mark in str(a.get("body", "")) for a in articles)

    async def _note(self, ticket: Ticket, subject: str, text: str, mark: str,
                    check_first: bool) -> None:
        if check_first and await self._has_note(ticket, mark):
            return
        await self._call("POST", "/api/v1/ticket_articles",
                         json={"ticket_id": int(ticket.id), "subject": subject, "body": text,
                               "type": "note", "internal": True, "content_type": "text/plain"})

    async def follow_up(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """An internal note with the update."""
        await self._note(ticket, evidence.ticket_title(event, self.lang),
                         evidence.update_note(event, self.zone, self.lang),
                         evidence.marker(event), check_first)

    async def resolve(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """The resolution note, then ``PUT`` the closing state (idempotent)."""
        await self._note(ticket, evidence.ticket_title(event, self.lang),
                         evidence.resolution_note(event, self.zone, self.lang),
                         evidence.marker(event), check_first)
        await self._call("PUT", f"/api/v1/tickets/{ticket.id}",
                         json={"state": self.settings.close_state})

    async def request_note(self, ticket: Ticket, request: AssistanceRequest, who: Member,
                           missing: list[str], check_first: bool) -> None:
        """The internal note for volunteers (what Vigie knew when the member wrote)."""
        await self._note(ticket, request_text.ticket_title(request, self.lang),
                         request_text.volunteers_note(request, who, missing, self.zone,
                                                      self.lang),
                         request_text.marker(request), check_first)
