"""Prometheus metrics of the locations, read at scrape time from the
:class:`~monitor.locations.book.LocationBook` (nothing is updated per result).

Registered by the runtime beside the core collector; empty for a configuration whose
checks all run on the server alone:

- ``vigie_check_location_status{service,check,location}`` — each location's confirmed
  (damped) status of a check run from several locations, numbered as
  ``vigie_check_status`` (3 also before its first judgement); the check's own
  ``vigie_check_status`` is the consensus;
- ``vigie_check_location_last_run_timestamp_seconds{service,check,location}`` — when the
  last result from that location started;
- ``vigie_check_locations_failing{service,check}`` — reachable locations confirmed down
  or degraded (above 0 with the check up: a partial failure);
- ``vigie_location_reachable{location}`` — 1 while the location counts in the consensus,
  0 once silent for ``locations.silent_after`` (always 1 for the server's own);
- ``vigie_location_last_result_timestamp_seconds{location}`` — when a result from that
  remote location was last received (the server's clock); absent before the first.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.locations.book import LocationBook
from monitor.probe import Status

#: the families of :class:`LocationCollector`
LOCATION_METRICS = frozenset({
    "vigie_check_location_status", "vigie_check_location_last_run_timestamp_seconds",
    "vigie_check_locations_failing", "vigie_location_reachable",
    "vigie_location_last_result_timestamp_seconds",
})


class LocationCollector(Collector):
    """Exports :data:`LOCATION_METRICS` from a :class:`LocationBook`."""

    def __init__(self, book: LocationBook,
                 owned: Callable[[], Collection[str]] | None = None) -> None:
        self.book = book
        #: the checks whose series this process exports (a cluster's node: those it
        #: owns, whose locations' states it keeps); None: every check
        self.owned = owned

    def collect(self) -> Iterator[Metric]:
        """The families listed in the module docstring."""
        grid = self.book.grid()
        status = GaugeMetricFamily(
            "vigie_check_location_status",
            "Confirmed status of the check at one of its locations, after that location's "
            "damping: 0 up, 1 degraded, 2 down, 3 unknown (or not judged yet), 4 "
            "maintenance.", labels=["service", "check", "location"])
        last_run = GaugeMetricFamily(
            "vigie_check_location_last_run_timestamp_seconds",
            "Unix time the last run of the check at this location started.",
            labels=["service", "check", "location"])
        failing = GaugeMetricFamily(
            "vigie_check_locations_failing",
            "Reachable locations where the check is confirmed down or degraded.",
            labels=["service", "check"])
        owned = self.owned() if self.owned is not None else None
        for row in grid.checks:
            if owned is not None and row.key not in owned:
                continue
            for cell in row.cells:
                labels = [row.service_id, row.check_id, cell.location]
                status.add_metric(labels, float(
                    Status.UNKNOWN if cell.status is None else cell.status))
                if cell.last_at is not None:
                    last_run.add_metric(labels, cell.last_at)
            failing.add_metric([row.service_id, row.check_id],
                               sum(1 for c in row.cells if c.reachable and c.failing))
        reachable = GaugeMetricFamily(
            "vigie_location_reachable",
            "1 while the location counts in its checks' consensus, 0 once it has sent no "
            "result for locations.silent_after.", labels=["location"])
        heard = GaugeMetricFamily(
            "vigie_location_last_result_timestamp_seconds",
            "Unix time a result from this remote location was last received.",
            labels=["location"])
        for place in grid.locations:
            reachable.add_metric([place.name], 1.0 if place.reachable else 0.0)
            if place.last_result_at is not None:
                heard.add_metric([place.name], place.last_result_at)
        yield from (status, last_run, failing, reachable, heard)
