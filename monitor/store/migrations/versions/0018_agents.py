"""Remote agents: their tokens and the results of checks run at each location.

Revision ID: 0018_agents
Revises: 0017_cluster_feed
Create Date: 2027-01-10

Written by hand (models monitor.agents.models.AgentToken, LocationResultRow).
``agent_tokens``: one row per agent token (its SHA-256, never the token), with what the
agent said on its last batch. ``location_results``: one row per run of a check at a
location; ``(token_id, seq)`` is unique, so a batch sent again is stored once; the
server's own runs have neither, and are unique by ``(check_key, location, started_at)``
(a partial index). Pruned with ``results``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_agents"
down_revision: str | Sequence[str] | None = "0017_cluster_feed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``agent_tokens`` and ``location_results``."""
    op.create_table(
        "agent_tokens",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("location", sa.String(63), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("revoked_at", sa.Double(), nullable=True),
        sa.Column("last_batch_at", sa.Double(), nullable=True),
        sa.Column("last_seen_address", sa.String(100), nullable=True),
        sa.Column("buffered", sa.BigInteger(), nullable=False),
        sa.Column("dropped", sa.BigInteger(), nullable=False),
        sa.Column("agent_name", sa.String(100), nullable=True),
        sa.Column("agent_boot", sa.String(100), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_agent_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agent_tokens_token_hash")),
    )
    op.create_table(
        "location_results",
        sa.Column("id", BigId, nullable=False),
        sa.Column("token_id", BigId, nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("check_key", sa.String(127), nullable=False),
        sa.Column("location", sa.String(63), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("agent_started_at", sa.Double(), nullable=True),
        sa.Column("received_at", sa.Double(), nullable=True),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("samples", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(["token_id"], ["agent_tokens.id"],
                                name=op.f("fk_location_results_token_id_agent_tokens")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location_results")),
        sa.UniqueConstraint("token_id", "seq", name=op.f("uq_location_results_token_id_seq")),
    )
    op.create_index(op.f("ix_location_results_check_key"), "location_results",
                    ["check_key", "location", "started_at"])
    op.create_index(op.f("ix_location_results_started_at"), "location_results",
                    ["started_at"])
    op.create_index("uq_location_results_own", "location_results",
                    ["check_key", "location", "started_at"], unique=True,
                    sqlite_where=sa.text("token_id IS NULL"),
                    postgresql_where=sa.text("token_id IS NULL"))


def downgrade() -> None:
    """Drop both tables (the tokens and the locations' results are lost)."""
    op.drop_index("uq_location_results_own", table_name="location_results")
    op.drop_index(op.f("ix_location_results_started_at"), table_name="location_results")
    op.drop_index(op.f("ix_location_results_check_key"), table_name="location_results")
    op.drop_table("location_results")
    op.drop_table("agent_tokens")
