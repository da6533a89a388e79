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
        outbox row is written per name). Read from ``plugins`` when built; a plugin
        registered or unregistered while Vigie runs (``StartupContext.add_plugin``, a
        webhook endpoint) is followed by :meth:`refresh_subscribers`.
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
        subscribers, providers = _listeners(pm)
        site = config.file.site
        values: dict[str, Any] = {
            "settings": config.file.incidents, "subscribers": subscribers,
            "plugins": pm, "link_providers": providers,
            "public_url": site.public_url.rstrip("/") if site.public_url else None,
            "timezone": site.timezone,
        }
        values.update(overrides)
        return cls(**values)

    def refresh_subscribers(self) -> None:
        """Read the subscribers and link providers again from :attr:`plugins` (a plugin
        was registered or unregistered while running). The maps are replaced whole, so a
        thread writing an event sees either the old ones or the new ones."""
        if self.plugins is None:
            return
        self.subscribers, self.link_providers = _listeners(self.plugins)

    def wants(self, plugin: str, event: Any) -> bool:
        """Whether ``plugin`` wants an outbox row for ``event``: a plugin object may
        define ``accepts_event(event) -> bool`` (a webhook endpoint's filter of event
        types and services); without one, every event of the hooks it implements except
        the maintenance kinds a plugin must ask for
        (:data:`~monitor.notifications.ASKED_FOR_KINDS`: ``cancelled``), which a plugin
        written before them could mistake for another kind."""
        from monitor.notifications import ASKED_FOR_KINDS, MaintenanceEvent

        found = self.plugins.get_plugin(plugin) if self.plugins is not None else None
        accepts = getattr(found, "accepts_event", None)
        if accepts is None or not callable(accepts):
            return not (isinstance(event, MaintenanceEvent) and event.kind in ASKED_FOR_KINDS)
        try:
            return bool(accepts(event))
        except Exception:  # a broken filter must not stop the change being written
            log.exception("plugin %s failed in accepts_event; the event is written for it",
                          plugin)
            return True

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


def _listeners(pm: pluggy.PluginManager | None
               ) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """The subscribers of each durable hook and the link providers of ``pm``."""
    from monitor.plugins import implementers

    if pm is None:
        return {}, ()
    subscribers = {hook: tuple(implementers(pm, hook)) for hook in DURABLE_HOOKS}
    return subscribers, tuple(implementers(pm, "vigie_incident_links"))
