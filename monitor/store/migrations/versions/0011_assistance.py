"""Members' requests for help.

Revision ID: 0011_assistance
Revises: 0010_availability_rule
Create Date: 2026-12-15

Written by hand (model monitor.assistance.models.AssistanceRow). One row per request,
unique by the form's idempotency token and by the reference shown to the member; the
desk's delivery goes through the outbox (``outbox_id``, no foreign key: the outbox row may
be pruned first). Rows are deleted after ``assistance.retention``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_assistance"
down_revision: str | Sequence[str] | None = "0010_availability_rule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``assistance_requests``."""
    op.create_table(
        "assistance_requests",
        sa.Column("id", BigId, nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("token", sa.String(100), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("category", sa.String(63), nullable=False),
        sa.Column("service_id", sa.String(63), nullable=True),
        sa.Column("title", sa.String(1000), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("member_id", sa.String(200), nullable=True),
        sa.Column("screenshots", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("ticket_number", sa.String(200), nullable=True),
        sa.Column("ticket_url", sa.String(2000), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assistance_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_assistance_requests_reference")),
        sa.UniqueConstraint("token", name=op.f("uq_assistance_requests_token")),
    )
    op.create_index(op.f("ix_assistance_requests_created_at"), "assistance_requests",
                    ["created_at"])
    op.create_index(op.f("ix_assistance_requests_state"), "assistance_requests", ["state"])


def downgrade() -> None:
    """Drop ``assistance_requests`` (the requests not purged yet are lost)."""
    op.drop_index(op.f("ix_assistance_requests_state"), table_name="assistance_requests")
    op.drop_index(op.f("ix_assistance_requests_created_at"), table_name="assistance_requests")
    op.drop_table("assistance_requests")
