"""The ``tickets`` plugin: one helpdesk ticket per incident, and one per member's request
for help, never two.

- **opened** (impact at least ``helpdesk.min_impact``): open the ticket with the evidence;
  return it as a link volunteers see (``public=False``, kind ``ticket``, ``external_id``
  = the desk's ticket id). Never shown on the public page.
- **updated**: add a note (an incident that becomes serious enough only now gets its
  ticket now). Reminders add nothing.
- **resolved**: the closing note, and the ticket is closed where the desk allows.
- **a member's request** (``vigie_assistance_request``): a ticket with the member's
  words and screenshots, then the note for volunteers (an internal note where the desk
  has them); the ticket returned as a volunteers-only link.

Exactly-once, as far as each desk allows, with the :class:`~tickets_bridge.journal.Journal`:
the creation of an incident's ticket is keyed by its reference, each note by the event's
idempotency key, a request's ticket and note by the request's idempotency key. A key left
*pending* by an attempt whose outcome is unknown (timeout after sending, crash) makes the
next attempt look up first: Zammad is searched for the reference (and its notes for the
event's marker); e-mail and webhook re-send safely (same
Message-ID, same Idempotency-Key); osTicket, which cannot be searched, is dead-lettered
with a message asking a volunteer to check, rather than risking a second ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import aiohttp

from docs_bridge.settings import impact_reaches
from monitor.api import (
    AssistanceRequest,
    DeliveryError,
    IncidentEvent,
    Link,
    PermanentFailure,
    RetryLater,
    hookimpl,
)
from tickets_bridge import request_text
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

    desk, lang = settings.desk, settings.language
    if isinstance(desk, ZammadDesk):
        return ZammadAdapter(desk, session, zone, lang)
    if isinstance(desk, OsTicketDesk):
        return OsTicketAdapter(desk, session, zone, lang)
    if isinstance(desk, EmailDesk):
        return EmailAdapter(desk, zone, lang)
    if isinstance(desk, WebhookDesk):
        return WebhookAdapter(desk, session, zone, lang)
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

    def _link(self, ticket: Ticket) -> Link:
        assert self.desk is not None
        return Link(kind=TICKET_KIND, title=f"Ticket {self.desk.label} {ticket.number}",
                    url=ticket.url, public=False, external_id=ticket.id)

    def _links(self, ticket: Ticket) -> list[Link] | None:
        """The incident's ticket as a volunteers-only link, when the desk gave a web
        address (the incident keeps only those; an e-mail desk's ``mailto:`` is not one,
        and the journal remembers its ticket all the same)."""
        return [self._link(ticket)] if ticket.url.startswith(("https://", "http://")) else None

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
        assert self.desk is not None
        desk = self.desk
        return await self.create_once(f"create:{event.reference}", event.reference,
                                      event.reference, lambda: desk.create(event))

    async def create_once(self, key: str, reference: str, record_as: str,
                          create: Callable[[], Awaitable[Ticket]]) -> Ticket:
        """Run ``create`` unless an earlier attempt whose outcome is unknown made the
        ticket (found at the desk by ``reference``); record the ticket as ``record_as``."""
        assert self.desk is not None and self.journal is not None
        if self.journal.pending(key):
            if self.desk.can_lookup:
                found = await self.desk.find(reference)
                if found is not None:
                    log.info("tickets: %s already had ticket %s (earlier answer lost)",
                             reference, found.number)
                    return await self._recorded(record_as, key, found)
            elif not self.desk.resend_safe:
                raise self._unsure(reference)
        self.journal.begin(key)
        await self.journal.flush()
        try:
            ticket = await create()
        except DeliveryError as exc:
            if not exc.ambiguous:
                self.journal.forget(key)
                await self.journal.flush()
            elif not (self.desk.can_lookup or self.desk.resend_safe):
                raise self._unsure(reference) from exc
            raise
        except (PermanentFailure, RetryLater):
            # the desk answered: it created nothing
            self.journal.forget(key)
            await self.journal.flush()
            raise
        return await self._recorded(record_as, key, ticket)

    async def _recorded(self, record_as: str, key: str, ticket: Ticket) -> Ticket:
        assert self.journal is not None
        self.journal.record_ticket(record_as, ticket)
        self.journal.finish(key)
        await self.journal.flush()
        return ticket

    def _unsure(self, reference: str) -> PermanentFailure:
        assert self.desk is not None
        return PermanentFailure(
            f"{self.desk.label} n'a pas répondu après avoir reçu la demande : le ticket de "
            f"{reference} a peut-être été créé. Vérifiez dans le support avant de "
            f"relancer (the desk cannot be searched; check it for {reference}).")

    async def once(self, key: str, action: Callable[[bool], Awaitable[None]]) -> None:
        """Run ``action`` (a note) at most once for ``key``; it is told to check the desk
        first when an earlier attempt's outcome is unknown."""
        assert self.journal is not None
        if self.journal.done(key):
            return
        check_first = self.journal.pending(key)
        self.journal.begin(key)
        await self.journal.flush()
        try:
            await action(check_first)
        except DeliveryError as exc:
            if not exc.ambiguous:
                self.journal.forget(key)
                await self.journal.flush()
            raise
        self.journal.finish(key)
        await self.journal.flush()

    async def add_note(self, ticket: Ticket, event: IncidentEvent, resolve: bool) -> None:
        """Add the update or resolution note, at most once per event."""
        assert self.desk is not None
        step = self.desk.resolve if resolve else self.desk.follow_up
        await self.once(event.idempotency_key,
                        lambda check_first: step(ticket, event, check_first))

    async def deliver_request(self, request: AssistanceRequest) -> Ticket:
        """A member's request as one ticket (and its note for volunteers, once), whatever
        the number of attempts (see docs/bridges.md, "Members' requests")."""
        assert self.desk is not None and self.journal is not None
        desk = self.desk
        who = request_text.member(request)
        record = f"request:{request.idempotency_key}"
        ticket = self.journal.ticket(record)
        if ticket is None:
            files, missing = request_text.attachments(request)
            ticket = await self.create_once(
                record, request.reference, record,
                lambda: desk.create_request(request, who, files, missing))
        if desk.internal_notes:
            missing = request_text.unreadable(request)
            made = ticket
            await self.once(f"request-note:{request.idempotency_key}",
                            lambda check_first: desk.request_note(made, request, who, missing,
                                                                  check_first))
        return ticket

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
        """Close the HTTP session and forget the desk: the plugin object outlives a run
        (the entry point registers one object), the next run configures it again."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.settings = self.desk = self.journal = None

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


    @hookimpl
    async def vigie_assistance_request(self, request: AssistanceRequest) -> list[Link]:
        """A member's request for help: one ticket with the member's words and screenshots,
        and the note for volunteers; the ticket as a volunteers-only link."""
        if self.desk is None:
            raise PermanentFailure(
                "Aucun support n'est configuré (section helpdesk:) : la demande "
                f"{request.reference} attend ; configurez-le puis relancez la livraison "
                "(no helpdesk: section is configured).")
        return [self._link(await self.deliver_request(request))]

#: the object the ``tickets`` entry point registers
plugin = TicketsPlugin()
