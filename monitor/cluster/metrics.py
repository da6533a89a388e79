"""Prometheus metrics of a node of the cluster, read at scrape time (no database query).

Registered by the runtime beside the core collector when ``cluster.enabled``; every node
exports its own view, so the rules take the ``max`` across targets (never the sum) for
what all nodes see alike:

- ``vigie_cluster_nodes`` — live nodes, as this node last saw them;
- ``vigie_cluster_leader`` — 1 on the leader, 0 elsewhere (the sum over nodes is the
  number of leaders: 1, or 0 during a hand-over);
- ``vigie_cluster_fencing_epoch`` — the lease's epoch as last seen (grows at each change
  of leader);
- ``vigie_cluster_checks_owned`` — the checks this node runs (the sum over nodes is the
  number of checks).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: the families of :class:`ClusterCollector`
CLUSTER_METRICS = frozenset({
    "vigie_cluster_nodes", "vigie_cluster_leader", "vigie_cluster_fencing_epoch",
    "vigie_cluster_checks_owned",
})


class ClusterView(Protocol):
    """What the collector reads (:class:`monitor.cluster.node.ClusterNode` has it)."""

    @property
    def live(self) -> tuple[str, ...]: ...

    @property
    def leader(self) -> bool: ...

    @property
    def fencing_epoch(self) -> int: ...

    @property
    def checks_owned(self) -> int: ...


class ClusterCollector(Collector):
    """Exports :data:`CLUSTER_METRICS` from a :class:`ClusterView`."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        """The families listed in the module docstring."""
        view = self.view
        yield GaugeMetricFamily("vigie_cluster_nodes",
                                "Live nodes of the cluster, as this node last saw them.",
                                value=len(view.live))
        yield GaugeMetricFamily("vigie_cluster_leader",
                                "1 when this node leads the cluster, else 0.",
                                value=1.0 if view.leader else 0.0)
        yield GaugeMetricFamily("vigie_cluster_fencing_epoch",
                                "Epoch of the leader's lease as last seen; grows at each "
                                "change of leader.", value=view.fencing_epoch)
        yield GaugeMetricFamily("vigie_cluster_checks_owned",
                                "Checks this node runs (the others' run elsewhere).",
                                value=view.checks_owned)
