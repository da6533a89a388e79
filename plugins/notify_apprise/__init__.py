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

from monitor.notifications import IncidentEvent, MaintenanceEvent, SystemAlert
from monitor.plugins import hookimpl
from plugins.notify_apprise.settings import NotifierSettings

if TYPE_CHECKING:
    from plugins.notify_apprise.notifier import DeliveryFailed, Notifier

__all__ = ["DeliveryFailed", "Notifier", "NotifierSettings", "current"]

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


class _State:
    """The notifier of the running Vigie (pluggy registers this module, so the hook
    functions find it here); None when alerts are not configured."""

    notifier: Notifier | None = None


def current() -> Notifier | None:
    """The running notifier, or None before start-up or without a ``notifications:``
    section."""
    return _State.notifier


@hookimpl
def vigie_register_config_sections() -> dict[str, type]:
    """The ``notifications:`` section."""
    return {"notifications": NotifierSettings}


@hookimpl
async def vigie_startup(runtime: Any) -> None:
    """Build the receivers from the loaded configuration; messages read the live service
    states (``runtime.state``) when they are written."""
    settings = runtime.config.sections.get("notifications")
    if settings is None:
        _State.notifier = None
        return
    from plugins.notify_apprise.notifier import Notifier

    # reading an Apprise config file is blocking I/O
    _State.notifier = await asyncio.to_thread(Notifier.from_config, settings, runtime.config,
                                              states=runtime.state)


@hookimpl
async def vigie_shutdown(runtime: Any) -> None:
    """Let a grouped alert being sent finish, then forget the notifier."""
    notifier, _State.notifier = _State.notifier, None
    if notifier is not None:
        await notifier.aclose()


async def _deliver(event: IncidentEvent | MaintenanceEvent | SystemAlert) -> None:
    notifier = _State.notifier
    if notifier is not None:
        await notifier.deliver(event)


@hookimpl
async def vigie_incident_opened(event: IncidentEvent) -> None:
    """Alert the volunteers routed to this incident (grouped during a storm)."""
    await _deliver(event)


@hookimpl
async def vigie_incident_updated(event: IncidentEvent) -> None:
    """Tell of an update or, for ``kind == "reminder"``, that the incident is still open."""
    await _deliver(event)


@hookimpl
async def vigie_incident_resolved(event: IncidentEvent) -> None:
    """Tell everyone who heard of the incident that it is over."""
    await _deliver(event)


@hookimpl
async def vigie_maintenance_changed(event: MaintenanceEvent) -> None:
    """Tell of a maintenance window announced, started or ended."""
    await _deliver(event)


@hookimpl
async def vigie_system_alert(alert: SystemAlert) -> None:
    """Tell of trouble in Vigie itself or an early warning (a certificate expiring)."""
    await _deliver(alert)
