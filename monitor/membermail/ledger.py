"""Reading and writing what member mails need in the database: the subscribers a batch
is for, the ledger of mails already handed to the server, the failures recorded against
an address. Every function takes the caller's session (the caller commits)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.membermail.message import Recipient
from monitor.membermail.models import MemberMailRow
from monitor.store.engine import dialect_insert
from monitor.subscriptions.models import Subscriber

#: the longest failure text kept on a subscriber
FAILURE_LENGTH = 500


def recipients(session: Session, ids: Collection[int], *,
               confirmed: bool = True) -> list[Recipient]:
    """The subscribers ``ids`` still there (confirmed ones only, unless ``confirmed`` is
    false), by id."""
    if not ids:
        return []
    query = select(Subscriber.id, Subscriber.email, Subscriber.language,
                   Subscriber.manage_token).where(Subscriber.id.in_(list(ids)))
    if confirmed:
        query = query.where(Subscriber.state == "confirmed")
    return [Recipient(id, email, language, token)
            for id, email, language, token in session.execute(query.order_by(Subscriber.id))]


def done(session: Session, event_key: str, ids: Collection[int]) -> set[int]:
    """Those of ``ids`` whose mail for ``event_key`` is in the ledger (sent or refused)."""
    if not ids:
        return set()
    return set(session.scalars(select(MemberMailRow.subscriber_id).where(
        MemberMailRow.event_key == event_key, MemberMailRow.subscriber_id.in_(list(ids)))))


def record(session: Session, *, subscriber_id: int, event_key: str, kind: str,
           thread: str | None, at: float, message_id: str | None,
           outcome: str = "sent") -> None:
    """Write one mail in the ledger (nothing when it is there already)."""
    # the dialect's INSERT (with on_conflict_*) is chosen at run time
    insert: Any = dialect_insert(cast(Any, session.get_bind()),
                                 cast(Any, MemberMailRow.__table__))
    stmt = insert.values(
        subscriber_id=subscriber_id, event_key=event_key, kind=kind, thread=thread,
        outcome=outcome, sent_at=at, message_id=message_id,
    ).on_conflict_do_nothing(index_elements=["subscriber_id", "event_key"])
    session.execute(stmt)


def refused(session: Session, subscriber_id: int, error: str, at: float) -> None:
    """Count a refusal for good (5xx) against the subscriber's address."""
    session.execute(update(Subscriber).where(Subscriber.id == subscriber_id).values(
        failures=Subscriber.failures + 1, last_failure=error[:FAILURE_LENGTH],
        last_failure_at=at))
