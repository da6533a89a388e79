"""The subscribers' table read and cleaned in bulk: counts, recipients, deletion with
every trace, the export of one address, the purge.

The mail ledger (``member_mails``, :mod:`monitor.membermail.models`) is found in the
store's metadata when that package is loaded: an address's deletion removes its rows, and
its export lists them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from monitor.incidents.models import OutboxEntry
from monitor.store.models import Base
from monitor.subscriptions.choice import Choice
from monitor.subscriptions.jobs import MemberMailJob, stream_of
from monitor.subscriptions.models import STATES, Subscriber

__all__ = ["STATES", "SubscriberRecord", "by_state", "count_by_state", "counts",
           "delete_subscribers", "export", "purge", "recipients"]

log = logging.getLogger(__name__)

#: the mail ledger's table name (owned by :mod:`monitor.membermail`)
LEDGER = "member_mails"
#: subscribers deleted per transaction by the purge
PURGE_CHUNK = 500
#: subscribers read per round trip when choosing recipients
READ_CHUNK = 2000
#: columns of the subscriber's row the export leaves out (secrets, not data about them)
SECRET = frozenset({"confirm_hash", "manage_token"})


def ledger() -> Table | None:
    """The mail ledger's table, None until :mod:`monitor.membermail` is loaded."""
    return Base.metadata.tables.get(LEDGER)


def delete_subscribers(session: Session, ids: Sequence[int]) -> int:
    """Delete subscribers with their own outbox rows (the answers to their sign-ups) and
    their ledger rows, in the caller's transaction; return how many there were."""
    if not ids:
        return 0
    ids = list(ids)
    session.execute(delete(OutboxEntry).where(
        OutboxEntry.stream.in_([stream_of(i) for i in ids])))
    table = ledger()
    if table is not None:
        session.execute(delete(table).where(table.c.subscriber_id.in_(ids)))
    done = session.execute(delete(Subscriber).where(Subscriber.id.in_(ids)))
    return int(getattr(done, "rowcount", 0) or 0)


def _plain(row: Any, columns: Collection[str], left_out: Collection[str] = ()) -> dict:
    return {name: (list(value) if isinstance(value := getattr(row, name), (list, tuple))
                   else value)
            for name in columns if name not in left_out}


def export(session: Session, key: str) -> dict[str, Any] | None:
    """What Vigie holds about the address ``key`` (lower case): the subscription (its
    secrets left out), the answers to its sign-ups waiting or sent, and the mails sent
    (when the ledger exists); None when nothing."""
    row = session.scalars(select(Subscriber).where(Subscriber.email_key == key)).first()
    if row is None:
        return None
    subscription = _plain(row, Subscriber.__table__.columns.keys(), SECRET)
    answers = []
    for entry in session.scalars(select(OutboxEntry)
                                 .where(OutboxEntry.stream == stream_of(row.id))
                                 .order_by(OutboxEntry.id)):
        try:
            kind = "confirmation" if MemberMailJob.from_json(entry.payload).token is not None \
                else "manage link"
        except ValueError:
            kind = "unknown"
        answers.append({"mail": kind, "queued_at": entry.created_at, "status": entry.status,
                        "delivered_at": entry.delivered_at})
    mails: list[dict[str, Any]] = []
    table = ledger()
    if table is not None:
        shown = [c.key for c in table.columns if c.key not in ("id", "subscriber_id")]
        order = table.c.sent_at if "sent_at" in table.c else table.c[shown[0]]
        mails = [dict(zip(shown, r, strict=True)) for r in session.execute(
            select(*(table.c[c] for c in shown))
            .where(table.c.subscriber_id == row.id).order_by(order))]
    return {"address": row.email, "subscription": subscription,
            "sign_up_answers": answers, "mails_sent": mails,
            "secrets_left_out": sorted(SECRET)}


