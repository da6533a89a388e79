"""The sections that say how Vigie runs: ``site``, ``scheduler``, ``store``, ``plugins``
and ``incidents`` (with its ``outbox``)."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator

from monitor.config_types import LocalizedText
from monitor.schema import Duration, SecretUrl, SecretUrlStr, StrictModel, parse_duration


class SiteSettings(StrictModel):
    """What the status page says about the cooperative itself."""

    #: title of the status page
    title: LocalizedText = LocalizedText(fr="État des services", en="Service status")
    #: time zone of days in rollups, maintenance windows and dates shown (IANA name)
    timezone: str = "Europe/Paris"
    #: language of the page when the visitor's browser does not choose one
    language: str = Field(default="fr", pattern="^(fr|en)$")
    #: public address of the status page, used in alerts and feeds
    public_url: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Paris)") from None
        return value


class SchedulerSettings(StrictModel):
    """How checks are run."""

    #: checks running at the same time (a fixed pool of workers)
    concurrency: int = Field(default=256, ge=1, le=100_000)
    #: spread first runs over each check's interval (off: all run at start)
    spread_first_runs: bool = True


class StoreSettings(StrictModel):
    """Where results, rollups and incidents are kept."""

    #: SQLAlchemy URL of a PostgreSQL or SQLite database; default: SQLite file
    #: ``vigie.sqlite`` in the data directory. A password in it is never shown (logs,
    #: errors, alerts); ``url_file`` reads the whole URL from a file
    url: SecretUrlStr | None = None
    #: how long raw results are kept (daily rollups are kept for ever)
    retention: Duration = 30 * 86400.0
    #: results written to the database in one transaction, at most
    batch_size: int = Field(default=500, ge=1, le=100_000)
    #: longest wait before pending results are written
    flush_interval: Duration = 2.0
    #: results kept in memory while the database is unreachable (oldest dropped first)
    buffer_limit: int = Field(default=100_000, ge=100, le=10_000_000)

    @field_validator("url")
    @classmethod
    def _supported_database(cls, value: SecretUrl | None) -> SecretUrl | None:
        # checked at load, so `vigie config check` reports what `vigie run` would die on;
        # the messages never repeat the URL (it may hold the password)
        if not value:
            return None  # `url: ${VIGIE_DB_URL:-}` left empty: the SQLite default
        from monitor.store.engine import UnsupportedDatabase, normalize_url

        try:
            normalize_url(str(value))
        except UnsupportedDatabase as exc:
            raise ValueError(str(exc)) from None
        except Exception:  # noqa: BLE001 - SQLAlchemy's parse errors quote the URL
            raise ValueError("not a database URL (e.g. postgresql://vigie:***@db.example.coop/"
                             "vigie, or sqlite:////var/lib/vigie/vigie.sqlite)") from None
        return value


class PluginSettings(StrictModel):
    """Which plugins to leave out."""

    #: names of plugins (their entry-point names, see ``vigie probes``) not to load
    blocked: list[str] = []


def _optional_duration(value: Any) -> Any:
    """``off``/``false``/``null`` → None; anything else is a :data:`Duration`."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower()
                                           in ("off", "none", "never", "non")):
        return None
    return parse_duration(value)


OptionalDuration = Annotated[float | None, BeforeValidator(_optional_duration)]
"""A duration, or ``off`` for none."""


class OutboxSettings(StrictModel):
    """How side effects (alerts, forum posts, tickets) are delivered to plugins."""

    #: attempts before an entry is dead-lettered (visible in the admin area, retriable)
    max_attempts: int = Field(default=10, ge=1, le=1000)
    #: first retry delay; doubles on each failure (with jitter) up to ``max_backoff``
    initial_backoff: Duration = 5.0
    max_backoff: Duration = 3600.0
    #: a system alert when this many entries are pending…
    backlog_alert: int = Field(default=100, ge=1)
    #: …or when the oldest pending entry is older than this
    oldest_pending_alert: Duration = 900.0
    #: a system alert when a plugin failed this many deliveries in a row
    plugin_failing_after: int = Field(default=5, ge=1)
    #: delivered entries are kept this long (then pruned), dead ones until retried or pruned
    keep_delivered: Duration = 30 * 86400.0
    #: deliveries in progress at once for each plugin (each plugin has its own lane: a
    #: slow or failing plugin never delays another's); one incident's events still go to
    #: a plugin one after the other, in order
    concurrency: int = Field(default=4, ge=1, le=64)
    #: ``concurrency`` for some plugins, by plugin name (e.g. ``{forum: 1}``)
    plugin_concurrency: dict[str, Annotated[int, Field(ge=1, le=64)]] = {}
    #: seconds one delivery may take; then it counts as a failure and is retried
    call_timeout: Duration = Field(default=120.0, gt=0, le=3600)


class IncidentSettings(StrictModel):
    """How incidents open, resolve and remind (see docs/incidents.md)."""

    #: a service must stay operational this long before its incident resolves by itself
    quiet_period: Duration = 300.0
    #: a service failing again this soon after its incident resolved reopens it
    cooldown: Duration = 1800.0
    #: remind volunteers of an open incident this often (``off``: never)
    reminder_every: OptionalDuration = 7200.0
    #: warn when a certificate expires within this many days (``…cert_expiry_timestamp_seconds``
    #: samples of any probe)
    cert_warn_days: float = Field(default=14, gt=0, le=3650)
    #: status changes kept in memory while the database is unreachable, recorded in order
    #: when it is back; beyond this the oldest are dropped (logged, counted in
    #: ``vigie_incident_changes_dropped_total``)
    buffer_limit: int = Field(default=10_000, ge=100, le=1_000_000)
    outbox: OutboxSettings = OutboxSettings()
