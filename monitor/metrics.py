"""Prometheus metrics: the live state of Vigie, read at scrape time.

:func:`build_registry` returns a registry holding one :class:`VigieCollector`. The
collector reads the runtime's live objects (state book, scheduler and writer counters,
plugin hook failures) when Prometheus scrapes; nothing is updated on the hot path of a
check run. :func:`render` (from :mod:`monitor.exposition`, which writes the text) gives
the text exposition. The HTTP listener's own metrics are :mod:`monitor.listener_metrics`'.

Metric names and labels are a contract, listed in ``docs/metrics.md``: labels are bounded
(service, check, kind, status…), never free error text and never a secret. A probe's
numeric samples are exported only when its class declares them (``Probe.samples``), and
its info only for the keys it declares (``Probe.info_keys``).

The collector runs in an HTTP thread while the event loop keeps writing the state: every
shared container is copied in one C-level call (``list(...)``) before it is walked, and
each check's fields are read once, so a scrape never sees a container change under it.
"""

from __future__ import annotations

import io
import logging
import math
import platform
import re
from collections import Counter
from collections.abc import Iterator
from importlib import metadata
from typing import Protocol

from prometheus_client import ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from monitor import availability
# CONTENT_TYPE and render are documented as monitor.metrics' (docs/metrics.md)
from monitor.exposition import CONTENT_TYPE as CONTENT_TYPE
from monitor.exposition import Escaped, Listed, Rows, VigieRegistry
from monitor.exposition import render as render
from monitor.listener_metrics import LISTENER_METRICS
from monitor.locations.metrics import LOCATION_METRICS
from monitor.probe import CheckRef, Probe, SampleSpec, Status
from monitor.state import CheckState, ServiceStatus, StateBook
from monitor.stats import SchedulerStats, WriterStats

log = logging.getLogger(__name__)

PREFIX = "vigie_"
#: quantiles of the recent scheduling lags exported in ``vigie_scheduler_lag_seconds``
LAG_QUANTILES = (0.5, 0.9, 0.99)
#: longest label value taken from a probe's info or sample keys (longer ones are cut)
MAX_LABEL_VALUE = 120

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_NOT_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_]")

#: families the core exports; a probe's sample or info may not take one of these names
CORE_METRICS = frozenset({
    "vigie_check_up", "vigie_check_status", "vigie_check_duration_seconds",
    "vigie_check_last_run_timestamp_seconds", "vigie_check_runs_total",
    "vigie_service_status", "vigie_service_up", "vigie_service_availability_ratio",
    "vigie_service_maintenance",
    "vigie_scheduler_lag_seconds", "vigie_scheduler_last_cycle_timestamp_seconds",
    "vigie_scheduler_cycle_duration_seconds", "vigie_scheduler_cycles_total",
    "vigie_scheduler_queued_checks", "vigie_scheduler_in_flight_checks",
    "vigie_scheduler_workers", "vigie_checks_configured", "vigie_results_written_total",
    "vigie_results_dropped_total", "vigie_results_buffered",
    "vigie_result_write_errors_total", "vigie_store_up",
    "vigie_store_last_write_timestamp_seconds", "vigie_plugin_hook_failures_total",
    "vigie_build_info",
})
#: every name a probe's sample or info may not take
RESERVED_METRICS = CORE_METRICS | LISTENER_METRICS | LOCATION_METRICS
_CHECK_LABELS = ("service", "check", "kind")


class MetricsView(Protocol):
    """What the collector reads; the runtime provides it (any object with these)."""

    state: StateBook
    scheduler_stats: SchedulerStats
    writer_stats: WriterStats
    #: kind -> probe class, for the samples and info keys each kind declares
    probe_kinds: dict[str, type[Probe]]
    #: (plugin, hook) -> failures counted by :func:`monitor.events.fire`
    hook_failures: Counter[tuple[str, str]]


def build_registry(view: MetricsView, process: bool = True) -> VigieRegistry:
    """A fresh registry exporting ``view`` (plus the standard ``process_*`` metrics).

    :param process: also export the process collector (memory, CPU, open files).
    """
    registry = VigieRegistry()
    registry.register(VigieCollector(view))
    if process:
        ProcessCollector(registry=registry)
    return registry


