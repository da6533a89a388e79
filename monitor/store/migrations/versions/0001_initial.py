"""Catalog, results, status changes and daily rollups.

Revision ID: 0001
Revises:
Create Date: 2024-11-28

Written by hand. Constraint names follow monitor.store.models.NAMING_CONVENTION so that
later migrations can drop or alter them by name on both SQLite and PostgreSQL. Tables for
incidents, maintenance, notices, the outbox and users come in later revisions.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _reason_columns() -> list[sa.Column]:
    return [
        sa.Column("reason_code", sa.String(100), nullable=True),
        sa.Column("reason_fr", sa.String(500), nullable=True),
        sa.Column("reason_en", sa.String(500), nullable=True),
    ]


def upgrade() -> None:
    """Create the first tables."""
    op.create_table(
        "services",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("name_fr", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=True),
        sa.Column("group_id", sa.String(63), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
    )
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(127), nullable=False),
        sa.Column("service_id", sa.String(63), nullable=False),
        sa.Column("check_id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(63), nullable=False),
        sa.Column("name_fr", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("run_interval", sa.Double(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"],
                                name=op.f("fk_checks_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checks")),
        sa.UniqueConstraint("key", name=op.f("uq_checks_key")),
    )
    op.create_index(op.f("ix_checks_service_id"), "checks", ["service_id"])

    op.create_table(
        "results",
        sa.Column("id", BigId, nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        *_reason_columns(),
        sa.Column("samples", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"],
                                name=op.f("fk_results_check_id_checks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
        sa.UniqueConstraint("check_id", "started_at",
                            name=op.f("uq_results_check_id_started_at")),
    )
    # prune and rollups scan by time across all checks
    op.create_index(op.f("ix_results_started_at"), "results", ["started_at"])

    op.create_table(
        "check_status_changes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("previous", sa.SmallInteger(), nullable=True),
        sa.Column("current", sa.SmallInteger(), nullable=False),
        *_reason_columns(),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"],
                                name=op.f("fk_check_status_changes_check_id_checks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_status_changes")),
        sa.UniqueConstraint("check_id", "at", "current",
                            name=op.f("uq_check_status_changes_check_id_at_current")),
    )
    op.create_index(op.f("ix_check_status_changes_at"), "check_status_changes", ["at"])

    op.create_table(
        "service_status_changes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("service_id", sa.String(63), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("previous", sa.SmallInteger(), nullable=True),
        sa.Column("current", sa.SmallInteger(), nullable=False),
        *_reason_columns(),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"],
                                name=op.f("fk_service_status_changes_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_status_changes")),
        sa.UniqueConstraint("service_id", "at", "current",
                            name=op.f("uq_service_status_changes_service_id_at_current")),
    )
    op.create_index(op.f("ix_service_status_changes_at"), "service_status_changes", ["at"])

    op.create_table(
        "daily_check_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("up", sa.Integer(), nullable=False),
        sa.Column("degraded", sa.Integer(), nullable=False),
        sa.Column("down", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("maintenance", sa.Integer(), nullable=False),
        sa.Column("uptime", sa.Double(), nullable=True),
        sa.Column("latency_p50", sa.Double(), nullable=True),
        sa.Column("latency_p95", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"],
                                name=op.f("fk_daily_check_rollups_check_id_checks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_check_rollups")),
        sa.UniqueConstraint("check_id", "day", name=op.f("uq_daily_check_rollups_check_id_day")),
    )
    op.create_index(op.f("ix_daily_check_rollups_day"), "daily_check_rollups", ["day"])

    op.create_table(
        "daily_service_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.String(63), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("uptime", sa.Double(), nullable=True),
        sa.Column("observed", sa.Double(), nullable=False),
        sa.Column("worst_status", sa.SmallInteger(), nullable=True),
        sa.Column("latency_p50", sa.Double(), nullable=True),
        sa.Column("latency_p95", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"],
                                name=op.f("fk_daily_service_rollups_service_id_services")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_service_rollups")),
        sa.UniqueConstraint("service_id", "day",
                            name=op.f("uq_daily_service_rollups_service_id_day")),
    )
    op.create_index(op.f("ix_daily_service_rollups_day"), "daily_service_rollups", ["day"])


def downgrade() -> None:
    """Drop everything the first revision created (children first)."""
    for table in ("daily_service_rollups", "daily_check_rollups", "service_status_changes",
                  "check_status_changes", "results", "checks", "services"):
        op.drop_table(table)
