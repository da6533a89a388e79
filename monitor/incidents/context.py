"""What incident operations need to know besides the database: who listens, where the
status page is, the settings, the clock.

One :class:`IncidentContext` is built per process (``vigie run``, the dashboard, the CLI)
from the configuration and the plugin manager; it holds no connection and is thread-safe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.config import IncidentSettings

if TYPE_CHECKING:
    import pluggy

    from monitor.config import Config
    from monitor.notifications import IncidentEvent, Link

log = logging.getLogger(__name__)

#: the durable hooks, delivered by the outbox worker
DURABLE_HOOKS = ("vigie_incident_opened", "vigie_incident_updated", "vigie_incident_resolved",
                 "vigie_maintenance_changed", "vigie_system_alert")


@dataclass
class IncidentContext:
    """Settings and collaborators of incident, maintenance and outbox operations.

    :param subscribers: durable hook name → names of the plugins implementing it (one
        outbox row is written per name).
    :param plugins: the plugin manager ``vigie_incident_links`` is called through.
    :param link_providers: names of the plugins implementing ``vigie_incident_links``.
    :param status_of: live status label of a service (the runtime's state book), or None
        to read the latest stored status.
    :param announce_planned: plugins told of a maintenance window as soon as it is
        planned or moved: an ``announced`` event for its next occurrence, whatever the
        window's ``announce_before`` (members' mail).
    :param reminders_before: plugin → seconds before each occurrence of a window when it
        gets a ``reminder`` event (members' mail).
    """

    settings: IncidentSettings = field(default_factory=IncidentSettings)
    subscribers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    plugins: pluggy.PluginManager | None = None
    link_providers: tuple[str, ...] = ()
    public_url: str | None = None
    timezone: str = "Europe/Paris"
    status_of: Callable[[str], str | None] | None = None
    clock: Callable[[], float] = time.time
    announce_planned: tuple[str, ...] = ()
    reminders_before: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, config: Config, pm: pluggy.PluginManager | None = None,
              **overrides: Any) -> IncidentContext:
        """The context for ``config`` with the subscribers found in ``pm``."""
        from monitor.plugins import implementers

        subscribers: dict[str, tuple[str, ...]] = {}
        providers: tuple[str, ...] = ()
        if pm is not None:
            for hook in DURABLE_HOOKS:
                subscribers[hook] = tuple(implementers(pm, hook))
            providers = tuple(implementers(pm, "vigie_incident_links"))
        site = config.file.site
        values: dict[str, Any] = {
            "settings": config.file.incidents, "subscribers": subscribers,
            "plugins": pm, "link_providers": providers,
            "public_url": site.public_url.rstrip("/") if site.public_url else None,
            "timezone": site.timezone,
        }
        values.update(overrides)
        return cls(**values)

    def now(self) -> float:
        """The current Unix time (tests replace the clock)."""
        return self.clock()

    def incident_url(self, incident_id: int) -> str | None:
        """Public address of an incident's page (``<public_url>/incidents/<id>``)."""
        return f"{self.public_url}/incidents/{incident_id}" if self.public_url else None

    def provide_links(self, event: IncidentEvent) -> list[Link]:
        """Links from ``vigie_incident_links`` (guides), each stamped with its plugin.

        A provider that raises is logged and skipped: links are a help, never a reason
        not to open an incident.
        """
        import dataclasses

        from monitor.notifications import Link
        from monitor.plugins import call_each

        out: list[Link] = []
        if self.plugins is None:
            return out
        for plugin, found in call_each(self.plugins, "vigie_incident_links", {"event": event}):
            for link in found:
                if isinstance(link, Link):
                    out.append(dataclasses.replace(link, plugin=link.plugin or plugin))
        return out
