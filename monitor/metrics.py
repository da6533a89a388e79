"""Prometheus metrics: the live state of Vigie, read at scrape time.

:func:`build_registry` returns a registry holding one :class:`VigieCollector`. The
collector reads the runtime's live objects (state book, scheduler and writer counters,
plugin hook failures) when Prometheus scrapes; nothing is updated on the hot path of a
check run. :func:`render` gives the text exposition.

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
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from importlib import metadata
from operator import attrgetter, itemgetter
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from monitor import availability
from monitor.connections import ListenerStats
from monitor.probe import CheckRef, Probe, SampleSpec, Status
from monitor.shortage import SOURCES, Shortage
from monitor.state import CheckState, ServiceStatus, StateBook
from monitor.stats import SchedulerStats, WriterStats

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""Content type of :func:`render`'s output (the Prometheus text format 0.0.4)."""

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
#: families of the HTTP listener and of Vigie's own resources (:class:`ListenerCollector`)
LISTENER_METRICS = frozenset({
    "vigie_http_connections", "vigie_http_connections_refused_total",
    "vigie_http_timeouts_total", "vigie_http_requests_refused_total",
    "vigie_http_request_body_bytes", "vigie_http_request_body_spooled_bytes_total",
    "vigie_http_accept_paused",
    "vigie_http_accept_pauses_total", "vigie_resource_shortages_total",
})
#: every name a probe's sample or info may not take
RESERVED_METRICS = CORE_METRICS | LISTENER_METRICS
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


class VigieRegistry(CollectorRegistry):
    """A registry that remembers its collectors in order, so :func:`render` can let a
    collector write its own (faster) exposition."""

    def __init__(self) -> None:
        super().__init__()
        self.collectors: list[Collector] = []

    def register(self, collector: Collector) -> None:
        """Register ``collector`` (as :class:`CollectorRegistry` does) and remember it."""
        super().register(collector)
        self.collectors.append(collector)

    def unregister(self, collector: Collector) -> None:
        """Unregister ``collector`` and forget it."""
        super().unregister(collector)
        self.collectors.remove(collector)


