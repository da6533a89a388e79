"""The configuration file: its schema and the resolved objects the rest of Vigie uses.

The YAML file is read by :mod:`monitor.config_loader`, which reports errors with file,
line and key. This module holds the models and the defaults (in one place:
:class:`CheckDefaults`) and turns the validated file into frozen :class:`Check` and
:class:`Service` objects.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from monitor.probe import CheckRef, ProbeConfig
from monitor.schema import Duration, StrictModel

IDENT = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_IDENT_RE = re.compile(IDENT)


class LocalizedText(StrictModel):
    """A member-facing text in French (required) and English (optional).

    In the file it is either a plain string (French) or ``{fr: ..., en: ...}``.
    """

    fr: str = Field(min_length=1, max_length=200)
    en: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"fr": data} if isinstance(data, str) else data

    def text(self, lang: str = "fr") -> str:
        """The text in ``lang``, French when no translation exists."""
        return self.en if lang == "en" and self.en else self.fr


class CheckDefaults(StrictModel):
    """Defaults applied to every check that does not set its own value."""

    interval: Duration = 300.0
    timeout: Duration = 10.0
    confirm: int = Field(default=2, ge=1, le=100)
    retry_interval: Duration = 30.0


class SchedulerSettings(StrictModel):
    """How checks are run."""

    #: checks running at the same time (a fixed pool of workers)
    concurrency: int = Field(default=256, ge=1, le=100_000)
    #: spread first runs over each check's interval (off: all run at start)
    spread_first_runs: bool = True


class StoreSettings(StrictModel):
    """Where results, rollups and incidents are kept."""

    #: SQLAlchemy URL; default: SQLite file ``vigie.sqlite`` in the data directory
    url: str | None = None
    retention: Duration = 30 * 86400.0
    batch_size: int = Field(default=500, ge=1, le=100_000)
    flush_interval: Duration = 2.0
    #: results kept in memory while the database is unreachable (oldest dropped first)
    buffer_limit: int = Field(default=100_000, ge=100, le=10_000_000)


class ServerSettings(StrictModel):
    """The HTTP listener for ``/metrics``, the dashboard and plugin routes."""

    listen: str = "127.0.0.1:8080"
    threads: int = Field(default=8, ge=1, le=256)

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

    blocked: list[str] = []


class SiteSettings(StrictModel):
    """What the status page says about the cooperative itself."""

    title: LocalizedText = LocalizedText(fr="État des services", en="Service status")
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

    id: str = Field(pattern=IDENT)
    name: LocalizedText


class CheckConfig(StrictModel):
    """One check as written in the file; kind-specific keys sit beside the common ones."""

    model_config = StrictModel.model_config | {"extra": "allow"}

    id: str = Field(pattern=IDENT)
    kind: str
    name: LocalizedText | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    confirm: int | None = Field(default=None, ge=1, le=100)
    retry_interval: Duration | None = None
    enabled: bool = True

    def options(self) -> dict[str, Any]:
        """The kind-specific keys (everything that is not a common key)."""
        return dict(self.model_extra or {})


class ServiceConfig(StrictModel):
    """A service members see, with the checks that decide its status."""

    id: str = Field(pattern=IDENT)
    name: LocalizedText
    group: str | None = None
    description: LocalizedText | None = None
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


class FileConfig(StrictModel):
    """The whole configuration file."""

    site: SiteSettings = SiteSettings()
    data_dir: str = "data"
    defaults: CheckDefaults = CheckDefaults()
    scheduler: SchedulerSettings = SchedulerSettings()
    store: StoreSettings = StoreSettings()
    server: ServerSettings = ServerSettings()
    plugins: PluginSettings = PluginSettings()
    groups: list[GroupConfig] = []
    services: list[ServiceConfig] = []

    @model_validator(mode="after")
    def _references(self) -> "FileConfig":
        group_ids = [g.id for g in self.groups]
        if len(set(group_ids)) != len(group_ids):
            raise ValueError("a group id is used twice")
        seen: set[str] = set()
        for service in self.services:
            if service.id in seen:
                raise ValueError(f"service id {service.id!r} is used twice")
            seen.add(service.id)
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
        """The store's SQLAlchemy URL (the SQLite default lives in the data directory)."""
        return self.file.store.url or f"sqlite:///{self.data_dir.resolve() / 'vigie.sqlite'}"

    def service(self, service_id: str) -> Service | None:
        """The service with this id, or None."""
        return next((s for s in self.services if s.id == service_id), None)
