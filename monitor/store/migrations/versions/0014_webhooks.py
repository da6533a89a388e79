"""Signed webhooks: the endpoints volunteers register.

Revision ID: 0014_webhooks
Revises: 0013_member_mails
Create Date: 2026-12-20

Written by hand (model monitor.webhooks.models.WebhookEndpoint). One row per endpoint;
its deliveries are outbox rows of the plugin ``webhook-<id>`` (no foreign key: the
outbox keeps a removed endpoint's dead letters until they are pruned). ``secret`` is kept
as given: Vigie signs with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_webhooks"
down_revision: str | Sequence[str] | None = "0013_member_mails"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``webhook_endpoints``."""
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(120), nullable=False),
        sa.Column("previous_secret", sa.String(120), nullable=True),
        sa.Column("previous_until", sa.Double(), nullable=True),
        sa.Column("events", sa.String(500), nullable=False),
        sa.Column("services", sa.String(2000), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("disabled_at", sa.Double(), nullable=True),
        sa.Column("disabled_reason", sa.String(1000), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )


def downgrade() -> None:
    """Drop ``webhook_endpoints`` (the endpoints and their secrets are lost)."""
    op.drop_table("webhook_endpoints")
