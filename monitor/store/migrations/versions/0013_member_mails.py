"""The ledger of members' mails.

Revision ID: 0013_member_mails
Revises: 0012_subscribers
Create Date: 2026-12-20

Written by hand (model monitor.membermail.models.MemberMailRow). One row per subscriber
and event once the mail was accepted (or the address refused for good), unique on
``(subscriber_id, event_key)``: a batch delivered again skips them. Deleted with the
subscriber.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_member_mails"
down_revision: str | Sequence[str] | None = "0012_subscribers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``member_mails``."""
    op.create_table(
        "member_mails",
        sa.Column("id", BigId, nullable=False),
        sa.Column("subscriber_id", BigId, nullable=False),
        sa.Column("event_key", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("thread", sa.String(100), nullable=True),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("sent_at", sa.Double(), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_member_mails_subscriber_id_subscribers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_mails")),
        sa.UniqueConstraint("subscriber_id", "event_key",
                            name=op.f("uq_member_mails_subscriber_id_event_key")),
    )
    op.create_index(op.f("ix_member_mails_sent_at"), "member_mails", ["sent_at"])


def downgrade() -> None:
    """Drop ``member_mails`` (which mail went to whom is forgotten)."""
    op.drop_index(op.f("ix_member_mails_sent_at"), table_name="member_mails")
    op.drop_table("member_mails")
