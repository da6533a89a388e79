"""Incidents, maintenance windows, notices and the outbox.

Revision ID: 0002_incidents
Revises: 0001
Create Date: 2024-12-05

Written by hand from what autogenerate proposed (models in monitor.incidents.models).
Constraint names follow monitor.store.models.NAMING_CONVENTION.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_incidents"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _incident_fk(table: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete=ondelete,
                                   name=op.f(f"fk_{table}_incident_id_incidents"))


def upgrade() -> None:
    """Create the incident, maintenance, notice and outbox tables."""
    op.create_table(
        "incidents",
        sa.Column("id", BigId, nullable=False),
        sa.Column("reference", sa.String(32), nullable=True),
        sa.Column("title_fr", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=True),
        sa.Column("impact", sa.String(20), nullable=False),
        sa.Column("worst_impact", sa.String(20), nullable=False),
        sa.Column("impact_manual", sa.Boolean(), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("recovered_at", sa.Double(), nullable=True),
        sa.Column("last_notified_at", sa.Double(), nullable=True),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("postmortem_fr", sa.Text(), nullable=True),
        sa.Column("postmortem_en", sa.Text(), nullable=True),
        sa.Column("postmortem_at", sa.Double(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("reference", name=op.f("uq_incidents_reference")),
    )
    op.create_index(op.f("ix_incidents_opened_at"), "incidents", ["opened_at"])
    op.create_index(op.f("ix_incidents_resolved_at"), "incidents", ["resolved_at"])

    op.create_table(
        "incident_services",
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("service_id", sa.String(63), nullable=False),
        _incident_fk("incident_services"),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"],
                                name=op.f("fk_incident_services_service_id_services")),
        sa.PrimaryKeyConstraint("incident_id", "service_id", name=op.f("pk_incident_services")),
    )
    op.create_index(op.f("ix_incident_services_service_id"), "incident_services",
                    ["service_id"])

    op.create_table(
        "incident_updates",
        sa.Column("id", BigId, nullable=False),
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("impact", sa.String(20), nullable=True),
        sa.Column("message_fr", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=True),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("author", sa.String(200), nullable=True),
        _incident_fk("incident_updates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_updates")),
    )
    op.create_index(op.f("ix_incident_updates_incident_id"), "incident_updates",
                    ["incident_id", "at"])

    op.create_table(
        "incident_links",
        sa.Column("id", BigId, nullable=False),
        sa.Column("incident_id", BigId, nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        _incident_fk("incident_links"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_links")),
        sa.UniqueConstraint("incident_id", "plugin", "url",
                            name=op.f("uq_incident_links_incident_id_plugin_url")),
    )

    op.create_table(
        "maintenance_windows",
        sa.Column("id", BigId, nullable=False),
        sa.Column("config_id", sa.String(63), nullable=True),
        sa.Column("title_fr", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=True),
        sa.Column("message_fr", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=True),
        sa.Column("all_services", sa.Boolean(), nullable=False),
        sa.Column("group_id", sa.String(63), nullable=True),
        sa.Column("service_ids", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.Double(), nullable=True),
        sa.Column("ends_at", sa.Double(), nullable=True),
        sa.Column("rule", sa.String(500), nullable=True),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("announce_before", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("cancelled_at", sa.Double(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
        sa.UniqueConstraint("config_id", name=op.f("uq_maintenance_windows_config_id")),
    )

    op.create_table(
        "notices",
        sa.Column("id", BigId, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("title_fr", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=True),
        sa.Column("text_fr", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=True),
        sa.Column("starts_at", sa.Double(), nullable=True),
        sa.Column("ends_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    op.create_index(op.f("ix_notices_ends_at"), "notices", ["ends_at"])

    op.create_table(
        "outbox",
        sa.Column("id", BigId, nullable=False),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("hook", sa.String(100), nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(100), nullable=False),
        sa.Column("incident_id", BigId, nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("last_attempt_at", sa.Double(), nullable=True),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.String(1000), nullable=True),
        _incident_fk("outbox", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    # the worker's "what is due" scan, and the per-plugin ordering check
    op.create_index(op.f("ix_outbox_status"), "outbox", ["status", "next_attempt_at"])
    op.create_index(op.f("ix_outbox_plugin"), "outbox", ["plugin", "stream", "id"])


def downgrade() -> None:
    """Drop the tables this revision created (children first)."""
    for table in ("outbox", "notices", "maintenance_windows", "incident_links",
                  "incident_updates", "incident_services", "incidents"):
        op.drop_table(table)
