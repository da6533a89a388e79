"""Whether a stored reason may be shown on public places.

Revision ID: 0004_reason_public
Revises: 0003_accounts
Create Date: 2026-11-28

Written by hand. ``reason_public`` is False when a probe's reason quotes text that came
from outside Vigie (a plugin's output, a job's message, a server's error): the status page,
the JSON API and forum posts then show a generic sentence (see monitor.probe.Reason).
Rows written before this revision get False when their code is one of those the built-in
probes use for such reasons (:data:`FREE_TEXT_CODES`), True otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_reason_public"
down_revision: str | Sequence[str] | None = "0003_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("results", "check_status_changes", "service_status_changes")

#: ``LIKE`` patterns of the reason codes whose sentences may quote outside text in the
#: built-in probes (a few of these codes sometimes quote none: hiding them is harmless).
#: A one-off backfill for rows written before 0.1.0; the probes themselves mark new
#: reasons, and the core names no service-specific probe here.
FREE_TEXT_CODES = (
    "nagios.%", "heartbeat.failed", "mysql.connect", "mysql.query", "mysql.unexpected",
    "postgresql.connect", "postgresql.query", "postgresql.unexpected", "mail.protocol",
    "mail.greeting", "mail.starttls_refused", "mail.login_refused", "smtp.ehlo",
    "http.json",
)


def upgrade() -> None:
    """Add ``reason_public`` to the tables that store reasons; false for the rows written
    earlier whose code says the sentence may quote outside text."""
    for table in TABLES:
        # a constant default: SQLite adds the column without rebuilding the table
        op.add_column(table, sa.Column("reason_public", sa.Boolean(), nullable=False,
                                       server_default=sa.true()))
        rows = sa.table(table, sa.column("reason_code", sa.String),
                        sa.column("reason_public", sa.Boolean))
        op.execute(rows.update()
                   .where(sa.or_(*(rows.c.reason_code.like(p) for p in FREE_TEXT_CODES)))
                   .values(reason_public=False))


def downgrade() -> None:
    """Drop ``reason_public``."""
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("reason_public")
