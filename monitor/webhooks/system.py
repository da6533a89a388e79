"""Signed webhooks inside ``vigie run``.

:class:`WebhookSystem` (held by the runtime) keeps the endpoints' plugin objects in line
with the table (at start, before the incident engine writes its first event, then every
``webhooks.refresh_every``), counts each endpoint's failed deliveries in a row, and
disables an endpoint at ``webhooks.disable_after``: the endpoint is marked disabled
(audited as Vigie's own change), its plugin unregistered, and volunteers get a
``webhook.disabled`` system alert (through the outbox, like every system alert). It also
exports ``vigie_webhook_endpoints{state}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import update

from monitor.incidents.emit import emit_system_alert
from monitor.notifications import SystemAlert
from monitor.webhooks import registry as endpoints
from monitor.webhooks.models import REASON_LENGTH, WebhookEndpoint
from monitor.webhooks.plugin import Sender
from monitor.webhooks.service import WebhookOperations
from monitor.webhooks.settings import settings_of
from monitor.words import _

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.incidents.context import IncidentContext
    from monitor.runtime import Runtime
    from monitor.store import Store

log = logging.getLogger(__name__)


def disabled_alert(endpoint_id: int, name: str, failures: int, error: str,
                   at: float) -> SystemAlert:
    """The ``webhook.disabled`` alert (no address, no secret: the name and number)."""
    title = _("Webhook “{name}” disabled", name=name)
    message = _("Vigie stopped sending events to the webhook “{name}” (number {id}) after "
                "{count} failed deliveries in a row. Last error: {error}. Once the receiver "
                "works again, enable it in the volunteers' area (Webhooks) or with “vigie "
                "webhook enable {id}”; its failed deliveries can be retried from there.",
                name=name, id=endpoint_id, count=failures, error=error)
    return SystemAlert.worded("webhook.disabled", f"webhook.disabled:{endpoint_id}:{int(at)}",
                              "warning", title, message, at,
                              details={"endpoint": str(endpoint_id),
                                       "failures": str(failures)})


class WebhookCollector(Collector):
    """``vigie_webhook_endpoints{state}``: endpoints enabled and disabled."""

    def __init__(self, registry: endpoints.EndpointRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        """The one family."""
        family = GaugeMetricFamily("vigie_webhook_endpoints",
                                   "Webhook endpoints by state (enabled, disabled).",
                                   labels=["state"])
        for state in ("enabled", "disabled"):
            family.add_metric([state], self.registry.counts.get(state, 0))
        yield family


class WebhookSystem:
    """The webhooks of one running Vigie (:meth:`for_runtime`); a test builds one from
    the parts.

    :param add_plugin: registers a plugin object, the subscribers following (the
        runtime's ``add_plugin``).
    :param remove_plugin: unregisters one (the runtime's ``remove_plugin``).
    :param wake: wakes the outbox worker (a ``webhook.disabled`` alert was written).
    :param store_ready: whether the database has been prepared.
    """

    def __init__(self, config: Config, store: Store, ctx: IncidentContext, *,
                 add_plugin: Callable[[object, str], Any], remove_plugin: Callable[[str], Any],
                 wake: Callable[[], None] = lambda: None,
                 store_ready: Callable[[], bool] = lambda: True,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.ctx = ctx
        self.wake = wake
        self.store_ready = store_ready
        self.settings = settings_of(config)
        self.ops = WebhookOperations(self.settings, clock)
        self.clock = clock
        self.sender = Sender(self.settings, succeeded=self._succeeded, failed=self._failed,
                             disabled=self._disabled)
        self.registry = endpoints.EndpointRegistry(add_plugin, remove_plugin, self.sender)

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> WebhookSystem:
        """The system of ``vigie run``, exporting its gauge."""
        system = cls(runtime.config, runtime.store, runtime.incidents.ctx,
                     add_plugin=runtime.add_plugin, remove_plugin=runtime.remove_plugin,
                     wake=runtime.incidents.worker.wake,
                     store_ready=lambda: runtime.store_ready)
        runtime.metrics_registry.register(WebhookCollector(system.registry))
        return system

    # Following the table ----------------------------------------------------------------

    async def sync_once(self) -> bool:
        """Read the endpoints and register, update or unregister their plugins; False
        (logged) when the database could not be read."""
        try:
            reading = await asyncio.to_thread(self._read)
        except Exception:
            log.warning("webhooks: cannot read the endpoints (database?); will retry",
                        exc_info=True)
            return False
        self.registry.apply(reading)
        return True

    def _read(self) -> endpoints.Reading:
        with self.store.session() as session:
            return endpoints.read(session)

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The background coroutine: following the table."""
        return [self._follow()]

    async def _follow(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.settings.refresh_every)
                if self.store_ready():
                    await self.sync_once()
        finally:
            await self.sender.aclose()

    # Counting failures ------------------------------------------------------------------

    def _succeeded(self, endpoint_id: int) -> None:
        with self.store.write_session() as session, session.begin():
            session.execute(update(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.consecutive_failures != 0)
                .values(consecutive_failures=0))

    def _failed(self, endpoint_id: int, error: str) -> bool:
        """Count one failure; disable the endpoint (and write the alert) at the limit.
        True when it was disabled now."""
        now = self.clock()
        with self.store.write_session() as session, session.begin():
            session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                            .values(consecutive_failures=WebhookEndpoint.consecutive_failures
                                    + 1))
            row = session.get(WebhookEndpoint, endpoint_id)
            if row is None or not row.enabled:
                return False
            failures = row.consecutive_failures
            if failures < self.settings.disable_after:
                return False
            reason = f"{failures} failed deliveries in a row; last: {error}"[:REASON_LENGTH]
            self.ops.disable_endpoint(session, endpoint_id, reason=reason)
            emit_system_alert(session, self.ctx,
                              disabled_alert(endpoint_id, row.name, failures, error[:300], now),
                              at=now)
        log.warning("webhooks: endpoint %d disabled after %d failed deliveries in a row",
                    endpoint_id, failures)
        return True

    def _disabled(self, endpoint_id: int) -> None:
        self.registry.drop(endpoint_id)
        self.wake()  # the alert is waiting
