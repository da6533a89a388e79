"""The ledger of member mails: which subscribers already got an event's mail, and the
row written after each one. Every function takes the caller's session (the caller
commits); the subscribers themselves are read and marked through
:mod:`monitor.subscriptions.service`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.membermail.models import MemberMailRow
from monitor.store.engine import dialect_insert


def done(session: Session, event_key: str, ids: Collection[int]) -> set[int]:
    """Those of ``ids`` whose mail for ``event_key`` is in the ledger (sent or refused)."""
    if not ids:
        return set()
    return set(session.scalars(select(MemberMailRow.subscriber_id).where(
        MemberMailRow.event_key == event_key, MemberMailRow.subscriber_id.in_(list(ids)))))


def told(session: Session, thread: str, ids: Collection[int]) -> set[int]:
    """Those of ``ids`` who were sent a mail of ``thread`` (an incident, a maintenance
    occurrence)."""
    if not ids:
        return set()
    return set(session.scalars(select(MemberMailRow.subscriber_id).where(
        MemberMailRow.thread == thread, MemberMailRow.outcome == "sent",
        MemberMailRow.subscriber_id.in_(list(ids)))))


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
