"""The agents' tables (migration ``0018_agents``).

``agent_tokens``: one row per agent token a volunteer made (``vigie agent-token add``).
The token itself is never stored: ``token_hash`` is the hex SHA-256 of it, looked up by
equality (the hash of 32 random bytes needs no slow hashing; a lookup by digest leaks
nothing of the token through timing). A revoked token keeps its row (``revoked_at``): its
results stay attributed. What the agent said of itself on its last accepted batch is kept
on the row (when, from where, its name and boot, the results it still holds and those it
had to drop).

``location_results``: one row per result of a check run at a location. An agent's rows
carry ``(token_id, seq)``, unique: a batch sent again is acknowledged, not stored twice.
``started_at`` is the agent's start of the run moved onto the server's clock (see
:mod:`monitor.agents.batch`); ``agent_started_at`` and ``received_at`` keep the raw
values. Rows without a token (the server's own runs of a multi-location check) have no
``seq``; their ``(check_key, location, started_at)`` is unique (a partial index).
Pruned with the results (``store.retention``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Double,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import ID_LENGTH, Base, BigId

#: the longest token name (``lyon-1``)
NAME_MAX = 63
#: the longest location name (an IDENT of the configuration)
LOCATION_MAX = ID_LENGTH
#: the longest name and boot id an agent gives itself
AGENT_MAX = 100
#: a hex SHA-256
HASH_LENGTH = 64
#: a client address (IPv6 with a zone fits)
ADDRESS_MAX = 100
#: ``service/check``
CHECK_KEY_MAX = 2 * ID_LENGTH + 1


class AgentToken(Base):
    """An agent's token: its name, its location, its hash, and the agent's last news."""

    __tablename__ = "agent_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    location: Mapped[str] = mapped_column(String(LOCATION_MAX))
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    created_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str | None] = mapped_column(String(200))
    revoked_at: Mapped[float | None] = mapped_column(Double)
    #: when the last accepted batch was received (server clock)
    last_batch_at: Mapped[float | None] = mapped_column(Double)
    last_seen_address: Mapped[str | None] = mapped_column(String(ADDRESS_MAX))
    #: results the agent still held when it sent its last batch
    buffered: Mapped[int] = mapped_column(BigInteger, default=0)
    #: results the agent had to drop since it started keeping them (its spool full)
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)
    agent_name: Mapped[str | None] = mapped_column(String(AGENT_MAX))
    agent_boot: Mapped[str | None] = mapped_column(String(AGENT_MAX))
    #: the highest ``seq`` stored for this token
    last_seq: Mapped[int | None] = mapped_column(BigInteger)


class LocationResultRow(Base):
    """One run of one check at one location."""

    __tablename__ = "location_results"
    __table_args__ = (
        UniqueConstraint("token_id", "seq"),
        Index(None, "check_key", "location", "started_at"),
        Index(None, "started_at"),
        # the server's own runs: one row per run, however often a batch is written again
        Index("uq_location_results_own", "check_key", "location", "started_at",
              unique=True, sqlite_where=text("token_id IS NULL"),
              postgresql_where=text("token_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: the agent's token; NULL for the server's own runs
    token_id: Mapped[int | None] = mapped_column(ForeignKey("agent_tokens.id"))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    check_key: Mapped[str] = mapped_column(String(CHECK_KEY_MAX))
    location: Mapped[str] = mapped_column(String(LOCATION_MAX))
    #: the start of the run on the server's clock
    started_at: Mapped[float] = mapped_column(Double)
    #: the start of the run on the agent's clock, as sent
    agent_started_at: Mapped[float | None] = mapped_column(Double)
    #: when the server received the batch
    received_at: Mapped[float | None] = mapped_column(Double)
    duration: Mapped[float] = mapped_column(Double)
    #: :class:`monitor.probe.Status` value
    status: Mapped[int] = mapped_column(SmallInteger)
    #: ``{"code", "fr", "en", "public"}`` or NULL
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    samples: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


__all__ = ["AgentToken", "LocationResultRow"]
