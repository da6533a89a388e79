"""The configuration file: its schema and the resolved objects the rest of Vigie uses.

The YAML file is read by :mod:`monitor.config_loader`, which reports errors with file,
line and key. This module is the configuration's facade: it holds the whole file's model
(:class:`FileConfig`) and the validated configuration (:class:`Config`), and offers every
name of the schema, defined by job in:

- :mod:`monitor.config_types`: an identifier (:data:`IDENT`) and a member-facing text
  (:class:`LocalizedText`);
- :mod:`monitor.config_services`: ``groups``, ``services``, ``defaults`` (in one place:
  :class:`CheckDefaults`) and the frozen :class:`Check` and :class:`Service` objects
  they are resolved into;
- :mod:`monitor.config_server`: the ``server`` section (the listener and its limits);
- :mod:`monitor.config_settings`: ``site``, ``scheduler``, ``store``, ``plugins`` and
  ``incidents``;
- :mod:`monitor.config_maintenance`: the ``maintenance`` windows;
- :mod:`monitor.config_locations`: the ``locations`` checks run from.

Import them from here (``from monitor.config import Check``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import model_validator

from monitor.config_locations import LocationConfig, LocationSettings
from monitor.config_maintenance import MaintenanceConfig
from monitor.config_server import (
    DEFAULT_PATHS,
    PROXY_HEADERS,
    ListenerLimits,
    PathSettings,
    ServerSettings,
)
from monitor.config_services import (
    Check,
    CheckConfig,
    CheckDefaults,
    GroupConfig,
    Service,
    ServiceConfig,
)
from monitor.config_settings import (
    IncidentSettings,
    OptionalDuration,
    OutboxSettings,
    PluginSettings,
    SchedulerSettings,
    SiteSettings,
    StoreSettings,
)
from monitor.config_types import IDENT, LocalizedText
from monitor.schema import StrictModel

__all__ = [
    "DEFAULT_PATHS", "IDENT", "PROXY_HEADERS", "Check", "CheckConfig", "CheckDefaults",
    "Config", "FileConfig", "GroupConfig", "IncidentSettings", "ListenerLimits",
    "LocalizedText", "LocationConfig", "LocationSettings", "MaintenanceConfig",
    "OptionalDuration", "OutboxSettings", "PathSettings", "PluginSettings",
    "SchedulerSettings", "Service", "ServiceConfig", "ServerSettings", "SiteSettings",
    "StoreSettings",
]


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
    locations: LocationSettings = LocationSettings()

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
