"""The Prometheus text exposition, written by hand where it counts.

:func:`render` gives a registry's text exposition (what ``generate_latest`` writes,
byte for byte: ``tests/monitor/test_metrics.py`` compares the two), and
:func:`render_chunks` the same in pieces. A collector of a :class:`VigieRegistry` that has
a ``chunks()`` method writes its own text: :class:`Rows` keeps a per-check family as plain
rows and writes them without ``prometheus_client``'s per-sample objects, the bulk of a
large scrape. What is exported is :mod:`monitor.metrics`' job.
"""

from __future__ import annotations

import io
from array import array
from collections.abc import Iterable, Iterator
from operator import attrgetter, itemgetter
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""Content type of :func:`render`'s output (the Prometheus text format 0.0.4)."""


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


class Rows:
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

    def chunks(self, escaped: Escaped) -> Iterator[bytes]:
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


class Escaped(dict):
    """Label value → its escaped form, filled on first sight.

    Label values are few and repeat (service and check ids, kinds, versions): each is
    escaped once, not once per series and scrape. Cleared past :data:`_ESCAPED_LIMIT`.
    """

    def __missing__(self, value: str) -> str:
        if len(self) >= _ESCAPED_LIMIT:
            self.clear()
        self[value] = escaped = _escape_value(value)
        return escaped


#: distinct label values remembered by :class:`Escaped`
_ESCAPED_LIMIT = 50_000


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class Listed(Collector):
    """Families already built, as a collector (to hand them to ``generate_latest``)."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        """The families given at construction."""
        return self.metrics
