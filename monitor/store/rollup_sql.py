"""The aggregations behind the daily rollups, done by the database.

For one day and one slice of services, :func:`check_counts` gives one row per check (run
counts by status), :func:`latency_percentiles` the p50/p95 of the answered runs per check
or per service. Python receives a few rows per check, never one per result, so a pass's
memory follows the number of checks, not of results.

Percentiles are exactly those of :func:`monitor.store.rollups.percentile` (linear
interpolation between closest ranks) on both engines:

- PostgreSQL: ``percentile_cont`` computes ``lo + (hi - lo) * frac`` with ``lo``, ``hi``
  the values at ranks ``floor((n - 1) q)`` and the next one: the same operations, so the
  same double;
- SQLite: ``row_number()`` and ``count(*)`` over the partition keep only the rows at those
  two ranks per quantile, and Python interpolates with the same function.

The joins start from ``checks`` (a slice of services) and reach ``results`` through its
``(check_id, started_at)`` unique index, so a slice reads only its own checks' day.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from monitor.availability import run_weight
from monitor.probe import Status

#: the quantiles stored (latency_p50, latency_p95)
QUANTILES = (0.5, 0.95)

_UP, _DEGRADED, _DOWN = int(Status.UP), int(Status.DEGRADED), int(Status.DOWN)
_UNKNOWN, _MAINTENANCE = int(Status.UNKNOWN), int(Status.MAINTENANCE)
#: runs that got an answer: their latency counts
_ANSWERED = f"({_UP}, {_DEGRADED})"


@dataclass(frozen=True, slots=True)
class CheckCounts:
    """Runs of one check over one day, by status."""

    check_id: int
    service_id: str
    up: int
    degraded: int
    down: int
    unknown: int
    maintenance: int

    @property
    def runs(self) -> int:
        """Results that day."""
        return self.up + self.degraded + self.down + self.unknown + self.maintenance

    def uptime(self) -> float | None:
        """Availability of the day's runs (:func:`monitor.availability.run_weight`):
        ``(up + degraded) / (runs - unknown - maintenance)``; None when none counts."""
        counted = available = 0.0
        for status, runs in ((Status.UP, self.up), (Status.DEGRADED, self.degraded),
                             (Status.DOWN, self.down), (Status.UNKNOWN, self.unknown),
                             (Status.MAINTENANCE, self.maintenance)):
            share = run_weight(status)
            if share is not None:
                counted += runs
                available += share * runs
        return available / counted if counted else None


def _join(dialect: str) -> str:
    # SQLite keeps the order of a CROSS JOIN: checks of the slice first, then their results
    # by index (without it, it may prefer scanning the whole day by started_at per slice)
    if dialect == "sqlite":
        return "checks AS c CROSS JOIN results AS r ON r.check_id = c.id"
    return "checks AS c JOIN results AS r ON r.check_id = c.id"


_WHERE = ("c.service_id >= :first AND c.service_id <= :last "
          "AND r.started_at >= :low AND r.started_at < :high")


def check_counts(conn: Connection, first: str, last: str, low: float, high: float
                 ) -> list[CheckCounts]:
    """Counts per check of the services ``first``..``last`` over ``[low, high)``."""
    sums = ", ".join(f"sum(CASE WHEN r.status = {code} THEN 1 ELSE 0 END)"
                     for code in (_UP, _DEGRADED, _DOWN, _UNKNOWN, _MAINTENANCE))
    query = text(f"SELECT c.id, c.service_id, {sums} FROM {_join(conn.dialect.name)} "
                 f"WHERE {_WHERE} GROUP BY c.id, c.service_id")
    params = {"first": first, "last": last, "low": low, "high": high}
    return [CheckCounts(*row) for row in conn.execute(query, params)]


def latency_percentiles(conn: Connection, by: str, first: str, last: str, low: float,
                        high: float) -> dict[object, tuple[float | None, ...]]:
    """``{check id or service id: (p50, p95)}`` of the answered runs; ``by`` is
    ``"check"`` or ``"service"``. Parts without an answered run are absent."""
    part = {"check": "c.id", "service": "c.service_id"}[by]
    params = {"first": first, "last": last, "low": low, "high": high}
    if conn.dialect.name == "postgresql":
        return _percentiles_postgresql(conn, part, params)
    return _percentiles_by_rank(conn, part, params)


def _percentiles_postgresql(conn: Connection, part: str, params: dict
                            ) -> dict[object, tuple[float | None, ...]]:
    wanted = ", ".join(repr(q) for q in QUANTILES)
    query = text(
        f"SELECT {part}, percentile_cont(ARRAY[{wanted}]::double precision[]) "
        f"WITHIN GROUP (ORDER BY r.duration) FROM {_join('postgresql')} "
        f"WHERE {_WHERE} AND r.status IN {_ANSWERED} GROUP BY {part}")
    return {key: tuple(values) for key, values in conn.execute(query, params)}


def interpolate(n: int, q: float, at: Callable[[int], float]) -> float | None:
    """The ``q`` quantile (0–1) of ``n`` sorted values, ``at(rank)`` giving the value at a
    0-based rank: linear interpolation between closest ranks (numpy's default method).
    Reads only ranks ``floor((n - 1) q)`` and the next one; None when ``n`` is 0."""
    if n == 0:
        return None
    pos = (n - 1) * q
    low = math.floor(pos)
    high = min(low + 1, n - 1)
    return at(low) + (at(high) - at(low)) * (pos - low)


def _percentiles_by_rank(conn: Connection, part: str, params: dict
                         ) -> dict[object, tuple[float | None, ...]]:
    # CAST(... AS INTEGER) truncates, which is floor for these non-negative positions; the
    # products are the same doubles Python computes
    ranks = " OR ".join(f"rk = CAST((n - 1) * {q!r} AS INTEGER) "
                        f"OR rk = CAST((n - 1) * {q!r} AS INTEGER) + 1" for q in QUANTILES)
    query = text(
        f"SELECT part, n, rk, d FROM (SELECT {part} AS part, r.duration AS d, "
        "row_number() OVER w - 1 AS rk, "
        "count(*) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS n "
        f"FROM {_join('sqlite')} WHERE {_WHERE} AND r.status IN {_ANSWERED} "
        f"WINDOW w AS (PARTITION BY {part} ORDER BY r.duration)) WHERE {ranks}")
    picked: dict[object, dict[int, float]] = defaultdict(dict)
    sizes: dict[object, int] = {}
    for key, n, rank, duration in conn.execute(query, params):
        picked[key][rank] = duration
        sizes[key] = n
    return {key: tuple(interpolate(sizes[key], q, values.__getitem__) for q in QUANTILES)
            for key, values in picked.items()}
