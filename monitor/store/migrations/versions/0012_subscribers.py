"""Members' e-mail subscriptions.

Revision ID: 0012_subscribers
Revises: 0011_assistance
Create Date: 2026-12-20

Written by hand (model monitor.subscriptions.models.Subscriber). One row per address
(unique lower-cased ``email_key``); the confirmation token is stored as its SHA-256 only;
``manage_token`` is the secret of the manage and unsubscribe links. Pending rows are
deleted after ``subscriptions.forget_unconfirmed_after``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_subscribers"
down_revision: str | Sequence[str] | None = "0011_assistance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``subscribers``."""
    op.create_table(
        "subscribers",
        sa.Column("id", BigId, nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("email_key", sa.String(254), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("everything", sa.Boolean(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("confirm_hash", sa.String(64), nullable=True),
        sa.Column("confirm_expires_at", sa.Double(), nullable=True),
        sa.Column("manage_token", sa.String(64), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("confirmed_at", sa.Double(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.String(1000), nullable=True),
        sa.Column("last_failure_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("email_key", name=op.f("uq_subscribers_email_key")),
        sa.UniqueConstraint("confirm_hash", name=op.f("uq_subscribers_confirm_hash")),
        sa.UniqueConstraint("manage_token", name=op.f("uq_subscribers_manage_token")),
    )
    op.create_index(op.f("ix_subscribers_state"), "subscribers",
                    ["state", "created_at"])


def downgrade() -> None:
    """Drop ``subscribers`` (every subscription is lost)."""
    op.drop_index(op.f("ix_subscribers_state"), table_name="subscribers")
    op.drop_table("subscribers")
