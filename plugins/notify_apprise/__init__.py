"""Alerts to volunteers through Apprise (mail, Matrix, XMPP, webhooks…).

Configured by the ``notifications:`` section (:class:`~.settings.NotifierSettings`); when
the section is absent the plugin stays silent. Incident, maintenance and system events
arrive from the outbox through the durable hooks; each is formatted in French (and
English when configured), routed by service, group, severity and event to tagged
receivers, and grouped when several services go down together. See ``docs/alerts.md``.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any

from monitor.api import IncidentEvent, MaintenanceEvent, SystemAlert, hookimpl
from plugins.notify_apprise.routing import event_name
from plugins.notify_apprise.settings import EVENT_NAMES, NotifierSettings

if TYPE_CHECKING:
    from monitor.api import StartupContext
    from plugins.notify_apprise.notifier import DeliveryFailed, Notifier

__all__ = ["ApprisePlugin", "DeliveryFailed", "Notifier", "NotifierSettings", "plugin"]

#: names read from the notifier module on first use (PEP 562): it imports Apprise, which
#: a Vigie without a ``notifications:`` section never needs
_FROM_NOTIFIER = ("DeliveryFailed", "Notifier")


def __getattr__(name: str) -> Any:
    if name in _FROM_NOTIFIER:
        module = importlib.import_module("plugins.notify_apprise.notifier")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ApprisePlugin:
    """The plugin (the ``apprise`` entry point is :data:`plugin`): it holds the notifier
    of the Vigie it was started in, None before start-up or when alerts are not
    configured. A test registers a fresh instance of its own."""

    def __init__(self) -> None:
        self.notifier: Notifier | None = None

    @hookimpl
    def vigie_register_config_sections(self) -> dict[str, type]:
        """The ``notifications:`` section."""
        return {"notifications": NotifierSettings}

    @hookimpl
    async def vigie_startup(self, ctx: StartupContext) -> None:
        """Build the receivers from the loaded configuration; messages read the live
        service states (``ctx.state``) when they are written."""
        settings = ctx.config.sections.get("notifications")
        if settings is None:
            self.notifier = None
            return
        from plugins.notify_apprise.notifier import Notifier

        # reading an Apprise config file is blocking I/O
        self.notifier = await asyncio.to_thread(Notifier.from_config, settings, ctx.config,
                                                states=ctx.state)

    @hookimpl
    async def vigie_shutdown(self, ctx: StartupContext) -> None:
        """Let a grouped alert being sent finish, then forget the notifier."""
        notifier, self.notifier = self.notifier, None
        if notifier is not None:
            await notifier.aclose()

    async def _deliver(self, event: IncidentEvent | MaintenanceEvent | SystemAlert) -> None:
        notifier = self.notifier
        if notifier is not None:
            await notifier.deliver(event)

    @hookimpl
    async def vigie_incident_opened(self, event: IncidentEvent) -> None:
        """Alert the volunteers routed to this incident (grouped during a storm)."""
        await self._deliver(event)

    @hookimpl
    async def vigie_incident_updated(self, event: IncidentEvent) -> None:
        """Tell of an update or, for ``kind == "reminder"``, that the incident is still
        open."""
        await self._deliver(event)

    @hookimpl
    async def vigie_incident_resolved(self, event: IncidentEvent) -> None:
        """Tell everyone who heard of the incident that it is over."""
        await self._deliver(event)

    @hookimpl
    async def vigie_maintenance_changed(self, event: MaintenanceEvent) -> None:
        """Tell of a maintenance window announced, started, ended or cancelled."""
        await self._deliver(event)

    def accepts_event(self, event: IncidentEvent | MaintenanceEvent) -> bool:
        """The events the notifier has words for (read by ``IncidentContext.wants``
        before an outbox row is written): every kind it knows, ``maintenance.cancelled``
        included; a kind added to Vigie later is not written for it until it learns it."""
        return event_name(event) in EVENT_NAMES

    @hookimpl
    async def vigie_system_alert(self, alert: SystemAlert) -> None:
        """Tell of trouble in Vigie itself or an early warning (a certificate expiring)."""
        await self._deliver(alert)


#: the instance the ``apprise`` entry point registers
plugin = ApprisePlugin()
