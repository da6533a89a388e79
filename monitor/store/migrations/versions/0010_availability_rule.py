"""The version of the availability rule each daily service rollup was computed with.

Revision ID: 0010_availability_rule
Revises: 0009_markup_html
Create Date: 2026-12-07

Written by hand. Availability is now defined once (monitor.availability):
degraded counts as available, a partial outage is weighted, maintenance is left out of
the count. Rows written before carry NULL; the rollup pass computes their uptime,
observed time and worst status again from the status changes, kept for ever
(monitor.store.rollups.refresh_outdated), newest days first, a few months per pass.
Nothing to do here: the day of a row depends on the site's time zone, which only the
configuration knows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_availability_rule"
down_revision: str | Sequence[str] | None = "0009_markup_html"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``daily_service_rollups.availability_rule`` (NULL for the rows already there)."""
    op.add_column("daily_service_rollups",
                  sa.Column("availability_rule", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    """Drop the column (the rows keep the figures of the newer rule)."""
    with op.batch_alter_table("daily_service_rollups") as batch:
        batch.drop_column("availability_rule")
