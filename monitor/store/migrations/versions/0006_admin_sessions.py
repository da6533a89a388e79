"""Server-side sessions of the admin area.

Revision ID: 0006_admin_sessions
Revises: 0005_reason_public_codes
Create Date: 2026-12-14

Written by hand (model monitor.store.accounts.AdminSession). The signed session cookie
now holds a random session id whose SHA-256 is a row here: logging out ends the row, so
a copied cookie stops working too. Sessions opened before this revision (held in the
cookie alone) are not carried over: volunteers sign in again once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_admin_sessions"
down_revision: str | Sequence[str] | None = "0005_reason_public_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the admin_sessions table."""
    op.create_table(
        "admin_sessions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_seen_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_admin_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_sessions_token_hash")),
    )
    op.create_index(op.f("ix_admin_sessions_user_id"), "admin_sessions", ["user_id"])


def downgrade() -> None:
    """Drop the admin_sessions table."""
    op.drop_table("admin_sessions")
