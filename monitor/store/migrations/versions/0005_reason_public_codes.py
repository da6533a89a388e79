"""Hide the stored reasons of the codes found to quote outside text after 0004.

Revision ID: 0005_reason_public_codes
Revises: 0004_reason_public
Create Date: 2026-12-05

Written by hand. A review found more reasons quoting what a target sent
(a banner, a version, a DNS record, an XML element): the probes now mark them
``public=False``; the rows written before keep ``reason_public`` true unless this one-off
backfill, like the one of 0004, sets it false for their codes (:data:`FREE_TEXT_CODES`).
No table changes: the downgrade leaves the flags as they are (hiding them is harmless).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_reason_public_codes"
down_revision: str | Sequence[str] | None = "0004_reason_public"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("results", "check_status_changes", "service_status_changes")

#: ``LIKE`` patterns of the reason codes whose sentences may quote outside text and that
#: 0004 did not list: a target's answer (tcp, dns), an application's version
#: (``*.old_version``), product name or web page's media type (``*.not_*``), a SOAP
#: fault, a mail server's line quoted by another probe (``*.smtp.mail.*``), a database's
#: replication state. The core names no service-specific probe, hence the patterns; a few
#: codes they match quote nothing (``*.not_installed``): hiding those is harmless.
FREE_TEXT_CODES = (
    "tcp.unexpected", "dns.unexpected", "mysql.replication_stopped", "%.old_version",
    "%.not_%", "%.soap.fault", "%.soap.unexpected", "%.smtp.mail.%",
)


def upgrade() -> None:
    """``reason_public`` false for the earlier rows whose code may quote outside text."""
    for table in TABLES:
        rows = sa.table(table, sa.column("reason_code", sa.String),
                        sa.column("reason_public", sa.Boolean))
        op.execute(rows.update()
                   .where(sa.or_(*(rows.c.reason_code.like(p) for p in FREE_TEXT_CODES)))
                   .values(reason_public=False))


def downgrade() -> None:
    """Nothing to undo: the flags stay (a hidden reason is still shown to volunteers)."""
