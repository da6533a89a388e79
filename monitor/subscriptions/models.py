"""The table of members' e-mail subscriptions (``subscribers``).

One row per address (``email_key``, the address in lower case, is unique). A row is
``pending`` from the sign-up until its confirmation link is followed, then ``confirmed``;
only confirmed subscribers receive incident and maintenance mails. The confirmation
token is never stored, only its SHA-256 (``confirm_hash``), cleared once used or expired;
``manage_token`` is the secret of the manage and one-click unsubscribe links of every
mail. A pending row is deleted ``subscriptions.forget_unconfirmed_after`` after its
sign-up; an unsubscribe or a ``forget`` deletes the row, its outbox rows (stream
``subscriber:<id>``) and its mail ledger rows. Migration ``0012_subscribers`` creates it.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Double, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import Base, BigId

#: a subscriber's states, in the order they come
STATES = ("pending", "confirmed")
#: the languages of the mails
LANGUAGES = ("fr", "en")
#: the longest address kept (RFC 5321's forward-path, less the angle brackets)
EMAIL_LENGTH = 254
#: characters of a manage token (``secrets.token_urlsafe(32)`` gives 43)
TOKEN_LENGTH = 64
#: the longest delivery error kept
FAILURE_LENGTH = 1000


class Subscriber(Base):
    """A member's address and what it follows."""

    __tablename__ = "subscribers"
    __table_args__ = (Index(None, "state", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: as the member typed it (cleaned)
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    #: the address in lower case: one row per address
    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True)
    #: the mails' language (``fr`` or ``en``)
    language: Mapped[str] = mapped_column(String(5))
    #: every service, present and future
    everything: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the chosen services' ids
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: the chosen groups' ids (their services, present and future)
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    #: SHA-256 (hex) of the confirmation token; None once used or expired
    confirm_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    confirm_expires_at: Mapped[float | None] = mapped_column(Double)
    #: the secret of the manage and unsubscribe links
    manage_token: Mapped[str] = mapped_column(String(TOKEN_LENGTH), unique=True)
    #: sign-up requests answered (numbers the confirmation mails' idempotency keys)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Double)
    confirmed_at: Mapped[float | None] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    #: permanent refusals (SMTP 5xx) of this address
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[str | None] = mapped_column(String(FAILURE_LENGTH))
    last_failure_at: Mapped[float | None] = mapped_column(Double)
