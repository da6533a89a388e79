"""osTicket adapter: create only.

``POST /api/tickets.json`` with ``X-API-Key`` (osTicket binds each key to one caller IP
address) and ``{"alert", "autorespond", "source": "API", "name", "email", "subject",
"message": "data:text/plain,…"}`` answers **201** with the ticket number as plain text;
errors are non-2xx plain text (401 "API key not authorized", 400 for a missing field…).

osTicket's API cannot search, update or close tickets. So after an ambiguous failure (a
timeout once the request was sent) Vigie cannot know whether the ticket exists, and
creating again could make a second one: the delivery is dead-lettered instead, with a
message asking a volunteer to check the desk for the incident reference. Updates and the
resolution are not sent (use the e-mail adapter, or Zammad, for the full lifecycle).
"""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from monitor.api import IncidentEvent, call
from tickets_bridge import evidence
from tickets_bridge.desk import DeskAdapter
from tickets_bridge.journal import Ticket
from tickets_bridge.settings import OsTicketDesk


class OsTicketAdapter(DeskAdapter):
    """Tickets in an osTicket desk (creation only)."""

    label = "osTicket"

    def __init__(self, settings: OsTicketDesk, session: aiohttp.ClientSession,
                 zone: str = "Europe/Paris") -> None:
        self.settings = settings
        self.session = session
        self.zone = zone

    async def create(self, event: IncidentEvent) -> Ticket:
        """``POST /api/tickets.json``; the answer is the ticket number."""
        key = self.settings.api_key.get_secret_value()
        message = "data:text/plain;charset=utf-8," + quote(evidence.opening_note(event, self.zone))
        body = {"alert": True, "autorespond": False, "source": "API",
                "name": self.settings.name, "email": self.settings.email,
                "subject": evidence.ticket_title(event), "message": message}
        answer = await call(self.session, "POST", f"{self.settings.url}/api/tickets.json",
                            service="osTicket", timeout=self.settings.timeout, secrets=(key,),
                            headers={"X-API-Key": key}, json=body)
        number = answer.text.strip()
        if not number or len(number) > 40 or not number.replace("-", "").isalnum():
            raise ValueError("osTicket: the answer to a ticket creation is not a ticket number")
        url = f"{self.settings.url}/scp/tickets.php?a=search&query={quote(number)}"
        return Ticket(number, number, url, evidence.ticket_title(event))
