"""What the ``mysql`` and ``postgresql`` probes share.

Both open one connection per run, run a query whose first value may be checked, compare
the connections in use with the server's maximum and judge replication. This module holds
their common configuration keys, the time budget of a run, and the verdicts that read the
same for both servers (expected value, connections, lag, timeouts), so both speak alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.api import (
    Duration,
    Number,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    Reason,
    Status,
    Words,
    _,
    clean_line,
    n_,
    reason,
)
from monitor.api import worst as worst_status

def worst(verdicts: list[tuple[Status, Reason | None]]) -> tuple[Status, Reason | None]:
    """The verdict that wins: down, then degraded, then unknown, then up (the one order of
    :mod:`monitor.status`; the first one among equals)."""
    return worst_status(verdicts, key=lambda verdict: verdict[0])


def left(ctx: ProbeContext, wanted: float | None = None) -> float:
    """Seconds left of the run's time (at least a few milliseconds, so a step still gets
    its own timeout and reason), or ``wanted`` when that is less."""
    seconds = max(0.05, ctx.remaining())
    return seconds if wanted is None else min(wanted, seconds)


def short(text: str, size: int = 80) -> str:
    """``text`` made safe to quote (one line, see :mod:`monitor.safetext`), cut to ``size``
    characters with an ellipsis when cut."""
    return clean_line(text, size)


def fail(code: str, words: Words, status: Status = Status.DOWN, *,
         public: bool = True) -> ProbeFailed:
    """A :class:`ProbeFailed` with a reason; ``public=False`` when a parameter is the
    server's own text (see :class:`monitor.probe.Reason`)."""
    return ProbeFailed(reason(code, words, public=public), status=status)


def database_words(kind: str) -> dict[str, Words]:
    """What members read for the reasons of the database probe ``kind`` (its codes are
    ``<kind>.<problem>``, the shared ones built here and its own)."""
    unreachable = _("The database server cannot be reached")
    busy = _("The database server is overloaded: sites may be slow")
    replica = _("The backup copy of the databases is not up to date")
    stopped = _("The backup copy of the databases has stopped")
    odd = _("The database server gives unexpected answers")
    unchecked = _("Vigie could not check the databases; the volunteers know")
    return {
        kind: _("The database server does not work as it should"),
        **{f"{kind}.{code}": unreachable for code in (
            "connect", "connect_timeout", "host_refused", "unreachable")},
        **{f"{kind}.{code}": busy for code in ("connections", "too_many_connections")},
        f"{kind}.query_timeout": _("The database server answers too slowly"),
        f"{kind}.unavailable": _("The database server is restarting"),
        **{f"{kind}.{code}": odd for code in ("no_rows", "unexpected", "query")},
        **{f"{kind}.{code}": unchecked for code in (
            "auth", "database", "privilege", "replica_format")},
        **{f"{kind}.{code}": replica for code in ("replication_lag", "missing_replicas")},
        **{f"{kind}.{code}": stopped for code in (
            "replication_stopped", "replication_broken", "no_replicas", "not_standby",
            "not_replica")},
    }


class DatabaseConfig(ProbeConfig):
    """Keys every database check has; each kind adds its port, database and replication."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    user: str = Field(min_length=1)
    #: may be given as ``password_file``
    password: SecretStr | None = None
    #: default: what is left of the check's timeout
    connect_timeout: Duration | None = None
    #: default: what is left of the check's timeout
    query_timeout: Duration | None = None
    #: run instead of ``SELECT 1``; should return one small row
    query: str | None = None
    #: compared, as text, with the first column of the first row of ``query``
    expect: str | None = None
    max_lag: Duration = 60.0
    #: degraded when connections in use / max_connections is above this
    max_connections_ratio: float = Field(default=0.9, ge=0.0, le=1.0)

    @field_validator("expect", mode="before")
    @classmethod
    def _expect_text(cls, value: Any) -> Any:
        # YAML reads `expect: 42` as a number; the comparison is on text
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError("expected a text or a number (quote it: expect: \"t\")")

    @model_validator(mode="after")
    def _expect_needs_query(self) -> DatabaseConfig:
        if self.expect is not None and self.query is None:
            raise ValueError("'expect' compares the result of 'query': give a 'query' too")
        return self


def connect_timeout(kind: str, server: str, limit: float) -> ProbeFailed:
    """The server did not let us in within ``limit`` seconds."""
    return fail(f"{kind}.connect_timeout",
                _("The {server} server did not accept the connection within {s} s",
                  server=server, s=Number(limit)))


def query_timeout(kind: str, limit: float) -> ProbeFailed:
    """A query did not answer within ``limit`` seconds."""
    return fail(f"{kind}.query_timeout", _("The query did not answer within {s} s",
                                           s=Number(limit)))


def expectation(kind: str, expect: str | None, rows: list,
                value_text: Callable[[Any], str]) -> tuple[Status, Reason | None]:
    """Compare the first value of ``rows``, as ``value_text`` writes it, with ``expect``."""
    if expect is None:
        return Status.UP, None
    if not rows:
        return Status.DOWN, reason(f"{kind}.no_rows",
                                   _("The query returned no rows (expected: {expected})",
                                     expected=short(expect)))
    got = value_text(rows[0][0])
    if got != expect:
        # ``got`` is data from the database: volunteers only
        return Status.DOWN, reason(f"{kind}.unexpected",
                                   _("The query returned “{got}” instead of “{expected}”",
                                     got=short(got), expected=short(expect)), public=False)
    return Status.UP, None


def connections_state(kind: str, used: int, maximum: int, ratio: float) -> Reason | None:
    """The reason of a degraded result when ``used / maximum`` is above ``ratio``, else None."""
    if maximum <= 0 or used / maximum <= ratio:
        return None
    pct = ratio * 100
    return reason(f"{kind}.connections",
                  n_("{n} connection open out of {max} allowed (threshold {pct} %)",
                     "{n} connections open out of {max} allowed (threshold {pct} %)",
                     used, max=maximum, pct=Number(pct)))


def lag_reason(kind: str, lag: float, max_lag: float) -> Reason:
    """Replication is ``lag`` seconds behind, more than ``max_lag``."""
    lag = round(lag, 1)
    return reason(f"{kind}.replication_lag",
                  _("Replication is {lag} s behind (maximum {max} s)", lag=Number(lag),
                    max=Number(max_lag)))
