"""What every helpdesk adapter provides (:class:`DeskAdapter`)."""

from __future__ import annotations

from typing import ClassVar

from monitor.api import IncidentEvent
from tickets_bridge.journal import Ticket


class DeskAdapter:
    """One helpdesk. Subclasses set the class flags and override what the desk allows.

    Methods raise what :mod:`monitor.httpcall` raises (RetryLater, PermanentFailure,
    DeliveryError with ``sent``), so the outbox and the plugin know what happened.
    """

    #: name shown in links and messages ("Zammad")
    label: ClassVar[str] = ""
    #: the desk can find a ticket by the incident reference (after an ambiguous failure)
    can_lookup: ClassVar[bool] = False
    #: sending the same creation twice cannot make two tickets (the receiver deduplicates:
    #: same Message-ID, same Idempotency-Key)
    resend_safe: ClassVar[bool] = False

    async def create(self, event: IncidentEvent) -> Ticket:
        """Open the incident's ticket with the evidence."""
        raise NotImplementedError

    async def find(self, event: IncidentEvent) -> Ticket | None:
        """The incident's ticket, looked up at the desk (only when ``can_lookup``)."""
        return None

    async def follow_up(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """Add the update to the ticket. ``check_first``: an earlier attempt may have
        landed; skip the note if the desk already has it (when the desk can tell)."""

    async def resolve(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """Add the resolution note and close the ticket (when the desk can)."""

    async def aclose(self) -> None:
        """Release connections."""
