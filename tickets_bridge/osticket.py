"""osTicket adapter: create only.

``POST /api/tickets.json`` with ``X-API-Key`` (osTicket binds each key to one caller IP
address) and ``{"alert", "autorespond", "source": "API", "name", "email", "subject",
"message": "data:text/plain,…", "attachments": [{"name.png": "data:image/png;base64,…"}],
"topicId"}`` answers **201** with the ticket number as plain text; errors are non-2xx plain
text (401 "API key not authorized", 400 for a missing field…).

osTicket's API cannot search, update or close tickets, nor add internal notes. So after an
ambiguous failure (a timeout once the request was sent) Vigie cannot know whether the
ticket exists, and creating again could make a second one: the delivery is dead-lettered
instead, with a message asking a volunteer to check the desk for the reference. Updates
and the resolution are not sent (use the e-mail adapter, or Zammad, for the full
lifecycle). A member's request is opened in the member's name with the screenshots, the
note for volunteers after the member's words in the same message.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import aiohttp

from monitor.api import AssistanceRequest, IncidentEvent, call
from tickets_bridge import evidence, request_text
from tickets_bridge.desk import DeskAdapter
from tickets_bridge.journal import Ticket
from tickets_bridge.request_text import Attachment, Member
from tickets_bridge.settings import OsTicketDesk


def _plain(text: str) -> str:
    return "data:text/plain;charset=utf-8," + quote(text)


class OsTicketAdapter(DeskAdapter):
    """Tickets in an osTicket desk (creation only)."""

    label = "osTicket"

    def __init__(self, settings: OsTicketDesk, session: aiohttp.ClientSession,
                 zone: str = "Europe/Paris", lang: str = "fr") -> None:
        self.settings = settings
        self.session = session
        self.zone = zone
        self.lang = lang

    async def _create(self, body: dict, title: str) -> Ticket:
        key = self.settings.api_key.get_secret_value()
        answer = await call(self.session, "POST", f"{self.settings.url}/api/tickets.json",
                            service="osTicket", timeout=self.settings.timeout, secrets=(key,),
                            headers={"X-API-Key": key},
                            json={"alert": True, "autorespond": False, "source": "API",
                                  "subject": title, **body})
        number = answer.text.strip()
        if not number or len(number) > 40 or not number.replace("-", "").isalnum():
            raise ValueError("osTicket: the answer to a ticket creation is not a ticket number")
        url = f"{self.settings.url}/scp/tickets.php?a=search&query={quote(number)}"
        return Ticket(number, number, url, title)

    async def create(self, event: IncidentEvent) -> Ticket:
        """``POST /api/tickets.json``; the answer is the ticket number."""
        return await self._create(
            {"name": self.settings.name, "email": self.settings.email,
             "message": _plain(evidence.opening_note(event, self.zone, self.lang))},
            evidence.ticket_title(event, self.lang))

    async def create_request(self, request: AssistanceRequest, who: Member,
                             files: list[Attachment], missing: list[str]) -> Ticket:
        """The member's ticket (their name and address), the screenshots attached, in
        ``requests_topic_id`` when set."""
        body: dict = {
            "name": who.name or who.email, "email": who.email,
            "message": _plain(request_text.combined_text(request, who, missing, self.zone,
                                                         self.lang)),
            "attachments": [{f.filename: f"data:{f.media_type};base64,"
                             + base64.b64encode(f.data).decode("ascii")} for f in files]}
        if self.settings.requests_topic_id is not None:
            body["topicId"] = self.settings.requests_topic_id
        return await self._create(body, request_text.ticket_title(request, self.lang))
