"""The ledger of members' mails (``member_mails``): one row per subscriber and event once
the SMTP server accepted the mail (or refused the address for good).

It is what makes a batch safe to deliver again: before sending, the batch's subscribers
found here for the event are skipped, and a row is committed after each mail the server
accepted. A crash therefore resends at most the one mail in flight (accepted by the
server, its row not committed yet), with the same ``Message-ID``.

``(subscriber_id, event_key)`` is unique; the rows go with their subscriber (``ON DELETE
CASCADE``: an unsubscribed or forgotten address leaves nothing behind). Migration
``0013_member_mails`` creates the table.
"""

from __future__ import annotations

from sqlalchemy import Double, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import Base, BigId

#: what became of a mail: accepted by the server, or the address refused for good
OUTCOMES = ("sent", "refused")
#: the longest event key (an outbox idempotency key)
KEY_LENGTH = 300


class MemberMailRow(Base):
    """One mail to one subscriber for one event (or one confirmation request)."""

    __tablename__ = "member_mails"
    __table_args__ = (UniqueConstraint("subscriber_id", "event_key"), Index(None, "sent_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"))
    #: the event's idempotency key (``12:3:member-mail``), or the confirmation's
    event_key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    #: ``opened``, ``updated``, ``resolved``, ``announced``, ``reminder``, ``started``,
    #: ``ended``, ``cancelled``, ``confirm``
    kind: Mapped[str] = mapped_column(String(20))
    #: the thread the mail belongs to (``incident:12``), None for a confirmation
    thread: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(10), default="sent")
    sent_at: Mapped[float] = mapped_column(Double)
    message_id: Mapped[str | None] = mapped_column(String(KEY_LENGTH))
