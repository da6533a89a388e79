"""The agents' metrics, read at scrape time from :class:`~monitor.agents.health.AgentHealth`:

- ``vigie_agent_last_batch_age_seconds{location,agent}`` — seconds since the agent's
  last accepted batch (absent for a token that never sent one);
- ``vigie_agent_buffered_results{location,agent}`` — results the agent still held then;
- ``vigie_agent_dropped_results_total{location,agent}`` — results it had to drop (its
  spool full), as it counts them;
- ``vigie_agent_batches_refused_total{reason}`` — pushes refused by this process.

``agent`` is the token's name (chosen by a volunteer), never the token. Revoked tokens
have no series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.agents.errors import CODES
from monitor.agents.health import AgentHealth

#: the families :class:`AgentCollector` exports
AGENT_METRICS = frozenset({
    "vigie_agent_last_batch_age_seconds", "vigie_agent_buffered_results",
    "vigie_agent_dropped_results_total", "vigie_agent_batches_refused_total",
})
#: the refusals of a push (the others answer requests that push nothing)
PUSH_REFUSALS = tuple(c for c in CODES if c not in ("method_not_allowed", "not_found"))


class AgentCollector(Collector):
    """Exports :data:`AGENT_METRICS` from ``health``; ``clock`` gives the server's time."""

    def __init__(self, health: AgentHealth, clock: Callable[[], float] = time.time) -> None:
        self.health = health
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        """The four families."""
        now = self.clock()
        labels = ["location", "agent"]
        age = GaugeMetricFamily("vigie_agent_last_batch_age_seconds",
                                "Seconds since the agent's last accepted batch.",
                                labels=labels)
        buffered = GaugeMetricFamily("vigie_agent_buffered_results",
                                     "Results the agent still held at its last batch.",
                                     labels=labels)
        dropped = CounterMetricFamily("vigie_agent_dropped_results",
                                      "Results the agent dropped because its spool was full "
                                      "(as the agent counts them).", labels=labels)
        for news in self.health.agents():
            values = [news.location, news.name]
            if news.last_batch_at is not None:
                age.add_metric(values, max(0.0, now - news.last_batch_at))
            buffered.add_metric(values, news.buffered)
            dropped.add_metric(values, news.dropped)
        refused = CounterMetricFamily("vigie_agent_batches_refused",
                                      "Agent pushes refused, by reason.", labels=["reason"])
        counts = self.health.refused_counts()
        for code in PUSH_REFUSALS:
            refused.add_metric([code], counts.get(code, 0))
        yield from (age, buffered, dropped, refused)


__all__ = ["AGENT_METRICS", "AgentCollector"]
