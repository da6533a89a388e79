"""The table of members' requests for help (``assistance_requests``).

One row per request, written with its outbox rows in one transaction
(:meth:`monitor.assistance.service.AssistanceService.submit`). ``token`` is the form's
idempotency token: unique, so a double click or a resubmitted form finds the row already
there. ``state`` follows the desk's delivery:

- ``received`` — written, not yet delivered;
- ``held`` — the desk failed (down, timing out); the outbox tries again;
- ``delivered`` — the desk recorded the ticket (``ticket_*`` say which);
- ``dead`` — the delivery was given up; a volunteer may retry it from ``/admin/assistance``.

The member's personal data (name, address, words, screenshots' files) stays no longer
than ``assistance.retention``: the purge deletes the row, its outbox rows and its files.
No foreign key: the outbox row is found by ``outbox_id`` and may be pruned first.
Migration ``0011_assistance`` creates it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Double, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import ID_LENGTH, NAME_LENGTH, Base, BigId

#: the states a request goes through
STATES = ("received", "held", "delivered", "dead")
#: the longest e-mail address kept (RFC 5321's path limit)
EMAIL_LENGTH = 320
#: the longest ticket address kept
TICKET_URL_LENGTH = 2000


class AssistanceRow(Base):
    """A member's request for help and where its delivery stands."""

    __tablename__ = "assistance_requests"
    __table_args__ = (Index(None, "created_at"), Index(None, "state"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: what the member is shown (``DEM-20261206-7KQ2``)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    #: the form's idempotency token
    token: Mapped[str] = mapped_column(String(100), unique=True)
    state: Mapped[str] = mapped_column(String(10), default="received")
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    delivered_at: Mapped[float | None] = mapped_column(Double)
    language: Mapped[str] = mapped_column(String(5))
    #: a service id or a category id (``account``, ``other``)
    category: Mapped[str] = mapped_column(String(ID_LENGTH))
    service_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    title: Mapped[str] = mapped_column(String(1000))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    member_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    screenshots: Mapped[int] = mapped_column(Integer, default=0)
    #: the request as delivered (:func:`monitor.assistance.request.request_to_json`)
    payload: Mapped[str] = mapped_column(Text)
    #: the desk's outbox row
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    #: the ticket the desk returned (its number and address, for volunteers)
    ticket_number: Mapped[str | None] = mapped_column(String(200))
    ticket_url: Mapped[str | None] = mapped_column(String(TICKET_URL_LENGTH))
    last_error: Mapped[str | None] = mapped_column(String(1000))
