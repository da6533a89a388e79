"""The ``tickets`` plugin: one helpdesk ticket per incident, never two.

- **opened** (impact at least ``helpdesk.min_impact``): open the ticket with the evidence;
  return it as a link volunteers see (``public=False``, kind ``ticket``, ``external_id``
  = the desk's ticket id). Never shown on the public page.
- **updated**: add a note (an incident that becomes serious enough only now gets its
  ticket now). Reminders add nothing.
- **resolved**: the closing note, and the ticket is closed where the desk allows.

Exactly-once, as far as each desk allows, with the :class:`~tickets_bridge.journal.Journal`:
the creation of an incident's ticket is keyed by its reference, each note by the event's
idempotency key. A key left *pending* by an attempt whose outcome is unknown (timeout
after sending, crash) makes the next attempt look up first: Zammad is searched for the
reference (and its notes for the event's marker); e-mail and webhook re-send safely (same
Message-ID, same Idempotency-Key); osTicket, which cannot be searched, is dead-lettered
with a message asking a volunteer to check, rather than risking a second ticket.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import aiohttp

from monitor.api import DeliveryError, IncidentEvent, Link, PermanentFailure, RetryLater, hookimpl
from docs_bridge.settings import impact_reaches
from tickets_bridge.desk import DeskAdapter
from tickets_bridge.journal import Journal, Ticket
from tickets_bridge.settings import (
    EmailDesk,
    HelpdeskSettings,
    OsTicketDesk,
    WebhookDesk,
    ZammadDesk,
)

if TYPE_CHECKING:
    from monitor.api import StartupContext

log = logging.getLogger(__name__)

TICKET_KIND = "ticket"
JOURNAL_FILE = "tickets-journal.json"


def make_desk(settings: HelpdeskSettings, session: aiohttp.ClientSession,
              zone: str = "Europe/Paris") -> DeskAdapter:
    """The adapter for the configured desk."""
    # imported once a helpdesk is configured (the e-mail adapter loads smtplib and the
    # e-mail generator): a Vigie without one loads none of them
    from tickets_bridge.mail import EmailAdapter
    from tickets_bridge.osticket import OsTicketAdapter
    from tickets_bridge.webhook import WebhookAdapter
    from tickets_bridge.zammad import ZammadAdapter

    desk = settings.desk
    if isinstance(desk, ZammadDesk):
        return ZammadAdapter(desk, session, zone)
    if isinstance(desk, OsTicketDesk):
        return OsTicketAdapter(desk, session, zone)
    if isinstance(desk, EmailDesk):
        return EmailAdapter(desk, zone)
    if isinstance(desk, WebhookDesk):
        return WebhookAdapter(desk, session, zone)
    raise TypeError(f"unknown desk {desk!r}")


class TicketsPlugin:
    """Hook implementations of the ``tickets`` plugin, with the state they share."""

    def __init__(self) -> None:
        self.settings: HelpdeskSettings | None = None
        self.desk: DeskAdapter | None = None
        self.journal: Journal | None = None
        self._session: aiohttp.ClientSession | None = None

    def configure(self, settings: HelpdeskSettings, desk: DeskAdapter, journal: Journal) -> None:
        """Use this desk and journal (tests and embedding applications)."""
        self.settings, self.desk, self.journal = settings, desk, journal

    # The work ---------------------------------------------------------------------------

    def _links(self, ticket: Ticket) -> list[Link] | None:
        """The ticket as a volunteers-only link (none when the desk gave no address)."""
        assert self.desk is not None
        if not ticket.url:
            return None
        return [Link(kind=TICKET_KIND, title=f"Ticket {self.desk.label} {ticket.number}",
                     url=ticket.url, public=False, external_id=ticket.id)]

    @staticmethod
    def _own_link(event: IncidentEvent) -> Link | None:
        return next((link for link in event.own_links
                     if link.kind == TICKET_KIND and link.external_id), None)

    def known_ticket(self, event: IncidentEvent) -> Ticket | None:
        """The incident's ticket: from the journal, else from the links attached before."""
        assert self.journal is not None
        ticket = self.journal.ticket(event.reference)
        if ticket is not None:
            return ticket
        link = self._own_link(event)
        if link is None:
            return None
        return Ticket(str(link.external_id), link.title.rpartition(" ")[2], link.url, link.title)

    async def open_ticket(self, event: IncidentEvent) -> Ticket:
        """Create the incident's ticket, exactly once (see the module's docstring)."""
        assert self.desk is not None and self.journal is not None
        key = f"create:{event.reference}"
        if self.journal.pending(key):
            if self.desk.can_lookup:
                found = await self.desk.find(event)
                if found is not None:
                    log.info("tickets: %s already had ticket %s (earlier answer lost)",
                             event.reference, found.number)
                    return await self._recorded(event, key, found)
            elif not self.desk.resend_safe:
                raise self._unsure(event)
        self.journal.begin(key)
        await self.journal.flush()
        try:
            ticket = await self.desk.create(event)
        except DeliveryError as exc:
            if not exc.ambiguous:
                self.journal.forget(key)
                await self.journal.flush()
            elif not (self.desk.can_lookup or self.desk.resend_safe):
                raise self._unsure(event) from exc
            raise
        except (PermanentFailure, RetryLater):
            # the desk answered: it created nothing
            self.journal.forget(key)
            await self.journal.flush()
            raise
        return await self._recorded(event, key, ticket)

    async def _recorded(self, event: IncidentEvent, key: str, ticket: Ticket) -> Ticket:
        assert self.journal is not None
        self.journal.record_ticket(event.reference, ticket)
        self.journal.finish(key)
        await self.journal.flush()
        return ticket

    def _unsure(self, event: IncidentEvent) -> PermanentFailure:
        assert self.desk is not None
        return PermanentFailure(
            f"{self.desk.label} n'a pas répondu après avoir reçu la demande : le ticket de "
            f"{event.reference} a peut-être été créé. Vérifiez dans le support avant de "
            f"relancer (the desk cannot be searched; check it for {event.reference}).")

    async def add_note(self, ticket: Ticket, event: IncidentEvent, resolve: bool) -> None:
        """Add the update or resolution note, at most once per event."""
        assert self.desk is not None and self.journal is not None
        key = event.idempotency_key
        if self.journal.done(key):
            return
        check_first = self.journal.pending(key)
        self.journal.begin(key)
        await self.journal.flush()
        try:
            if resolve:
                await self.desk.resolve(ticket, event, check_first)
            else:
                await self.desk.follow_up(ticket, event, check_first)
        except DeliveryError as exc:
            if not exc.ambiguous:
                self.journal.forget(key)
                await self.journal.flush()
            raise
        self.journal.finish(key)
        await self.journal.flush()

    def _serious(self, event: IncidentEvent) -> bool:
        assert self.settings is not None
        return impact_reaches(event.impact, self.settings.min_impact)

    # Hooks ------------------------------------------------------------------------------

    @hookimpl
    def vigie_register_config_sections(self) -> dict[str, type]:
        """The ``helpdesk:`` section."""
        return {"helpdesk": HelpdeskSettings}

    @hookimpl
    async def vigie_startup(self, ctx: StartupContext) -> None:
        """Build the desk adapter and read the journal when ``helpdesk:`` is configured."""
        config = ctx.config
        settings = config.sections.get("helpdesk")
        if settings is None:
            return
        self._session = aiohttp.ClientSession(headers={"User-Agent": "Vigie tickets"})
        desk = make_desk(settings, self._session, config.file.site.timezone)
        self.configure(settings, desk, Journal(config.data_dir / JOURNAL_FILE, settings.keep))

    @hookimpl
    async def vigie_shutdown(self, ctx: StartupContext) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @hookimpl
    async def vigie_incident_opened(self, event: IncidentEvent) -> list[Link] | None:
        """Open the ticket when the incident is serious enough."""
        if self.desk is None or not self._serious(event) or self._own_link(event):
            return None
        # a ticket in the journal but not on the incident: the core lost the links of an
        # earlier delivery (a crash); give them again rather than opening a second ticket
        ticket = self.known_ticket(event) or await self.open_ticket(event)
        return self._links(ticket)

    @hookimpl
    async def vigie_incident_updated(self, event: IncidentEvent) -> list[Link] | None:
        """Add a note; open the ticket if the incident just became serious enough."""
        if self.desk is None or event.kind == "reminder":
            return None
        ticket = self.known_ticket(event)
        if ticket is None:
            return self._links(await self.open_ticket(event)) if self._serious(event) else None
        await self.add_note(ticket, event, resolve=False)
        return None

    @hookimpl
    async def vigie_incident_resolved(self, event: IncidentEvent) -> list[Link] | None:
        """The closing note; close the ticket where the desk allows."""
        if self.desk is None:
            return None
        ticket = self.known_ticket(event)
        if ticket is not None:
            await self.add_note(ticket, event, resolve=True)
        return None


#: the object the ``tickets`` entry point registers
plugin = TicketsPlugin()
