"""The database tables, as SQLAlchemy 2.0 typed models.

Times are stored as Unix epoch seconds in double-precision floats (what the probes and the
state machine use, identical on SQLite and PostgreSQL, and cheap to index); calendar days of
the rollups are ``DATE`` values in the site's time zone. Statuses are small integers:
:class:`monitor.probe.Status` values for checks, :attr:`monitor.state.ServiceStatus.code`
for services.

Every change here needs a hand-written migration in ``migrations/versions``; a test fails
when the models and the migrations disagree.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: constraint and index names that are stable across engines, so migrations can name them
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: a 64-bit key on PostgreSQL; SQLite only auto-increments a column declared INTEGER
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: lengths shared with the configuration (ids follow monitor.config.IDENT)
ID_LENGTH = 63
NAME_LENGTH = 200
REASON_LENGTH = 500


class Base(DeclarativeBase):
    """Base of every Vigie table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ServiceRow(Base):
    """A service as last seen in the configuration (kept, inactive, when removed)."""

    __tablename__ = "services"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name_fr: Mapped[str] = mapped_column(String(NAME_LENGTH))
    name_en: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    group_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    #: order of the service in the configuration file
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CheckRow(Base):
    """A check as last seen in the configuration; results point to it by integer id."""

    __tablename__ = "checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``service/check``, the key used everywhere else in Vigie
    key: Mapped[str] = mapped_column(String(2 * ID_LENGTH + 1), unique=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    check_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(ID_LENGTH))
    name_fr: Mapped[str] = mapped_column(String(NAME_LENGTH))
    name_en: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    #: order of the check in its service
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: seconds between runs, as configured (lets readers tell "no data" from "not due")
    run_interval: Mapped[float] = mapped_column(Double)
    #: present and enabled in the configuration
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ResultRow(Base):
    """One run of one check. Pruned after the retention period (30 days by default)."""

    __tablename__ = "results"
    __table_args__ = (
        # the natural key: a replayed or retried batch inserts nothing twice
        UniqueConstraint("check_id", "started_at"),
        Index(None, "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"))
    started_at: Mapped[float] = mapped_column(Double)
    status: Mapped[int] = mapped_column(SmallInteger)
    duration: Mapped[float] = mapped_column(Double)
    #: NULL when the probe gave no reason (most passing runs), to keep rows small
    reason_code: Mapped[str | None] = mapped_column(String(100))
    reason_fr: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    reason_en: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    #: False when the reason quotes outside text: public places show a generic sentence
    #: (see monitor.probe.Reason)
    reason_public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    samples: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class CheckStatusChange(Base):
    """A check's confirmed status changed (after damping). Kept for ever."""

    __tablename__ = "check_status_changes"
    __table_args__ = (
        UniqueConstraint("check_id", "at", "current"),
        Index(None, "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"))
    at: Mapped[float] = mapped_column(Double)
    #: NULL for the first status ever confirmed
    previous: Mapped[int | None] = mapped_column(SmallInteger)
    current: Mapped[int] = mapped_column(SmallInteger)
    reason_code: Mapped[str | None] = mapped_column(String(100))
    reason_fr: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    reason_en: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    #: False when the reason quotes outside text: public places show a generic sentence
    #: (see monitor.probe.Reason)
    reason_public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class ServiceStatusChange(Base):
    """A service's derived status changed. Kept for ever: history and uptime come from it."""

    __tablename__ = "service_status_changes"
    __table_args__ = (
        UniqueConstraint("service_id", "at", "current"),
        Index(None, "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"))
    at: Mapped[float] = mapped_column(Double)
    previous: Mapped[int | None] = mapped_column(SmallInteger)
    current: Mapped[int] = mapped_column(SmallInteger)
    reason_code: Mapped[str | None] = mapped_column(String(100))
    reason_fr: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    reason_en: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    #: False when the reason quotes outside text: public places show a generic sentence
    #: (see monitor.probe.Reason)
    reason_public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class DailyCheckRollup(Base):
    """One check's day (in the site's time zone): run counts and latency. Kept for ever."""

    __tablename__ = "daily_check_rollups"
    __table_args__ = (
        UniqueConstraint("check_id", "day"),
        Index(None, "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"))
    day: Mapped[date] = mapped_column(Date)
    runs: Mapped[int] = mapped_column(Integer)
    up: Mapped[int] = mapped_column(Integer)
    degraded: Mapped[int] = mapped_column(Integer)
    down: Mapped[int] = mapped_column(Integer)
    unknown: Mapped[int] = mapped_column(Integer)
    maintenance: Mapped[int] = mapped_column(Integer)
    #: (up + maintenance) / (runs - unknown); NULL when no run could be judged
    uptime: Mapped[float | None] = mapped_column(Double)
    #: latency percentiles of the runs that got an answer (up or degraded), seconds
    latency_p50: Mapped[float | None] = mapped_column(Double)
    latency_p95: Mapped[float | None] = mapped_column(Double)


class DailyServiceRollup(Base):
    """One service's day (in the site's time zone): uptime and worst status. Kept for ever."""

    __tablename__ = "daily_service_rollups"
    __table_args__ = (
        UniqueConstraint("service_id", "day"),
        Index(None, "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"))
    day: Mapped[date] = mapped_column(Date)
    #: runs of the service's checks that day
    runs: Mapped[int] = mapped_column(Integer)
    #: availability (monitor.availability): time available / time observed; NULL when
    #: nothing was observed
    uptime: Mapped[float | None] = mapped_column(Double)
    #: seconds of the day counted (neither maintenance, nor unknown, nor before the first
    #: status)
    observed: Mapped[float] = mapped_column(Double)
    #: worst ServiceStatus code of the day (by the one order of monitor.status)
    worst_status: Mapped[int | None] = mapped_column(SmallInteger)
    #: version of the availability rule ``uptime`` was computed with
    #: (monitor.availability.RULE); NULL: before the rule was versioned
    availability_rule: Mapped[int | None] = mapped_column(SmallInteger)
    latency_p50: Mapped[float | None] = mapped_column(Double)
    latency_p95: Mapped[float | None] = mapped_column(Double)
