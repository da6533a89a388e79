"""Prometheus metrics of incidents, maintenance and the outbox, read at scrape time.

Registered by the runtime beside the core collector. Nothing here touches the database:
the numbers come from what the ticker and the worker last saw (every ~15 s). On a node of
a cluster, the gauges of what the leader alone watches (open incidents, maintenance, the
outbox's backlog, the engine's pending changes) are exported by the leader only; the
deliveries counter by every node (each counts its own: sum them).

- ``vigie_incidents_open`` — unresolved incidents;
- ``vigie_maintenance_active{service}`` — 1 while a window covers the service;
- ``vigie_maintenance_windows_refused`` — windows skipped because their stored rule is
  refused (see :mod:`monitor.incidents.maintenance`);
- ``vigie_outbox_deliveries_total{plugin,result}`` — delivery attempts by outcome
  (``delivered``, ``retry_later``, ``failed``, ``dead``);
- ``vigie_outbox_backlog`` — pending deliveries;
- ``vigie_outbox_oldest_pending_age_seconds`` — age of the oldest pending one (0: none);
- ``vigie_outbox_dead_letters`` — dead-lettered deliveries waiting for a volunteer;
- ``vigie_incident_changes_pending`` — status changes waiting for the database (live);
- ``vigie_incident_changes_dropped_total`` — changes dropped because too many waited.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from monitor.incidents.system import IncidentSystem

METRICS = (
    "vigie_incidents_open", "vigie_maintenance_active", "vigie_maintenance_windows_refused",
    "vigie_outbox_deliveries_total",
    "vigie_outbox_backlog", "vigie_outbox_oldest_pending_age_seconds",
    "vigie_outbox_dead_letters", "vigie_incident_changes_pending",
    "vigie_incident_changes_dropped_total",
)


class IncidentCollector(Collector):
    """Exports the state of an :class:`~monitor.incidents.system.IncidentSystem`."""

    def __init__(self, system: IncidentSystem) -> None:
        self.system = system

    def collect(self) -> Iterator[Metric]:
        """The families listed in the module docstring."""
        system = self.system
        deliveries = CounterMetricFamily(
            "vigie_outbox_deliveries", "Outbox delivery attempts by plugin and result.",
            labels=["plugin", "result"])
        for (plugin, result), count in sorted(dict(system.stats.deliveries).items()):
            deliveries.add_metric([plugin, result], count)
        if not system.runtime.is_leader():
            yield deliveries  # the rest is the leader's to say
            return
        yield GaugeMetricFamily("vigie_incidents_open", "Incidents not resolved yet.",
                                value=system.open_incidents)
        active = GaugeMetricFamily("vigie_maintenance_active",
                                   "1 while a maintenance window covers the service.",
                                   labels=["service"])
        in_maintenance = set(system.in_maintenance)
        for service_id in list(system.runtime.state.services):
            active.add_metric([service_id], 1.0 if service_id in in_maintenance else 0.0)
        yield active
        yield GaugeMetricFamily("vigie_maintenance_windows_refused",
                                "Maintenance windows skipped: their stored rule is refused "
                                "(see /admin/maintenance).", value=system.refused_windows)
        yield deliveries
        backlog = system.stats.backlog
        yield GaugeMetricFamily("vigie_outbox_backlog", "Deliveries waiting in the outbox.",
                                value=backlog.pending)
        age = time.time() - backlog.oldest_pending_at if backlog.oldest_pending_at else 0.0
        yield GaugeMetricFamily("vigie_outbox_oldest_pending_age_seconds",
                                "Age of the oldest pending delivery (0 when none).",
                                value=max(0.0, age))
        yield GaugeMetricFamily("vigie_outbox_dead_letters",
                                "Dead-lettered deliveries (retry them from the admin area).",
                                value=backlog.dead)
        engine = system.engine
        yield GaugeMetricFamily("vigie_incident_changes_pending",
                                "Service status changes waiting for the database.",
                                value=engine.pending)
        yield CounterMetricFamily("vigie_incident_changes_dropped",
                                  "Status changes dropped: too many waited for the database.",
                                  value=engine.dropped)