def build_registry(view: MetricsView, process: bool = True) -> VigieRegistry:
    """A fresh registry exporting ``view`` (plus the standard ``process_*`` metrics).

    :param process: also export the process collector (memory, CPU, open files).
    """
    registry = VigieRegistry()
    registry.register(VigieCollector(view))
    if process:
        ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format (see :data:`CONTENT_TYPE`).

    The output is the one ``prometheus_client.generate_latest`` gives; a
    :class:`VigieCollector` writes its per-check families directly, which is several
    times faster with thousands of checks and holds little more memory than the output.
    """
    if not isinstance(registry, VigieRegistry):
        return generate_latest(registry)
    out = io.BytesIO()  # its getvalue() hands its buffer over: the output is not copied
    for chunk in render_chunks(registry):
        out.write(chunk)
    return out.getvalue()


def render_chunks(registry: CollectorRegistry) -> Iterator[bytes]:
    """:func:`render`'s output in pieces of at most a few hundred KB, made as they are
    asked for: a server sending each piece before asking for the next never holds the
    whole exposition (tens of MB at 100,000 checks: docs/performance.md)."""
    if not isinstance(registry, VigieRegistry):
        yield generate_latest(registry)
        return
    for collector in list(registry.collectors):
        chunks = getattr(collector, "chunks", None)
        if chunks is not None:
            yield from chunks()
        else:
            yield generate_latest(collector)


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


_FORMATTED = {0.0: "0.0", 1.0: "1.0", 2.0: "2.0", 3.0: "3.0", 4.0: "4.0"}


def _go_float(value: float) -> str:
    """``floatToGoString`` for a float, without its checks on the common path."""
    text = repr(value)
    if "n" in text:  # inf, nan
        return floatToGoString(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


#: lines joined and encoded together while writing the exposition (a few hundred KB)
_BATCH = 2048


class _Rows:
    """A per-check gauge family kept as plain rows.

    It becomes a ``prometheus_client`` family for :meth:`VigieCollector.collect`, or is
    written straight to text by :meth:`write`, byte for byte what ``generate_latest``
    would write, without its per-sample objects (the bulk of a large scrape). Values are
    kept in an ``array`` (8 bytes each, no float object per row) and each row's labels
    are the caller's own object: a tuple of label values, or (``by_ref``, for labels among
    service, check and kind) the check's :class:`~monitor.probe.CheckRef` itself, so a
    scrape of 100,000 checks allocates next to nothing per row but its output.
    """

    __slots__ = ("_order", "_pick", "_template", "_values", "help", "labelnames", "labels",
                 "name", "values")

    def __init__(self, name: str, help_text: str, labelnames: Iterable[str],
                 by_ref: bool = False) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self.labels: list[Any] = []
        self.values = array("d")
        # generate_latest writes labels sorted by name
        self._order = tuple(sorted(range(len(self.labelnames)), key=self.labelnames.__getitem__))
        # the label values of a row, in declared order (for prometheus_client) and in the
        # written order, each as a tuple made in one C call
        if by_ref:
            fields = [_REF_FIELDS[label] for label in self.labelnames]
            self._values = _getter(attrgetter, fields)
            self._pick = _getter(attrgetter, [fields[i] for i in self._order])
        else:
            self._values = tuple
            self._pick = _getter(itemgetter, list(self._order))
        inner = ",".join(f'{self.labelnames[i]}="%s"' for i in self._order)
        self._template = f"{name}{{{inner}}} " if inner else f"{name} "

    def add(self, labels: Any, value: float) -> None:
        """Add one series: ``labels`` is the tuple of label values, or the CheckRef."""
        self.labels.append(labels)
        self.values.append(value)

    @property
    def rows(self) -> Iterator[tuple[tuple[str, ...], float]]:
        """Every ``(label values, value)``."""
        values_of = self._values
        return ((values_of(labels), value) for labels, value in zip(self.labels, self.values))

    def metric(self) -> GaugeMetricFamily:
        """The family as a ``prometheus_client`` metric."""
        family = GaugeMetricFamily(self.name, self.help, labels=self.labelnames)
        for values, value in self.rows:
            family.add_metric(values, value)
        return family

    def chunks(self, escaped: _Escaped) -> Iterator[bytes]:
        """The family in the text format, :data:`_BATCH` lines at a time; ``escaped`` maps
        label values to their escaped form."""
        name, pick, template = self.name, self._pick, self._template
        escape, formatted = escaped.__getitem__, _FORMATTED.get
        batch = [f"# HELP {name} {_escape_help(self.help)}\n# TYPE {name} gauge\n"]
        append = batch.append
        for values, value in zip(self.labels, self.values):
            line = template % tuple(map(escape, pick(values)))
            append(f"{line}{formatted(value) or _go_float(value)}\n")
            if len(batch) >= _BATCH:
                yield "".join(batch).encode()
                batch.clear()
        yield "".join(batch).encode()


#: CheckRef attribute of each per-check label
_REF_FIELDS = {"service": "service_id", "check": "check_id", "kind": "kind"}


def _getter(kind: type, keys: list[Any]) -> Any:
    """``kind(*keys)`` that always returns a tuple (itemgetter and attrgetter return the
    bare value for one key)."""
    if len(keys) > 1:
        return kind(*keys)
    if keys:
        single = kind(keys[0])
        return lambda obj: (single(obj),)
    return lambda _obj: ()


class _Escaped(dict):
    """Label value → its escaped form, filled on first sight.

    Label values are few and repeat (service and check ids, kinds, versions): each is
    escaped once, not once per series and scrape. Cleared past :data:`_ESCAPED_LIMIT`.
    """

    def __missing__(self, value: str) -> str:
        if len(self) >= _ESCAPED_LIMIT:
            self.clear()
        self[value] = escaped = _escape_value(value)
        return escaped


#: distinct label values remembered by :class:`_Escaped`
_ESCAPED_LIMIT = 50_000


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class _Listed(Collector):
    """Families already built, as a collector (to hand them to ``generate_latest``)."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        """The families given at construction."""
        return self.metrics


class VigieCollector(Collector):
    """Exports checks, services, scheduler, writer and plugin health from a :class:`MetricsView`."""

    def __init__(self, view: MetricsView) -> None:
        self.view = view
        self._warned: set[str] = set()
        self._escaped = _Escaped()

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
        yield generate_latest(_Listed(list(self._global_families(len(checks)))))

    def _row_families(self, checks: list[CheckState]) -> list[_Rows]:
        # the families with one series per check or per service, written by _Rows.text
        return [*self._check_rows(checks), *self._sample_rows(checks),
                *self._info_rows(checks), *self._service_rows(self.view.state)]

    def _global_families(self, configured: int) -> Iterator[Metric]:
        view = self.view
        yield from self._scheduler_families(view.scheduler_stats, configured)
        yield from self._writer_families(view.writer_stats)
        yield self._hook_failures()
        yield self._build_info()

    # Checks ---------------------------------------------------------------------------

    def _check_rows(self, checks: list[CheckState]) -> list[_Rows]:
        up = _Rows("vigie_check_up", "1 when the check's confirmed status is up, else 0.",
                   _CHECK_LABELS, by_ref=True)
        status = _Rows(
            "vigie_check_status",
            "Confirmed status of the check after damping: 0 up, 1 degraded, 2 down, "
            "3 unknown (or not judged yet), 4 maintenance announced by the target.",
            _CHECK_LABELS, by_ref=True)
        duration = _Rows("vigie_check_duration_seconds", "Duration of the check's last run.",
                         _CHECK_LABELS, by_ref=True)
        last_run = _Rows("vigie_check_last_run_timestamp_seconds",
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

    def _sample_rows(self, checks: list[CheckState]) -> list[_Rows]:
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

    def _sample_plan(self) -> tuple[dict[str, _Rows], dict[str, list[SampleSpec]]]:
        """One gauge family per declared sample name, and the specs each kind may fill.

        Two kinds may declare the same sample (e.g. a certificate expiry) if they agree
        on its label. A name that is invalid or taken by the core is left out with a
        warning, and so is a declaration whose label differs from the one of the first
        kind (in alphabetical order) declaring that name.
        """
        families: dict[str, _Rows] = {}
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
                    families[spec.name] = _Rows(name, spec.help, labels,
                                                by_ref=spec.label is None)
                    labels_of[spec.name] = (kind, spec.label)
                by_kind.setdefault(kind, []).append(spec)
        return families, by_kind

    def _info_rows(self, checks: list[CheckState]) -> list[_Rows]:
        plans: dict[str, tuple[_Rows, tuple[str, ...]]] = {}
        taken = set(RESERVED_METRICS)
        for kind, probe_class in sorted(self.view.probe_kinds.items()):
            keys = tuple(k for k in getattr(probe_class, "info_keys", ())
                         if _valid_label(k) and k not in ("service", "check"))
            name = f"{PREFIX}{_NOT_NAME_CHAR.sub('_', kind)}_info"
            if not keys or name in taken:
                continue
            taken.add(name)
            plans[kind] = (_Rows(
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

    def _service_rows(self, state: StateBook) -> list[_Rows]:
        status = _Rows(
            "vigie_service_status",
            "Derived status of the service, one series per possible status: 1 for the "
            "current one, 0 for the others.", ("service", "group", "status"))
        up = _Rows("vigie_service_up",
                   "1 when the service is usable (operational or degraded), else 0.",
                   ("service",))
        available = _Rows(
            "vigie_service_availability_ratio",
            "Share of the current status counted as available, as the status page counts "
            "it (1 operational or degraded, 0.7 partial outage, 0 major outage); no sample "
            "while not counted (maintenance, unknown), so avg_over_time gives the page's "
            "availability over a range.", ("service",))
        maintenance = _Rows("vigie_service_maintenance",
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



class ListenerCollector(Collector):
    """Exports the HTTP listener's counters (:class:`~monitor.connections.ListenerStats`)
    and Vigie's resource shortages (:class:`~monitor.shortage.Shortage`)."""

    def __init__(self, stats: ListenerStats, shortage: Shortage) -> None:
        self.stats = stats
        self.shortage = shortage

    def collect(self) -> Iterator[Metric]:
        """The families of :data:`LISTENER_METRICS`."""
        stats = self.stats
        yield _gauge("vigie_http_connections", "Connections open on the HTTP listener.",
                     stats.open)
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
        yield _gauge("vigie_http_request_body_bytes",
                     "Bytes of request bodies held in memory now.", stats.body_bytes)
        yield CounterMetricFamily("vigie_http_request_body_spooled_bytes",
                                  "Bytes of request bodies written to a temporary file "
                                  "instead of memory (uploads).", value=stats.spooled_bytes)
        yield _gauge("vigie_http_accept_paused",
                     "1 while the listener accepts no connection: free file descriptors "
                     "are under the reserve kept for the checks.",
                     1.0 if stats.accept_paused else 0.0)
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
