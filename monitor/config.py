"""The configuration file: its schema and the resolved objects the rest of Vigie uses.

The YAML file is read by :mod:`monitor.config_loader`, which reports errors with file,
line and key. This module holds the models and the defaults (in one place:
:class:`CheckDefaults`) and turns the validated file into frozen :class:`Check` and
:class:`Service` objects.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema

from monitor.probe import CheckRef, ProbeConfig
from monitor.schema import (
    Duration,
    SecretUrl,
    SecretUrlStr,
    StrictModel,
    parse_duration,
)
from monitor.words import Bilingual

IDENT = r"^[a-z0-9][a-z0-9_-]{0,62}$"
#: headers a trusted reverse proxy may set (waitress's names)
PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
                 "x-forwarded-port", "x-forwarded-by", "forwarded")
_IDENT_RE = re.compile(IDENT)


class LocalizedText(Bilingual):
    """A member-facing text of the configuration: a :class:`~monitor.words.Bilingual`
    (French required, English optional) that pydantic checks on reading.

    In the file it is either a plain string (French) or ``{fr: ..., en: ...}``, each text
    1 to 200 characters; in code, ``LocalizedText(fr=..., en=...)`` or any
    :class:`~monitor.words.Bilingual`. It equals the Bilingual with the same texts.
    """

    __slots__ = ()

    #: the keys of the ``{fr, en}`` form (named in the "did you mean" of a config error)
    KEYS = ("en", "fr")
    #: the longest text in either language
    MAX_LENGTH = 200

    @classmethod
    def allowed_keys(cls) -> list[str]:
        """The keys of the mapping form (as :meth:`StrictModel.allowed_keys`)."""
        return list(cls.KEYS)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        text = core_schema.str_schema(min_length=1, max_length=cls.MAX_LENGTH)
        mapping = core_schema.typed_dict_schema(
            {"fr": core_schema.typed_dict_field(text),
             "en": core_schema.typed_dict_field(core_schema.nullable_schema(text),
                                                required=False)},
            extra_behavior="forbid")
        return core_schema.no_info_before_validator_function(
            cls._as_mapping,
            core_schema.no_info_after_validator_function(cls._from_mapping, mapping),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda value: {"fr": value.fr, "en": value.en}))

    @staticmethod
    def _as_mapping(data: Any) -> Any:
        if isinstance(data, str):
            return {"fr": data}
        if isinstance(data, Bilingual):
            return {"fr": data.fr, "en": data.en}
        return data

    @classmethod
    def _from_mapping(cls, data: dict[str, str | None]) -> LocalizedText:
        return cls(str(data["fr"]), data.get("en"))


class CheckDefaults(StrictModel):
    """Defaults applied to every check that does not set its own value."""

    #: how often a check runs (the 5 minutes of the status page)
    interval: Duration = 300.0
    #: hard deadline of one run; a hung target is abandoned and the run counts as failed
    timeout: Duration = 10.0
    #: consecutive failing runs before a check is declared failing (damping)
    confirm: int = Field(default=2, ge=1, le=100)
    #: delay before re-running a check after a failing run, while it is not yet confirmed
    retry_interval: Duration = 30.0


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


class ListenerLimits(StrictModel):
    """What one client may hold of the listener: time, connections, memory (see
    docs/operations.md, "Limits of the listener")."""

    #: a connection must send a whole request head this soon after it opens (or after
    #: its first byte, on a kept-alive connection); otherwise it is answered 408 and closed
    head_timeout: Duration = 10.0
    #: a request's whole body must arrive this soon after its head; otherwise 408
    body_timeout: Duration = 30.0
    #: a kept-alive connection with no request is closed after this
    keepalive_timeout: Duration = 15.0
    #: open connections at once; the next ones are answered 503 and closed
    max_connections: int = Field(default=1024, ge=1, le=1_000_000)
    #: open connections at once from one address (an IPv6 /64 counts as one address;
    #: ``server.trusted_proxy`` is not counted: behind a proxy, limit clients there)
    max_connections_per_address: int = Field(default=64, ge=1, le=1_000_000)
    #: largest request body in bytes, where ``server.paths`` gives no other; a larger
    #: ``Content-Length`` is answered 413 before anything is read
    max_body: int = Field(default=64 * 1024, ge=0, le=1 << 30)
    #: bytes of request bodies held in memory at once, all connections together; a body
    #: that does not fit is answered 503
    body_memory: int = Field(default=32 * 1024 * 1024, ge=1024, le=1 << 34)
    #: file descriptors kept free for the checks, the database and the alerts: below this
    #: many free, the listener stops accepting connections until some close. Default:
    #: ``scheduler.concurrency`` + 64; ``0`` turns the reserve off
    descriptor_reserve: int | None = Field(default=None, ge=0, le=1_000_000)


class PathSettings(StrictModel):
    """Settings of the requests under one path prefix."""

    #: largest request body in bytes under this prefix (default: ``server.limits.max_body``)
    max_body: int | None = Field(default=None, ge=0, le=1 << 30)
    #: worker threads of its own for this prefix, so its slow requests (password hashing
    #: at login) never hold the threads of the others (default: the shared ``threads``)
    threads: int | None = Field(default=None, ge=1, le=256)


#: the admin area: forms and API bodies up to 1 MiB, logins on threads of their own
DEFAULT_PATHS = {"/admin": PathSettings(max_body=1024 * 1024, threads=4)}


class ServerSettings(StrictModel):
    """The HTTP listener for ``/metrics``, the dashboard and plugin routes."""

    #: ``host:port`` to listen on (``0.0.0.0:8080`` for every interface; keep it local
    #: behind a reverse proxy)
    listen: str = "127.0.0.1:8080"
    #: HTTP worker threads (scrapes, status page, push receivers)
    threads: int = Field(default=8, ge=1, le=256)
    #: ``vigie``: Vigie's own listener (aiohttp's server parts; the fast one, with every
    #: limit of ``limits`` and ``paths``); ``waitress``: the same pages served by waitress,
    #: which honours ``threads``, the proxy settings, ``limits.max_body``,
    #: ``limits.max_connections`` and ``limits.keepalive_timeout`` only (see
    #: docs/configuration.md)
    engine: Literal["vigie", "waitress"] = "vigie"
    #: address of the reverse proxy in front of Vigie (``127.0.0.1`` for nginx on the same
    #: machine), whose ``X-Forwarded-*`` headers are then believed: visitors' real
    #: addresses (logs, login limits) and ``https`` (the ``Secure`` cookie). ``*`` trusts
    #: every peer: only when nothing but the proxy can reach the listener. Unset: those
    #: headers are ignored
    trusted_proxy: str | None = None
    #: the headers believed from ``trusted_proxy`` (``forwarded`` alone, or
    #: ``x-forwarded-for``, ``-proto``, ``-host``, ``-port``, ``-by``)
    trusted_proxy_headers: list[str] = ["x-forwarded-for", "x-forwarded-proto",
                                        "x-forwarded-host"]
    #: timeouts, connection caps and body sizes of the listener
    limits: ListenerLimits = ListenerLimits()
    #: settings by path prefix (``/admin`` covers ``/admin`` and everything under it; the
    #: longest prefix wins). Giving ``paths`` replaces the default, so keep ``/admin`` in it
    paths: dict[str, PathSettings] = DEFAULT_PATHS

    @field_validator("paths")
    @classmethod
    def _path_prefixes(cls, value: dict[str, PathSettings]) -> dict[str, PathSettings]:
        out = {}
        for prefix, settings in value.items():
            if not prefix.startswith("/") or "?" in prefix or "#" in prefix:
                raise ValueError(f"a path prefix starts with / (e.g. /admin), got {prefix!r}")
            out["/" + prefix.strip("/")] = settings
        return out

    @model_validator(mode="after")
    def _bodies_fit_in_memory(self) -> ServerSettings:
        sizes = {"limits.max_body": self.limits.max_body}
        sizes.update((f"paths.{prefix}.max_body", p.max_body)
                     for prefix, p in self.paths.items() if p.max_body is not None)
        key, largest = max(sizes.items(), key=lambda item: item[1])
        if largest > self.limits.body_memory:
            raise ValueError(f"limits.body_memory ({self.limits.body_memory} bytes) is smaller "
                             f"than {key} ({largest} bytes): such a body could never be "
                             "read; raise limits.body_memory")
        return self

    @field_validator("trusted_proxy")
    @classmethod
    def _proxy_address(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "*":
            return None if value is None else "*"
        try:
            # waitress compares it with the peer's address as text: normalise it
            return str(ipaddress.ip_address(value.strip().strip("[]")))
        except ValueError:
            raise ValueError("expected the proxy's IP address (e.g. 127.0.0.1) or *") from None

    @field_validator("trusted_proxy_headers")
    @classmethod
    def _proxy_headers(cls, value: list[str]) -> list[str]:
        headers = list(dict.fromkeys(h.strip().lower() for h in value))
        unknown = [h for h in headers if h not in PROXY_HEADERS]
        if unknown:
            raise ValueError(f"unknown header {unknown[0]!r} (one of: "
                             f"{', '.join(PROXY_HEADERS)})")
        if not headers:
            raise ValueError("give at least one header (e.g. x-forwarded-for)")
        if "forwarded" in headers and len(headers) > 1:
            raise ValueError("forwarded and the x-forwarded-* headers cannot be trusted "
                             "together: choose one kind")
        return headers

    def proxy_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`monitor.web.WebServer` (and waitress) for the
        reverse proxy: empty when no proxy is trusted."""
        if self.trusted_proxy is None:
            return {}
        return {"trusted_proxy": self.trusted_proxy,
                "trusted_proxy_headers": set(self.trusted_proxy_headers)}

    def listener_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`monitor.web.make_listener`: the engine, the proxy,
        the limits and the path settings."""
        return {"engine": self.engine, "limits": self.limits, "paths": self.paths,
                **self.proxy_options()}

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"expected host:port, e.g. 127.0.0.1:8080, got {value!r}")
        return value

    @property
    def host(self) -> str:
        """Host part of ``listen`` (brackets of an IPv6 address removed)."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """Port part of ``listen``."""
        return int(self.listen.rpartition(":")[2])


class PluginSettings(StrictModel):
    """Which plugins to leave out."""

    #: names of plugins (their entry-point names, see ``vigie probes``) not to load
    blocked: list[str] = []


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


class GroupConfig(StrictModel):
    """A group of services on the status page (e.g. "Hébergement")."""

    #: identifier used by ``services[].group`` (lower-case letters, digits, ``-``, ``_``)
    id: str = Field(pattern=IDENT)
    #: the group's title on the status page
    name: LocalizedText


class CheckConfig(StrictModel):
    """One check as written in the file; kind-specific keys sit beside the common ones."""

    model_config = StrictModel.model_config | {"extra": "allow"}

    #: identifier, unique within the service (in metrics and URLs)
    id: str = Field(pattern=IDENT)
    #: the probe kind (``vigie probes`` lists them); its own keys sit beside these
    kind: str
    #: the check's name on the status page (default: its id)
    name: LocalizedText | None = None
    #: overrides ``defaults.interval``
    interval: Duration | None = None
    #: overrides ``defaults.timeout``
    timeout: Duration | None = None
    #: overrides ``defaults.confirm``
    confirm: int | None = Field(default=None, ge=1, le=100)
    #: overrides ``defaults.retry_interval``
    retry_interval: Duration | None = None
    #: false: the check is kept in the file but never run
    enabled: bool = True

    def options(self) -> dict[str, Any]:
        """The kind-specific keys (everything that is not a common key)."""
        return dict(self.model_extra or {})


class ServiceConfig(StrictModel):
    """A service members see, with the checks that decide its status."""

    #: identifier (in metrics, URLs and the database; changing it starts a new history)
    id: str = Field(pattern=IDENT)
    #: the service's name on the status page
    name: LocalizedText
    #: id of its group in ``groups``
    group: str | None = None
    #: one sentence under the name on the status page
    description: LocalizedText | None = None
    #: what is probed; the service's status is derived from these
    checks: list[CheckConfig] = Field(min_length=1)

    @field_validator("checks")
    @classmethod
    def _unique_checks(cls, checks: list[CheckConfig]) -> list[CheckConfig]:
        seen: set[str] = set()
        for check in checks:
            if check.id in seen:
                raise ValueError(f"check id {check.id!r} is used twice in this service")
            seen.add(check.id)
        return checks


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


class MaintenanceConfig(StrictModel):
    """A maintenance window written in the configuration file.

    One-off: ``start`` and ``end`` (or ``duration``). Recurring: one of ``weekly``,
    ``monthly``, ``daily``, ``cron`` or ``rrule``, with ``at`` (time of day, except for
    cron) and ``duration``. Scope: ``services``, or ``group``, or ``all: true``. Times are
    wall-clock times in ``timezone`` (default: the site's).
    """

    id: str = Field(pattern=IDENT)
    title: LocalizedText
    message: LocalizedText | None = None
    services: list[str] = []
    group: str | None = None
    all_services: bool = Field(default=False, alias="all")
    start: str | None = None
    end: str | None = None
    duration: Duration | None = None
    weekly: str | list[str] | None = None
    monthly: str | int | None = None
    daily: bool = False
    cron: str | None = None
    rrule: str | None = None
    at: str | None = None
    timezone: str | None = None
    announce_before: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _dates_as_text(cls, data: Any) -> Any:
        # YAML reads an unquoted 2026-04-05 22:00 as a datetime: take it as text again
        if isinstance(data, dict):
            data = {k: (v.isoformat(" ") if hasattr(v, "isoformat") and k in ("start", "end")
                        else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _coherent(self) -> MaintenanceConfig:
        from monitor.incidents.recurrence import (
            RuleError,
            build_rule,
            check_rule,
            parse_datetime,
        )

        scopes = sum((bool(self.services), self.group is not None, self.all_services))
        if scopes != 1:
            raise ValueError("give exactly one of services, group or all: true")
        tz = self.timezone or "UTC"
        try:
            start = parse_datetime(self.start, tz) if self.start else None
            end = parse_datetime(self.end, tz) if self.end else None
            if self.recurring:
                rule = build_rule(weekly=self.weekly, monthly=self.monthly, daily=self.daily,
                                  cron=self.cron, rrule=self.rrule, at=self.at)
                if self.duration is None:
                    raise ValueError("a recurring window needs a duration (e.g. 2h)")
                if end is not None:
                    raise ValueError("a recurring window takes a duration, not an end")
                # at most once an hour, each occurrence over before the next one
                check_rule(rule, self.duration, start, tz)
            else:
                if start is None:
                    raise ValueError("give start (and end or duration), or a recurrence "
                                     "(weekly, monthly, daily, cron, rrule)")
                if (end is None) == (self.duration is None):
                    raise ValueError("give either end or duration")
                if end is not None and end <= start:
                    raise ValueError("end must be after start")
                if self.at is not None:
                    raise ValueError("'at' applies to recurring windows only")
        except RuleError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def recurring(self) -> bool:
        """Has a recurrence."""
        return any(v not in (None, [], "", False) for v in (
            self.weekly, self.monthly, self.daily, self.cron, self.rrule))


class FileConfig(StrictModel):
    """The whole configuration file."""

    site: SiteSettings = SiteSettings()
    #: folder for the SQLite database and caches, relative to the configuration file
    data_dir: str = "data"
    defaults: CheckDefaults = CheckDefaults()
    scheduler: SchedulerSettings = SchedulerSettings()
    store: StoreSettings = StoreSettings()
    server: ServerSettings = ServerSettings()
    plugins: PluginSettings = PluginSettings()
    #: keys given to every check of a probe kind that does not set its own, by kind
    #: (``probes: {http: {fast_client: false}}``): how to probe, said once for the whole
    #: file. The keys are the kind's own (see its page under docs/probes/)
    probes: dict[str, dict[str, Any]] = {}
    groups: list[GroupConfig] = []
    services: list[ServiceConfig] = []
    incidents: IncidentSettings = IncidentSettings()
    maintenance: list[MaintenanceConfig] = []

    @model_validator(mode="after")
    def _references(self) -> FileConfig:
        group_ids = [g.id for g in self.groups]
        if len(set(group_ids)) != len(group_ids):
            raise ValueError("a group id is used twice")
        seen: set[str] = set()
        for service in self.services:
            if service.id in seen:
                raise ValueError(f"service id {service.id!r} is used twice")
            seen.add(service.id)
        # what maintenance windows name is checked by monitor.config_loader on the raw
        # data, each problem at its key, whatever else is wrong in the file
        return self


@dataclass(frozen=True, slots=True)
class Check:
    """A check with every default resolved and its options validated by its probe kind."""

    ref: CheckRef
    name: LocalizedText
    interval: float
    timeout: float
    confirm: int
    retry_interval: float
    options: ProbeConfig
    enabled: bool = True

    @property
    def key(self) -> str:
        """``service/check``, unique in a configuration."""
        return self.ref.key


@dataclass(frozen=True, slots=True)
class Service:
    """A service with its resolved checks."""

    id: str
    name: LocalizedText
    group: str | None
    description: LocalizedText | None
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class Config:
    """The validated configuration: settings plus resolved services and checks."""

    path: Path
    #: the file's settings; its ``services`` list is left empty once resolved (the
    #: services and checks are :attr:`services`)
    file: FileConfig
    services: tuple[Service, ...]
    #: plugin-owned top-level sections (validated models), None when absent from the file
    sections: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def checks(self) -> list[Check]:
        """Every check of every service, in file order."""
        return [c for s in self.services for c in s.checks]

    @property
    def data_dir(self) -> Path:
        """The data directory, relative paths taken from the config file's folder."""
        path = Path(self.file.data_dir)
        return path if path.is_absolute() else (self.path.parent / path)

    @property
    def database_url(self) -> str:
        """The store's SQLAlchemy URL (the SQLite default lives in the data directory).

        A plain string, password included, for connecting: never log it (``Store.safe_url``
        is the printable form).
        """
        url = self.file.store.url
        return str(url) if url else f"sqlite:///{self.data_dir.resolve() / 'vigie.sqlite'}"

    def service(self, service_id: str) -> Service | None:
        """The service with this id, or None."""
        return next((s for s in self.services if s.id == service_id), None)
