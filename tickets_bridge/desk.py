"""What every helpdesk adapter provides (:class:`DeskAdapter`)."""

from __future__ import annotations

from typing import ClassVar

from monitor.api import AssistanceRequest, IncidentEvent
from tickets_bridge.journal import Ticket
from tickets_bridge.request_text import Attachment, Member


class DeskAdapter:
    """One helpdesk. Subclasses set the class flags and override what the desk allows.

    Methods raise what :mod:`monitor.httpcall` raises (RetryLater, PermanentFailure,
    DeliveryError with ``sent``), so the outbox and the plugin know what happened.
    ``zone`` and ``lang`` are the time zone and language the texts are written in.
    """

    #: name shown in links and messages ("Zammad")
    label: ClassVar[str] = ""
    #: the desk can find a ticket by the reference in its title (after an ambiguous
    #: failure)
    can_lookup: ClassVar[bool] = False
    #: sending the same creation twice cannot make two tickets (the receiver deduplicates:
    #: same Message-ID, same Idempotency-Key)
    resend_safe: ClassVar[bool] = False
    #: the desk keeps notes from the member's sight: a request's note for volunteers is
    #: added after the ticket (:meth:`request_note`), else it is in the ticket's message
    internal_notes: ClassVar[bool] = False

    zone: str = "Europe/Paris"
    lang: str = "fr"

    async def create(self, event: IncidentEvent) -> Ticket:
        """Open the incident's ticket with the evidence."""
        raise NotImplementedError

    async def find(self, reference: str) -> Ticket | None:
        """The ticket whose title holds ``[reference]``, looked up at the desk (only when
        ``can_lookup``)."""
        return None

    async def follow_up(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """Add the update to the ticket. ``check_first``: an earlier attempt may have
        landed; skip the note if the desk already has it (when the desk can tell)."""

    async def resolve(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """Add the resolution note and close the ticket (when the desk can)."""

    async def create_request(self, request: AssistanceRequest, who: Member,
                             files: list[Attachment], missing: list[str]) -> Ticket:
        """Open the ticket of a member's request: the member's words and screenshots (and,
        when the desk has no internal notes, the note for volunteers after them).
        ``missing``: screenshots that could not be read."""
        raise NotImplementedError

    async def request_note(self, ticket: Ticket, request: AssistanceRequest, who: Member,
                           missing: list[str], check_first: bool) -> None:
        """Add the note for volunteers to a request's ticket (only when
        ``internal_notes``); ``check_first`` as for :meth:`follow_up`."""

    async def aclose(self) -> None:
        """Release connections."""
