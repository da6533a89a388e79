"""Prometheus metrics of the HTTP listener and of Vigie's own resources.

:class:`ListenerCollector` reads the listener's counters
(:class:`~monitor.connections.ListenerStats`) and the resource shortages
(:class:`~monitor.shortage.Shortage`) at scrape time; the runtime registers it beside
:mod:`monitor.metrics`' collector of the checks and services.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.connections import ListenerStats
from monitor.shortage import SOURCES, Shortage


#: families of the HTTP listener and of Vigie's own resources (:class:`ListenerCollector`)
LISTENER_METRICS = frozenset({
    "vigie_http_connections", "vigie_http_connections_refused_total",
    "vigie_http_timeouts_total", "vigie_http_requests_refused_total",
    "vigie_http_request_body_bytes", "vigie_http_request_body_spooled_bytes_total",
    "vigie_http_accept_paused",
    "vigie_http_accept_pauses_total", "vigie_resource_shortages_total",
})


class ListenerCollector(Collector):
    """Exports the HTTP listener's counters (:class:`~monitor.connections.ListenerStats`)
    and Vigie's resource shortages (:class:`~monitor.shortage.Shortage`)."""

    def __init__(self, stats: ListenerStats, shortage: Shortage) -> None:
        self.stats = stats
        self.shortage = shortage

    def collect(self) -> Iterator[Metric]:
        """The families of :data:`LISTENER_METRICS`."""
        stats = self.stats
        yield GaugeMetricFamily("vigie_http_connections",
                                "Connections open on the HTTP listener.", value=stats.open)
        yield _counted("vigie_http_connections_refused",
                       "Connections answered 503 and closed, by cap reached (total or "
                       "per address).", "limit", ("total", "address"), stats.refused)
        yield _counted("vigie_http_timeouts",
                       "Connections closed for sending a request head or body too slowly.",
                       "phase", ("head", "body"), stats.timeouts)
        yield _counted("vigie_http_requests_refused",
                       "Requests refused: head or body too large, or no memory left for "
                       "bodies.", "reason", ("head_too_large", "body_too_large",
                                             "body_memory"), stats.requests_refused)
        yield GaugeMetricFamily("vigie_http_request_body_bytes",
                                "Bytes of request bodies held in memory now.",
                                value=stats.body_bytes)
        yield CounterMetricFamily("vigie_http_request_body_spooled_bytes",
                                  "Bytes of request bodies written to a temporary file "
                                  "instead of memory (uploads).", value=stats.spooled_bytes)
        yield GaugeMetricFamily("vigie_http_accept_paused",
                                "1 while the listener accepts no connection: free file "
                                "descriptors are under the reserve kept for the checks.",
                                value=1.0 if stats.accept_paused else 0.0)
        yield CounterMetricFamily("vigie_http_accept_pauses",
                                  "Times the listener stopped accepting for the reserve.",
                                  value=stats.accept_pauses)
        yield _counted("vigie_resource_shortages",
                       "Times Vigie ran short of a local resource (file descriptors, "
                       "memory): a check run not judged (checks), or the listener not "
                       "accepting (listener).", "source", SOURCES,
                       dict(self.shortage.counts))


def _counted(name: str, help_text: str, label: str, values: Iterable[str],
             counts: Any) -> Metric:
    """A counter family with one series per label value, 0 for those never counted."""
    family = CounterMetricFamily(name, help_text, labels=[label])
    for value in values:
        family.add_metric([value], counts.get(value, 0))
    return family
