"""The safe HTML of volunteers' Markdown, stored beside each text.

Revision ID: 0009_markup_html
Revises: 0008_audit_log
Create Date: 2026-12-05

Written by hand. Pages used to render Markdown on request, and a crafted text took
seconds each time; now each text is rendered once, when it is saved
(monitor.markup.render, in bounded time), and pages read the ``*_html`` column.

Rows written before this revision are rendered here, each distinct text once. Offline
(``--sql``, for a DBA) there are no rows to read: the columns stay NULL and pages show
those texts escaped, without Markdown, until they are saved again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0009_markup_html"
down_revision: str | Sequence[str] | None = "0008_audit_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table → its Markdown columns (each gets ``<column>_html``)
COLUMNS = {
    "incidents": ("postmortem_fr", "postmortem_en"),
    "incident_updates": ("message_fr", "message_en"),
    "maintenance_windows": ("message_fr", "message_en"),
    "notices": ("text_fr", "text_en"),
}
#: rows read and written at a time
BATCH = 500
#: distinct texts remembered (automatic updates repeat the same few sentences)
REMEMBERED = 10_000


def upgrade() -> None:
    """Add the ``*_html`` columns and fill them for the rows already written."""
    for table, columns in COLUMNS.items():
        for column in columns:
            op.add_column(table, sa.Column(f"{column}_html", sa.Text(), nullable=True))
    if not context.is_offline_mode():
        _render_existing(op.get_bind())


def _render_existing(bind: sa.Connection) -> None:
    from monitor.markup import render

    rendered: dict[str, str] = {}
    for name, columns in COLUMNS.items():
        table = sa.table(name, sa.column("id", sa.Integer),
                         *(sa.column(c, sa.Text) for c in columns),
                         *(sa.column(f"{c}_html", sa.Text) for c in columns))
        last = None
        while True:
            query = sa.select(table.c.id, *(table.c[c] for c in columns)).order_by(table.c.id)
            if last is not None:
                query = query.where(table.c.id > last)
            rows = bind.execute(query.limit(BATCH)).all()
            if not rows:
                break
            for row_id, *texts in rows:
                values = {}
                for column, text in zip(columns, texts):
                    if text is not None:
                        if text not in rendered:
                            if len(rendered) >= REMEMBERED:
                                rendered.clear()
                            rendered[text] = render(text)
                        values[f"{column}_html"] = rendered[text]
                if values:
                    bind.execute(table.update().where(table.c.id == row_id).values(**values))
            last = rows[-1][0]


def downgrade() -> None:
    """Drop the ``*_html`` columns."""
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(f"{column}_html")