def _version() -> str:
    try:
        return metadata.version("vigie")
    except metadata.PackageNotFoundError:
        return "unknown"


def _cut(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_LABEL_VALUE else text[: MAX_LABEL_VALUE - 1] + "…"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class VigieCollector(Collector):
    """Exports checks, services, scheduler, writer and plugin health from a :class:`MetricsView`."""

    def __init__(self, view: MetricsView) -> None:
        self.view = view
        self._warned: set[str] = set()
        self._escaped = Escaped()

    def collect(self) -> Iterator[Metric]:
        """Every Vigie metric family, read from the view now."""
        checks = list(self.view.state.checks.values())
        for rows in self._row_families(checks):
            yield rows.metric()
        yield from self._global_families(len(checks))

    def expose(self) -> bytes:
        """Every Vigie metric family in the text format."""
        out = io.BytesIO()
        for chunk in self.chunks():
            out.write(chunk)
        return out.getvalue()

    def chunks(self) -> Iterator[bytes]:
        """:meth:`expose`'s text in pieces (what :func:`render_chunks` uses): the families
        are built from the state first (values in arrays), then written a batch of lines
        at a time, so a scrape of 100,000 checks holds little more than the piece sent."""
        checks = list(self.view.state.checks.values())
        for rows in self._row_families(checks):
            yield from rows.chunks(self._escaped)
        yield generate_latest(Listed(list(self._global_families(len(checks)))))

    def _row_families(self, checks: list[CheckState]) -> list[Rows]:
        # the families with one series per check or per service, written by Rows.text
        return [*self._check_rows(checks), *self._sample_rows(checks),
                *self._info_rows(checks), *self._service_rows(self.view.state)]

    def _global_families(self, configured: int) -> Iterator[Metric]:
        view = self.view
        yield from self._scheduler_families(view.scheduler_stats, configured)
        yield from self._writer_families(view.writer_stats)
        yield self._hook_failures()
        yield self._build_info()

    # Checks ---------------------------------------------------------------------------

    def _check_rows(self, checks: list[CheckState]) -> list[Rows]:
        up = Rows("vigie_check_up", "1 when the check's confirmed status is up, else 0.",
                   _CHECK_LABELS, by_ref=True)
        status = Rows(
            "vigie_check_status",
            "Confirmed status of the check after damping: 0 up, 1 degraded, 2 down, "
            "3 unknown (or not judged yet), 4 maintenance announced by the target.",
            _CHECK_LABELS, by_ref=True)
        duration = Rows("vigie_check_duration_seconds", "Duration of the check's last run.",
                         _CHECK_LABELS, by_ref=True)
        last_run = Rows("vigie_check_last_run_timestamp_seconds",
                         "Unix time the check's last run started.", _CHECK_LABELS, by_ref=True)
        for cs in checks:
            ref: CheckRef = cs.check.ref
            confirmed, last = cs.status, cs.last
            up.add(ref, 1.0 if confirmed == Status.UP else 0.0)
            status.add(ref, float(Status.UNKNOWN if confirmed is None else confirmed))
            if last is not None:
                duration.add(ref, float(last.duration))
                last_run.add(ref, float(last.started_at))
        return [up, status, duration, last_run]

    def _sample_rows(self, checks: list[CheckState]) -> list[Rows]:
        families, by_kind = self._sample_plan()
        if not families:
            return []
        for cs in checks:
            ref, last = cs.check.ref, cs.last
            specs = by_kind.get(ref.kind)
            if not specs or last is None or not last.samples:
                continue
            for spec in specs:
                value = last.samples.get(spec.name)
                if value is None:
                    continue
                family = families[spec.name]
                if spec.label is None:
                    if _is_number(value):
                        family.add(ref, float(value))
                elif isinstance(value, dict):
                    for key, number in list(value.items()):
                        if _is_number(number):
                            family.add((ref.service_id, ref.check_id, _cut(key)), float(number))
        return list(families.values())

    def _sample_plan(self) -> tuple[dict[str, Rows], dict[str, list[SampleSpec]]]:
        """One gauge family per declared sample name, and the specs each kind may fill.

        Two kinds may declare the same sample (e.g. a certificate expiry) if they agree
        on its label. A name that is invalid or taken by the core is left out with a
        warning, and so is a declaration whose label differs from the one of the first
        kind (in alphabetical order) declaring that name.
        """
        families: dict[str, Rows] = {}
        labels_of: dict[str, tuple[str, str | None]] = {}  # name -> (first kind, label)
        by_kind: dict[str, list[SampleSpec]] = {}
        for kind, probe_class in sorted(self.view.probe_kinds.items()):
            for spec in getattr(probe_class, "samples", ()):
                name = PREFIX + spec.name
                if not _METRIC_NAME.match(name) or name in RESERVED_METRICS or (
                        spec.label is not None and not _valid_label(spec.label)) or (
                        spec.label in ("service", "check")):
                    self._warn_once(f"{kind}:{spec.name}", "probe kind %s: sample %r cannot be "
                                    "exported (invalid or reserved name or label)", kind, spec.name)
                    continue
                if spec.name in labels_of and labels_of[spec.name][1] != spec.label:
                    first, label = labels_of[spec.name]
                    self._warn_once(f"{kind}:{spec.name}", "probe kind %s: sample %r left out: "
                                    "kind %s declares it with label %r", kind, spec.name,
                                    first, label)
                    continue
                if spec.name not in families:
                    labels = ("service", "check") + ((spec.label,) if spec.label else ())
                    families[spec.name] = Rows(name, spec.help, labels,
                                                by_ref=spec.label is None)
                    labels_of[spec.name] = (kind, spec.label)
                by_kind.setdefault(kind, []).append(spec)
        return families, by_kind

    def _info_rows(self, checks: list[CheckState]) -> list[Rows]:
        plans: dict[str, tuple[Rows, tuple[str, ...]]] = {}
        taken = set(RESERVED_METRICS)
        for kind, probe_class in sorted(self.view.probe_kinds.items()):
            keys = tuple(k for k in getattr(probe_class, "info_keys", ())
                         if _valid_label(k) and k not in ("service", "check"))
            name = f"{PREFIX}{_NOT_NAME_CHAR.sub('_', kind)}_info"
            if not keys or name in taken:
                continue
            taken.add(name)
            plans[kind] = (Rows(
                name, f"Information reported by the last run of each {kind} check "
                "(always 1; the information is in the labels).",
                ("service", "check", *keys)), keys)
        for cs in checks if plans else ():
            ref, last = cs.check.ref, cs.last
            plan = plans.get(ref.kind)
            if plan is None or last is None or not last.info:
                continue
            family, keys = plan
            info = last.info
            if any(k in info for k in keys):
                values = tuple(_cut(info[k]) if k in info else "" for k in keys)
                family.add((ref.service_id, ref.check_id, *values), 1.0)
        return [family for family, _ in plans.values()]

    # Services -------------------------------------------------------------------------

    def _service_rows(self, state: StateBook) -> list[Rows]:
        status = Rows(
            "vigie_service_status",
            "Derived status of the service, one series per possible status: 1 for the "
            "current one, 0 for the others.", ("service", "group", "status"))
        up = Rows("vigie_service_up",
                   "1 when the service is usable (operational or degraded), else 0.",
                   ("service",))
        available = Rows(
            "vigie_service_availability_ratio",
            "Share of the current status counted as available, as the status page counts "
            "it (1 operational or degraded, 0.7 partial outage, 0 major outage); no sample "
            "while not counted (maintenance, unknown), so avg_over_time gives the page's "
            "availability over a range.", ("service",))
        maintenance = Rows("vigie_service_maintenance",
                            "1 while a maintenance window is active.", ("service",))
        usable = (ServiceStatus.OPERATIONAL, ServiceStatus.DEGRADED)
        for service in list(state.services.values()):
            current = service.status or ServiceStatus.UNKNOWN
            group = service.service.group or ""
            for member in ServiceStatus:
                status.add((service.id, group, member.label), 1.0 if member is current else 0.0)
            up.add((service.id,), 1.0 if current in usable else 0.0)
            share = availability.weight(current)
            if share is not None:
                available.add((service.id,), share)
            maintenance.add((service.id,), 1.0 if service.maintenance else 0.0)
        return [status, up, available, maintenance]

    # Scheduler, writer, plugins -------------------------------------------------------

    def _scheduler_families(self, stats: SchedulerStats, configured: int) -> Iterator[Metric]:
        runs = CounterMetricFamily("vigie_check_runs", "Check runs finished, by result.",
                                   labels=["kind", "status"])
        for (kind, status), count in sorted(list(stats.runs.items())):
            runs.add_metric([kind, status], count)
        yield runs
        yield _lag_summary(stats)
        yield _gauge("vigie_scheduler_last_cycle_timestamp_seconds",
                     "Unix time the last cycle completed (every check ran at least once "
                     "since the previous cycle); 0 before the first one.", stats.last_cycle_at)
        yield _gauge("vigie_scheduler_cycle_duration_seconds",
                     "How long the last completed cycle took.", stats.last_cycle_duration)
        yield CounterMetricFamily("vigie_scheduler_cycles", "Cycles completed since start.",
                                  value=stats.cycles)
        yield _gauge("vigie_scheduler_queued_checks",
                     "Checks due and waiting for a free worker.", stats.queued)
        yield _gauge("vigie_scheduler_in_flight_checks", "Check runs in progress.",
                     stats.in_flight)
        yield _gauge("vigie_scheduler_workers", "Size of the pool running checks.",
                     stats.workers)
        yield _gauge("vigie_checks_configured",
                     "Enabled checks in the configuration.", configured)

    def _writer_families(self, stats: WriterStats) -> Iterator[Metric]:
        yield CounterMetricFamily("vigie_results_written", "Results saved to the database.",
                                  value=stats.written)
        yield CounterMetricFamily(
            "vigie_results_dropped",
            "Results dropped because the memory buffer was full while the database was "
            "unreachable.", value=stats.dropped)
        yield _gauge("vigie_results_buffered",
                     "Results waiting in memory to be written.", stats.buffered)
        yield CounterMetricFamily("vigie_result_write_errors",
                                  "Failed attempts to write a batch of results.",
                                  value=stats.write_errors)
        yield _gauge("vigie_store_up", "1 when the last write to the database succeeded.",
                     1.0 if stats.database_up else 0.0)
        yield _gauge("vigie_store_last_write_timestamp_seconds",
                     "Unix time of the last successful write; 0 if none yet.",
                     stats.last_write_at)

    def _hook_failures(self) -> Metric:
        family = CounterMetricFamily(
            "vigie_plugin_hook_failures",
            "Plugin hook implementations that raised, by plugin and hook.",
            labels=["plugin", "hook"])
        for (plugin, hook), count in sorted(list(self.view.hook_failures.items())):
            family.add_metric([_cut(plugin), hook], count)
        return family

    def _build_info(self) -> Metric:
        family = GaugeMetricFamily("vigie_build_info",
                                   "Vigie version and Python version (always 1).",
                                   labels=["version", "python"])
        family.add_metric([_version(), platform.python_version()], 1.0)
        return family

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)


def _valid_label(name: str) -> bool:
    return bool(_LABEL_NAME.match(name)) and not name.startswith("__")


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _lag_summary(stats: SchedulerStats) -> Metric:
    """Scheduling lag: count and sum of every lag since start, quantiles of recent ones."""
    summary = Metric("vigie_scheduler_lag_seconds",
                     "How late check runs started after they were due; quantiles over the "
                     "last 4096 runs, sum and count since start.", "summary")
    recent = sorted(list(stats.recent_lags))
    for q in LAG_QUANTILES:
        summary.add_sample("vigie_scheduler_lag_seconds", {"quantile": floatToGoString(q)},
                           _quantile(recent, q))
    summary.add_sample("vigie_scheduler_lag_seconds_sum", {}, stats.lag_sum)
    summary.add_sample("vigie_scheduler_lag_seconds_count", {}, float(stats.lag_count))
    return summary


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values; NaN when there are none (Prometheus's way)."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
