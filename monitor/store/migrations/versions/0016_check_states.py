"""The checks' hidden state, shared between the nodes of a cluster.

Revision ID: 0016_check_states
Revises: 0015_cluster
Create Date: 2026-12-06

Written by hand (model monitor.cluster.models.CheckStateRow). ``check_states``: one row
per check, the confirmed status, since when, and the failures seen toward ``confirm``,
written by the check's owner with its results (cluster mode only), read by the node that
takes the check over.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_check_states"
down_revision: str | Sequence[str] | None = "0015_cluster"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``check_states``."""
    op.create_table(
        "check_states",
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=True),
        sa.Column("since", sa.Double(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"],
                                name=op.f("fk_check_states_check_id_checks")),
        sa.PrimaryKeyConstraint("check_id", name=op.f("pk_check_states")),
    )


def downgrade() -> None:
    """Drop ``check_states`` (a node taking a check over starts from its last confirmed
    status only)."""
    op.drop_table("check_states")
