"""The feed of check transitions the cluster's leader follows.

Revision ID: 0017_cluster_feed
Revises: 0016_check_states
Create Date: 2026-12-06

Written by hand (models monitor.cluster.models.TransitionRow, FeedPositionRow).
``cluster_transitions``: each check transition confirmed by its owner, its id taken from
the ``head`` row of ``cluster_feed`` (locked until the writer commits, so ids become
visible in order); ``cluster_feed``: ``head`` and ``leader`` (the last transition applied
by the leaders), both 0 to begin with.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_cluster_feed"
down_revision: str | Sequence[str] | None = "0016_check_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``cluster_transitions`` and ``cluster_feed`` (with its two rows)."""
    op.create_table(
        "cluster_transitions",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("previous", sa.SmallInteger(), nullable=True),
        sa.Column("previous_since", sa.Double(), nullable=True),
        sa.Column("current", sa.SmallInteger(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("reason_code", sa.String(100), nullable=True),
        sa.Column("reason_fr", sa.String(500), nullable=True),
        sa.Column("reason_en", sa.String(500), nullable=True),
        sa.Column("reason_public", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("node", sa.String(63), nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"],
                                name=op.f("fk_cluster_transitions_check_id_checks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_transitions")),
        sa.UniqueConstraint("check_id", "at", "current",
                            name=op.f("uq_cluster_transitions_check_id_at_current")),
    )
    feed = op.create_table(
        "cluster_feed",
        sa.Column("name", sa.String(20), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cluster_feed")),
    )
    op.bulk_insert(feed, [{"name": "head", "position": 0}, {"name": "leader", "position": 0}])


def downgrade() -> None:
    """Drop the feed (a leader then starts from the checks' states)."""
    op.drop_table("cluster_feed")
    op.drop_table("cluster_transitions")
