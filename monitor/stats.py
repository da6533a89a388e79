"""Counters the scheduler and the result writer keep for the metrics collector.

Plain mutable dataclasses: one writer each (the event loop for the scheduler, the writer
thread for the store), read at scrape time by :mod:`monitor.metrics`. Reading a slightly
stale value from another thread is fine for metrics.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class SchedulerStats:
    """What the scheduler has done so far."""

    #: runs finished, by (kind, status label)
    runs: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: recent scheduling lags in seconds (how late a run started after it was due)
    recent_lags: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    #: sum and count of every lag, for a summary
    lag_sum: float = 0.0
    lag_count: int = 0
    #: Unix time of the last completed cycle (every check ran at least once), 0 if none
    last_cycle_at: float = 0.0
    last_cycle_duration: float = 0.0
    cycles: int = 0
    #: checks waiting for a worker right now, and runs in flight
    queued: int = 0
    in_flight: int = 0
    #: configured pool size
    workers: int = 0
    #: checks scheduled
    checks: int = 0

    def record_lag(self, lag: float) -> None:
        """Remember how late one run started."""
        self.recent_lags.append(lag)
        self.lag_sum += lag
        self.lag_count += 1


@dataclass(slots=True)
class WriterStats:
    """What the result writer has done so far."""

    written: int = 0
    #: results dropped because the in-memory buffer was full while the database was away
    dropped: int = 0
    #: results waiting in memory to be written
    buffered: int = 0
    #: failed attempts to write a batch
    write_errors: int = 0
    #: the last write attempt succeeded
    database_up: bool = True
    #: Unix time of the last successful write, 0 if none
    last_write_at: float = 0.0
