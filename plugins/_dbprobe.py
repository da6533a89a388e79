"""What the ``mysql`` and ``postgresql`` probes share.

Both open one connection per run, run a query whose first value may be checked, compare
the connections in use with the server's maximum and judge replication. This module holds
their common configuration keys, the time budget of a run, and the verdicts that read the
same for both servers (expected value, connections, lag, timeouts), so both speak alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.probe import ProbeConfig, ProbeFailed, Reason, Status, reason
from monitor.safetext import clean_line
from monitor.schema import Duration

#: which verdict wins when several apply (the first one among equals)
SEVERITY = {Status.UP: 0, Status.UNKNOWN: 1, Status.DEGRADED: 2, Status.DOWN: 3}


def worst(verdicts: list[tuple[Status, Reason | None]]) -> tuple[Status, Reason | None]:
    """The verdict that wins: down, then degraded, then unknown, then up."""
    return max(verdicts, key=lambda verdict: SEVERITY[verdict[0]])


def budget(timeout: float) -> float:
    """Seconds a run allows itself: a little under the runner's hard deadline, so the
    probe can say which step was too slow instead of being cut off without a word."""
    return max(timeout - 0.5, timeout * 0.8)


class Clock:
    """Remaining time of one run."""

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + seconds

    def left(self, wanted: float | None = None) -> float:
        """Seconds left (at least a few milliseconds), or ``wanted`` when that is less."""
        left = max(0.05, self._deadline - self._loop.time())
        return left if wanted is None else min(wanted, left)


def num(value: float) -> str:
    """A number as English writes it (``1.5``)."""
    return f"{value:g}"


def fr_num(value: float) -> str:
    """A number as French writes it (``1,5``)."""
    return f"{value:g}".replace(".", ",")


def short(text: str, size: int = 80) -> str:
    """``text`` made safe to quote (one line, see :mod:`monitor.safetext`), cut to ``size``
    characters with an ellipsis when cut."""
    return clean_line(text, size)


def fail(code: str, fr: str, en: str, status: Status = Status.DOWN, *, public: bool = True,
         **params: Any) -> ProbeFailed:
    """A :class:`ProbeFailed` with a reason built from the templates; ``public=False`` when
    a parameter is the server's own text (see :class:`monitor.probe.Reason`)."""
    return ProbeFailed(reason(code, fr, en, public=public, **params), status=status)


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
                "Le serveur {server} n'a pas accepté la connexion en {s_fr} s",
                "The {server} server did not accept the connection within {s} s",
                server=server, s=num(limit), s_fr=fr_num(limit))


def query_timeout(kind: str, limit: float) -> ProbeFailed:
    """A query did not answer within ``limit`` seconds."""
    return fail(f"{kind}.query_timeout", "La requête n'a pas répondu en {s_fr} s",
                "The query did not answer within {s} s", s=num(limit), s_fr=fr_num(limit))


def expectation(kind: str, expect: str | None, rows: list,
                value_text: Callable[[Any], str]) -> tuple[Status, Reason | None]:
    """Compare the first value of ``rows``, as ``value_text`` writes it, with ``expect``."""
    if expect is None:
        return Status.UP, None
    if not rows:
        return Status.DOWN, reason(f"{kind}.no_rows",
                                   "La requête n'a renvoyé aucune ligne (attendu : {expected})",
                                   "The query returned no rows (expected: {expected})",
                                   expected=short(expect))
    got = value_text(rows[0][0])
    if got != expect:
        # ``got`` is data from the database: volunteers only
        return Status.DOWN, reason(f"{kind}.unexpected",
                                   "La requête a renvoyé « {got} » au lieu de « {expected} »",
                                   "The query returned '{got}' instead of '{expected}'",
                                   got=short(got), expected=short(expect), public=False)
    return Status.UP, None


def connections_state(kind: str, used: int, maximum: int, ratio: float) -> Reason | None:
    """The reason of a degraded result when ``used / maximum`` is above ``ratio``, else None."""
    if maximum <= 0 or used / maximum <= ratio:
        return None
    pct = ratio * 100
    return reason(f"{kind}.connections",
                  "{used} connexions ouvertes sur {max} possibles (seuil {pct_fr} %)",
                  "{used} connections open out of {max} allowed (threshold {pct} %)",
                  used=used, max=maximum, pct=num(pct), pct_fr=fr_num(pct))


def lag_reason(kind: str, lag: float, max_lag: float) -> Reason:
    """Replication is ``lag`` seconds behind, more than ``max_lag``."""
    lag = round(lag, 1)
    return reason(f"{kind}.replication_lag",
                  "La réplication a {lag_fr} s de retard (maximum {max_fr} s)",
                  "Replication is {lag} s behind (maximum {max} s)",
                  lag=num(lag), max=num(max_lag), lag_fr=fr_num(lag), max_fr=fr_num(max_lag))
