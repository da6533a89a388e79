"""Keeping one plugin object per enabled endpoint registered, as the table says.

:class:`EndpointRegistry` reads the enabled endpoints and registers a
:class:`~monitor.webhooks.plugin.WebhookPlugin` under ``webhook-<id>`` for each one not
registered yet, unregisters those disabled or removed, and gives a changed one (a rotated
secret, a new filter) its new row. Registering and unregistering go through functions that
make the durable hooks' subscribers follow (``IncidentContext.refresh_subscribers``): in
``vigie run``, the runtime's ``add_plugin``/``remove_plugin``; elsewhere (the command
line, a dashboard on its own, which write events but deliver nothing),
:func:`writer_registry`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.webhooks.models import WebhookEndpoint, plugin_name
from monitor.webhooks.plugin import Endpoint, Sender, WebhookPlugin

if TYPE_CHECKING:
    import pluggy

    from monitor.incidents.context import IncidentContext

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reading:
    """The enabled endpoints, and how many there are in each state."""

    enabled: tuple[Endpoint, ...]
    counts: dict[str, int]


def read(session: Session) -> Reading:
    """The table as the registry needs it."""
    rows = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
                           .order_by(WebhookEndpoint.id))
    enabled = tuple(Endpoint.of(r) for r in rows)
    by_state = dict(session.execute(select(WebhookEndpoint.enabled, func.count())
                                    .group_by(WebhookEndpoint.enabled)).all())
    return Reading(enabled, {"enabled": by_state.get(True, 0),
                             "disabled": by_state.get(False, 0)})


class EndpointRegistry:
    """The registered plugin objects of the endpoints.

    :param add: ``add(plugin, name)`` registers a plugin object (and the subscribers follow).
    :param remove: ``remove(name)`` unregisters it.
    :param sender: what delivers (None where nothing is delivered).
    """

    def __init__(self, add: Callable[[object, str], Any], remove: Callable[[str], Any],
                 sender: Sender | None = None) -> None:
        self.add = add
        self.remove = remove
        self.sender = sender
        #: endpoint id → its registered plugin
        self.plugins: dict[int, WebhookPlugin] = {}
        #: endpoints by state (``enabled``, ``disabled``) at the last :meth:`apply`
        self.counts = {"enabled": 0, "disabled": 0}

    def apply(self, reading: Reading) -> None:
        """Register, update and unregister plugins so that exactly the enabled endpoints
        have one (call it on the thread that owns the plugin manager's changes: the
        event loop in ``vigie run``)."""
        wanted = {e.id: e for e in reading.enabled}
        for endpoint_id in [i for i in self.plugins if i not in wanted]:
            self.drop(endpoint_id)
        for endpoint_id, endpoint in wanted.items():
            plugin = self.plugins.get(endpoint_id)
            if plugin is None:
                plugin = WebhookPlugin(endpoint, self.sender)
                self.add(plugin, plugin_name(endpoint_id))
                self.plugins[endpoint_id] = plugin
                log.info("webhooks: delivering to endpoint %d", endpoint_id)
            elif plugin.endpoint != endpoint:
                plugin.endpoint = endpoint  # a new secret or filter: from the next delivery
        self.counts = dict(reading.counts)

    def sync(self, session: Session) -> None:
        """Read the table and :meth:`apply` it."""
        self.apply(read(session))

    def drop(self, endpoint_id: int) -> None:
        """Unregister the plugin of one endpoint (disabled, removed)."""
        if self.plugins.pop(endpoint_id, None) is not None:
            self.remove(plugin_name(endpoint_id))
            log.info("webhooks: no longer delivering to endpoint %d", endpoint_id)


def writer_registry(pm: pluggy.PluginManager, ctx: IncidentContext) -> EndpointRegistry:
    """A registry for a process that writes events but delivers none (the command line,
    a dashboard on its own): its plugins only make the outbox rows; ``vigie run``
    delivers them."""
    def add(plugin: object, name: str) -> None:
        pm.register(plugin, name=name)
        ctx.refresh_subscribers()

    def remove(name: str) -> None:
        found = pm.get_plugin(name)
        if found is not None:
            pm.unregister(found)
            ctx.refresh_subscribers()

    return EndpointRegistry(add, remove)
