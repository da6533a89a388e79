"""Storing a batch once: each result under ``(token, seq)``, a result sent again
acknowledged and not stored again.

:func:`store_batch` runs in the caller's write transaction: it reads the token's row
again there (locked on PostgreSQL), so a token revoked before the transaction began
stores nothing; inserts the results, skipping those already stored (``ON CONFLICT DO
NOTHING``: two nodes taking the same batch at once store it once too); and records what
the agent said of itself on the token's row. The caller commits, then hands the new
results on, in ``seq`` order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.orm import Session

from monitor.agents.batch import Batch
from monitor.agents.errors import revoked_token, unknown_token
from monitor.agents.models import ADDRESS_MAX, AGENT_MAX, AgentToken, LocationResultRow
from monitor.probe import ProbeResult
from monitor.safetext import clean_line
from monitor.store.engine import dialect_insert
from monitor.store.records import clean_samples


#: the ``NOTIFY`` channel of new agents' results (PostgreSQL): the nodes of a cluster
#: follow ``location_results`` (:mod:`monitor.locations.follow`)
CHANNEL = "vigie_location_results"
_NOTIFY = text("SELECT pg_notify(:channel, current_schema())")


def notify_results(session: Session) -> None:
    """Tell the nodes following ``location_results`` that rows came, at the commit of
    the caller's transaction (PostgreSQL; nothing on SQLite, which has no cluster)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_NOTIFY, {"channel": CHANNEL})


@dataclass(frozen=True, slots=True)
class Taken:
    """One result of the batch, ready to store and to hand on."""

    seq: int
    check_key: str
    #: the result on the server's clock, its text made safe
    result: ProbeResult
    agent_started_at: float


@dataclass(frozen=True, slots=True)
class Stored:
    """What became of a batch: the results stored now (``seq`` order), how many had been
    stored before, and the highest ``seq`` the server holds for the token."""

    new: tuple[Taken, ...]
    duplicates: int
    last_seq: int | None


def taken_of(batch: Batch) -> list[Taken]:
    """The batch's results as Vigie's own (:func:`~monitor.runner.clean_result`), in
    ``seq`` order."""
    return [Taken(e.result.seq, e.result.check, e.result.to_probe_result(e.started_at),
                  e.result.started_at) for e in batch.entries]


def _insert(session: Session) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` into ``location_results`` (the dialect's
    INSERT is chosen at run time)."""
    insert: Any = dialect_insert(cast(Any, session.get_bind()),
                                 cast(Any, LocationResultRow.__table__))
    return insert.on_conflict_do_nothing()


def _row(token_id: int, location: str, received_at: float, taken: Taken) -> dict[str, Any]:
    result = taken.result
    why = result.reason
    return {"token_id": token_id, "seq": taken.seq, "check_key": taken.check_key,
            "location": location, "started_at": result.started_at,
            "agent_started_at": taken.agent_started_at, "received_at": received_at,
            "duration": result.duration, "status": int(result.status),
            "reason": None if why is None else {"code": why.code, "fr": why.fr, "en": why.en,
                                                "public": why.public},
            "samples": clean_samples(result.samples)}


def store_batch(session: Session, token_id: int, batch: Batch, taken: list[Taken],
                address: str | None) -> Stored:
    """Store ``batch`` (its results as :func:`taken_of` made them) for the token
    ``token_id``, in the caller's write transaction.

    :raises monitor.agents.errors.Refusal: 401 ``token_revoked`` (revoked meanwhile) or
        ``token_unknown`` (its row is gone); nothing is written then.
    """
    token = session.get(AgentToken, token_id, with_for_update=True)
    if token is None:
        raise unknown_token()
    if token.revoked_at is not None:
        raise revoked_token()
    inserted: set[int] = set()
    if taken:
        rows = [_row(token_id, token.location, batch.received_at, t) for t in taken]
        stmt = _insert(session).returning(LocationResultRow.__table__.c.seq)
        inserted = {seq for (seq,) in session.execute(stmt, rows).all()}
    new = tuple(t for t in taken if t.seq in inserted)
    highest = max((t.seq for t in taken), default=None)
    if highest is not None and (token.last_seq is None or highest > token.last_seq):
        token.last_seq = highest
    token.last_batch_at = batch.received_at
    token.last_seen_address = clean_line(address, ADDRESS_MAX) if address else None
    token.buffered, token.dropped = batch.buffered, batch.dropped
    token.agent_name = clean_line(batch.agent, AGENT_MAX)
    token.agent_boot = clean_line(batch.boot, AGENT_MAX)
    session.flush()
    return Stored(new, len(taken) - len(new), token.last_seq)


__all__ = ["CHANNEL", "Stored", "Taken", "notify_results", "store_batch", "taken_of"]
