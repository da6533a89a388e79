"""The volunteers' side of members' requests: the list (admin page, API, ``vigie
assistance list``) and the retention purge (periodic, and ``vigie assistance purge``).

The list carries no name and no e-mail address: volunteers answer members in the helpdesk,
where the ticket has them; here they see where each request stands. A volunteer looking
for one member's requests filters by the exact address (:func:`requests`'s ``email``),
which is compared, never shown. Screenshots are never read here: only their number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from monitor.assistance import files
from monitor.ratelimit import email_key
from monitor.assistance.models import STATES, AssistanceRow
from monitor.incidents.models import OutboxEntry

__all__ = ["STATES", "Purged", "RequestView", "counts", "desk_outbox_id", "purge", "requests"]

log = logging.getLogger(__name__)

#: requests purged per transaction
PURGE_CHUNK = 500
#: an upload or a request folder without its row is deleted after this long
STALE_FILES_AFTER = 86400.0


@dataclass(frozen=True, slots=True)
class RequestView:
    """One request as volunteers see it in the list."""

    reference: str
    created_at: float
    category: str
    service_id: str | None
    language: str
    title: str
    state: str
    screenshots: int
    ticket_number: str | None
    ticket_url: str | None
    last_error: str | None
    #: the desk's outbox row, for the retry button (None once pruned)
    outbox_id: int | None
    #: that row's status (``pending``, ``delivered``, ``dead``), None once pruned
    delivery: str | None


def requests(session: Session, *, state: str | None = None, email: str | None = None,
             limit: int = 200) -> list[RequestView]:
    """Requests, newest first.

    :param state: only those in this state (``received``, ``held``, ``delivered``,
        ``dead``).
    :param email: only those sent with this address (compared without case).
    """
    stmt = (select(AssistanceRow, OutboxEntry.status)
            .outerjoin(OutboxEntry, OutboxEntry.id == AssistanceRow.outbox_id))
    if state is not None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        stmt = stmt.where(AssistanceRow.state == state)
    if email:
        stmt = stmt.where(func.lower(AssistanceRow.email) == email_key(email))
    stmt = stmt.order_by(AssistanceRow.created_at.desc(), AssistanceRow.id.desc()).limit(limit)
    return [RequestView(r.reference, r.created_at, r.category, r.service_id, r.language,
                        r.title, r.state, r.screenshots, r.ticket_number, r.ticket_url,
                        r.last_error, r.outbox_id, status)
            for r, status in session.execute(stmt)]


def counts(session: Session) -> dict[str, int]:
    """Requests by state (every state present, 0 when none)."""
    found = dict(session.execute(select(AssistanceRow.state, func.count())
                                 .group_by(AssistanceRow.state)).all())
    return {state: int(found.get(state, 0)) for state in STATES}


def desk_outbox_id(session: Session, reference: str) -> int | None:
    """The outbox row delivering request ``reference`` to the desk (None: no such request
    or the row is gone)."""
    return session.scalar(select(AssistanceRow.outbox_id)
                          .where(AssistanceRow.reference == reference))


@dataclass(frozen=True, slots=True)
class Purged:
    """What a purge deleted."""

    requests: int
    files: int


def purge(store, data_dir: Path, retention: float, now: float | None = None) -> Purged:
    """Delete requests sent more than ``retention`` seconds ago with their outbox rows
    (delivered or not: the payload holds the member's data) and their files; the
    screenshots of requests already delivered; uploads and folders left without a
    request for a day.

    :param store: the :class:`monitor.store.Store` (writes go through its write sessions).
    """
    now = time.time() if now is None else now
    removed, removed_files = 0, 0
    while True:
        with store.write_session() as session, session.begin():
            references = list(session.scalars(
                select(AssistanceRow.reference).where(AssistanceRow.created_at < now - retention)
                .order_by(AssistanceRow.id).limit(PURGE_CHUNK)))
            if not references:
                break
            _delete(session, references)
        removed += len(references)
        for reference in references:
            removed_files += files.remove_request_files(data_dir, reference)
        if len(references) < PURGE_CHUNK:
            break
    with store.session() as session:
        live = {reference: state for reference, state in session.execute(
            select(AssistanceRow.reference, AssistanceRow.state))}
    for reference, state in live.items():
        if state == "delivered":  # a crash between the commit and the files' deletion
            removed_files += files.remove_request_files(data_dir, reference)
    removed_files += files.remove(files.stale_folders(data_dir, now - STALE_FILES_AFTER,
                                                      set(live)))
    if removed or removed_files:
        log.info("assistance: purged %d requests and %d screenshot folders or uploads",
                 removed, removed_files)
    return Purged(removed, removed_files)


def _delete(session: Session, references: Sequence[str]) -> None:
    keys = [f"assistance:{r}" for r in references]
    session.execute(delete(OutboxEntry).where(or_(
        OutboxEntry.idempotency_key.in_(keys),
        OutboxEntry.idempotency_key.in_([f"{k}:receipt" for k in keys]))))
    session.execute(delete(AssistanceRow).where(AssistanceRow.reference.in_(list(references))))
