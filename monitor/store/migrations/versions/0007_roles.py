"""Roles of the volunteers and of their API tokens.

Revision ID: 0007_roles
Revises: 0006_admin_sessions
Create Date: 2026-12-14

Written by hand (models in monitor.store.accounts). ``users.role`` is ``admin``,
``editor`` or ``desk`` (monitor.access.Role): every account that existed before roles
becomes an administrator, since each could do everything. ``api_tokens.role`` is empty
(the token acts with its user's role) or a narrower role.

Columns are added with a constant default, so SQLite adds them without rebuilding the
``users`` table (a rebuild would drop the table under the tokens' and sessions' foreign
keys, which cascade).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_roles"
down_revision: str | Sequence[str] | None = "0006_admin_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``users.role`` (``admin`` for the existing accounts) and ``api_tokens.role``."""
    op.add_column("users", sa.Column("role", sa.String(16), nullable=False,
                                     server_default="admin"))
    op.add_column("api_tokens", sa.Column("role", sa.String(16), nullable=True))


def downgrade() -> None:
    """Drop the roles (every account can do everything again); ``ALTER TABLE … DROP
    COLUMN`` on both engines (SQLite 3.35 or later), never a rebuild of ``users``."""
    op.drop_column("api_tokens", "role")
    op.drop_column("users", "role")
