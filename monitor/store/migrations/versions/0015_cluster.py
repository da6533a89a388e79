"""Cluster membership and leadership.

Revision ID: 0015_cluster
Revises: 0014_webhooks
Create Date: 2026-12-06

Written by hand (models monitor.cluster.models). ``cluster_nodes``: one row per node
name, its heartbeat on the database's clock; ``cluster_lease``: one row per lease
(``leader``) with its holder, expiry and fencing epoch. Both tables are small (a row per
node, a row per lease); no index beyond their keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_cluster"
down_revision: str | Sequence[str] | None = "0014_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``cluster_nodes`` and ``cluster_lease``."""
    op.create_table(
        "cluster_nodes",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("incarnation", sa.String(32), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("heartbeat_at", sa.Double(), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("left_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cluster_nodes")),
    )
    op.create_table(
        "cluster_lease",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("holder", sa.String(63), nullable=False),
        sa.Column("incarnation", sa.String(32), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cluster_lease")),
    )


def downgrade() -> None:
    """Drop the cluster's tables (nodes rejoin and elect a leader again)."""
    op.drop_table("cluster_lease")
    op.drop_table("cluster_nodes")