def counts(session: Session, group_of: Mapping[str, str | None]) -> dict[str, Any]:
    """Subscribers by state, and per configured service those whose choice covers it by
    state (every state and service present, 0 when none)."""
    states: Counter[str] = Counter()
    services: dict[str, Counter[str]] = {s: Counter() for s in group_of}
    stmt = select(Subscriber.state, Subscriber.everything, Subscriber.services,
                  Subscriber.groups).execution_options(yield_per=READ_CHUNK)
    for state, everything, chosen, groups in session.execute(stmt):
        states[state] += 1
        choice = Choice(bool(everything), tuple(chosen or ()), tuple(groups or ()))
        for service in services:
            if choice.covers((service,), group_of):
                services[service][state] += 1
    return {"states": {s: states.get(s, 0) for s in STATES},
            "services": {service: {s: by.get(s, 0) for s in STATES}
                         for service, by in services.items()}}


def recipients(session: Session, service_ids: Sequence[str],
               group_of: Mapping[str, str | None]) -> list[int]:
    """Confirmed subscribers an event about ``service_ids`` concerns, by id."""
    wanted = tuple(dict.fromkeys(service_ids))
    stmt = (select(Subscriber.id, Subscriber.everything, Subscriber.services,
                   Subscriber.groups)
            .where(Subscriber.state == "confirmed").order_by(Subscriber.id)
            .execution_options(yield_per=READ_CHUNK))
    return [i for i, everything, chosen, groups in session.execute(stmt)
            if Choice(bool(everything), tuple(chosen or ()), tuple(groups or ()))
            .covers(wanted, group_of)]


@dataclass(frozen=True, slots=True)
class SubscriberRecord:
    """One subscriber as the operators' list shows it (no secret)."""

    id: int
    email: str
    state: str
    language: str
    everything: bool
    services: tuple[str, ...]
    groups: tuple[str, ...]
    created_at: float
    confirmed_at: float | None
    failures: int
    last_failure: str | None


def by_state(session: Session, state: str | None = None,
             limit: int | None = None) -> list[SubscriberRecord]:
    """Subscribers (all, or in ``state``), oldest first, at most ``limit``.

    :raises ValueError: an unknown state.
    """
    stmt = select(Subscriber).order_by(Subscriber.created_at, Subscriber.id).limit(limit)
    if state is not None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        stmt = stmt.where(Subscriber.state == state)
    return [SubscriberRecord(r.id, r.email, r.state, r.language, bool(r.everything),
                             tuple(r.services or ()), tuple(r.groups or ()), r.created_at,
                             r.confirmed_at, r.failures or 0, r.last_failure)
            for r in session.scalars(stmt)]


def purge(store: Any, now: float, forget_after: float) -> int:
    """Delete subscribers still pending ``forget_after`` seconds after their sign-up (with
    their outbox and ledger rows), and blank the confirmation links expired; return how
    many subscribers were deleted.

    :param store: the :class:`monitor.store.Store` (writes go through its write sessions).
    """
    removed = 0
    while True:
        with store.write_session() as session, session.begin():
            ids = list(session.scalars(
                select(Subscriber.id).where(Subscriber.state == "pending",
                                            Subscriber.created_at < now - forget_after)
                .order_by(Subscriber.id).limit(PURGE_CHUNK)))
            removed += delete_subscribers(session, ids)
        if len(ids) < PURGE_CHUNK:
            break
    with store.write_session() as session, session.begin():
        expired = session.execute(
            update(Subscriber).where(Subscriber.confirm_hash.is_not(None),
                                     Subscriber.confirm_expires_at < now)
            .values(confirm_hash=None, confirm_expires_at=None))
        blanked = int(getattr(expired, "rowcount", 0) or 0)
    if removed or blanked:
        log.info("subscriptions: %d unconfirmed addresses deleted, %d expired links blanked",
                 removed, blanked)
    return removed


def count_by_state(session: Session) -> dict[str, int]:
    """Subscribers by state (every state present)."""
    found = dict(session.execute(select(Subscriber.state, func.count())
                                 .group_by(Subscriber.state)).all())
    return {state: int(found.get(state, 0)) for state in STATES}
