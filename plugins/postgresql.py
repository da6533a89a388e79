"""Probe kind ``postgresql``: a PostgreSQL server answers, and its replication keeps up.

One run opens one connection (psycopg 3 in async mode), runs ``SELECT 1`` or the
configured query (optionally comparing its first value), counts the connections in use
against ``max_connections``, and with ``replication:`` checks either a standby (it is in
recovery, receives WAL and replays it in time) or a primary (``pg_stat_replication`` lists
the expected replicas, streaming, in time).

Query time is limited twice: the session's ``statement_timeout`` makes the server cancel
an overrunning query (a precise, clean error), and if the server itself is frozen and
cannot even do that, the probe hangs up the socket a moment later. It never cancels a
psycopg await for that: on cancellation psycopg tries to cancel the query on the server
and waits for it, up to ten seconds more against a frozen server.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import socket
from typing import Any, Literal

from pydantic import Field, field_validator

from monitor.api import (
    Probe,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Reason,
    SampleSpec,
    Status,
    Words,
    _,
    hookimpl,
    n_,
    reason,
)
from plugins._dbprobe import (
    DatabaseConfig,
    left,
    connect_timeout,
    connections_state,
    expectation,
    fail,
    lag_reason,
    database_words,
    query_timeout,
    short,
    worst,
)
from plugins._lazy import LazyModule

# psycopg (megabytes: docs/performance.md) is imported when a postgresql check first runs
# (see plugins._lazy)
psycopg = LazyModule("psycopg")

KIND = "postgresql"

#: how long after the server's own statement_timeout the probe hangs up on a frozen server
_HANG_UP_GRACE = 1.0

_CONNECTIONS_SQL = (
    "SELECT current_setting('server_version'), current_setting('max_connections')::int, "
    # client backends only (background processes do not use max_connections); a role
    # without pg_monitor sees other users' backend_type as NULL, their datid still set
    "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
    "OR (backend_type IS NULL AND datid IS NOT NULL))"
)
# standby lag in seconds, 0 when everything received is replayed (a standby that is
# caught up replays nothing new, so the age of its last replay says nothing)
_STANDBY_SQL = (
    "SELECT pg_is_in_recovery(), "
    "CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())) END, "
    "(SELECT count(*) FROM pg_stat_wal_receiver)"
)
_PRIMARY_SQL = (
    "SELECT application_name, state, EXTRACT(EPOCH FROM replay_lag) FROM pg_stat_replication"
)


class PostgresqlConfig(DatabaseConfig):
    """Keys of a ``kind: postgresql`` check (``host`` may be a Unix socket directory)."""

    port: int = Field(default=5432, ge=1, le=65535)
    database: str = Field(default="postgres", min_length=1)
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    #: ``standby`` (this server replicates from a primary) or ``primary`` (replicas
    #: stream from it); ``true`` means ``standby``
    replication: Literal["standby", "primary"] | None = None
    #: with ``replication: primary``: how many replicas must be streaming
    expected_replicas: int = Field(default=1, ge=0, le=1000)

    @field_validator("replication", mode="before")
    @classmethod
    def _replication_bool(cls, value: Any) -> Any:
        if value is True:
            return "standby"
        return None if value is False else value


# libpq reports connection failures as text only (no SQLSTATE); these are its words and
# the server's (lc_messages in English, the default of Debian's packages)
_CONNECT_ERRORS: tuple[tuple[re.Pattern[str], tuple[str, Words]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), texts) for pattern, texts in (
        (r"password authentication failed|role \".*\" does not exist|no password supplied"
         r"|password is required|authentication failed",
         ("postgresql.auth", _("The server refused the user name or password"))),
        (r"database \".*\" does not exist",
         ("postgresql.database", _("The database does not exist"))),
        (r"no pg_hba\.conf entry",
         ("postgresql.host_refused",
          _("The server refuses connections from the monitoring host (pg_hba.conf)"))),
        (r"too many clients|remaining connection slots are reserved",
         ("postgresql.too_many_connections",
          _("The server refuses connections: too many connections are open"))),
        (r"starting up|shutting down|in recovery mode|not yet accepting connections",
         ("postgresql.unavailable", _("The PostgreSQL server is starting or stopping"))),
        (r"connection refused|could not translate host name|no route to host"
         r"|network is unreachable|no such file or directory",
         ("postgresql.unreachable", _("Cannot reach the PostgreSQL server"))),
    )
)


def connect_error(exc: psycopg.Error, limit: float) -> ProbeFailed:
    """Turn a failed connection into a reason a volunteer can act on (never the password)."""
    if isinstance(exc, psycopg.errors.ConnectionTimeout):
        return connect_timeout(KIND, "PostgreSQL", limit)
    text = str(exc)
    for pattern, (code, words) in _CONNECT_ERRORS:
        if pattern.search(text):
            return fail(code, words)
    # libpq's message may name users and hosts: volunteers only (monitor.probe.Reason)
    return fail("postgresql.connect", _("Could not connect to the PostgreSQL server ({detail})",
                                        detail=_detail(text)), public=False)


def _detail(text: str) -> str:
    """libpq's message without its ``connection to server at … failed:`` prefix."""
    line = text.strip().splitlines()[0] if text.strip() else "?"
    line = line.rsplit(" failed: ", 1)[-1]
    return short(" ".join(line.replace("FATAL:", "").split()), 160)


async def _connect(config: PostgresqlConfig, limit: float) -> psycopg.AsyncConnection:
    params: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "user": config.user,
        "dbname": config.database,
        "sslmode": config.sslmode,
        # libpq's own limit (whole seconds, at least 2) backs up the precise one below
        "connect_timeout": max(2, math.ceil(limit)),
        "application_name": "vigie",
    }
    if config.password is not None:
        params["password"] = config.password.get_secret_value()
    try:
        # a cancelled psycopg connect drops its half-open libpq connection, which closes
        # its socket: nothing leaks when this deadline (or the runner's) cuts it
        async with asyncio.timeout(limit):
            return await psycopg.AsyncConnection.connect(autocommit=True, **params)
    except TimeoutError:
        raise connect_timeout(KIND, "PostgreSQL", limit) from None
    except psycopg.Error as exc:
        raise connect_error(exc, limit) from None


def _hang_up(conn: psycopg.AsyncConnection) -> None:
    """Shut the connection's socket down so a read waiting on a frozen server ends now."""
    try:
        sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
    except (OSError, psycopg.Error):
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()  # closes our duplicate only; psycopg still owns its descriptor


async def _fetch(conn: psycopg.AsyncConnection, sql: str, limit: float,
                 ctx: ProbeContext) -> list[tuple]:
    """Rows of ``sql`` (none for a command). The server cancels it at ``limit`` (the
    session's statement_timeout); if it cannot, the socket is shut a moment later, and
    always before the run's own deadline (the runner would cancel psycopg otherwise)."""
    hung_up = False

    def hang_up() -> None:
        nonlocal hung_up
        hung_up = True
        _hang_up(conn)

    timer = asyncio.get_running_loop().call_later(left(ctx, limit + _HANG_UP_GRACE), hang_up)
    try:
        cur = await conn.execute(sql)
        return await cur.fetchall() if cur.description is not None else []
    except psycopg.errors.QueryCanceled:
        raise query_timeout(KIND, limit) from None
    except psycopg.OperationalError:
        if hung_up:
            raise query_timeout(KIND, limit) from None
        raise
    finally:
        timer.cancel()


def value_text(value: Any) -> str:
    """A value as ``psql`` shows it (``t``/``f`` for booleans, ``NULL`` for a null)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def standby_state(in_recovery: bool, lag: float | None, receivers: int,
                  max_lag: float) -> tuple[Status, Reason | None]:
    """Judge a standby from its lag (:data:`_STANDBY_SQL`) and its WAL receiver count."""
    if not in_recovery:
        return Status.DOWN, reason(
            "postgresql.not_standby",
            _("This server is not a replica (standby): it is a primary"))
    if receivers == 0:
        return Status.DOWN, reason(
            "postgresql.replication_stopped",
            _("Replication is stopped: the standby receives nothing from its primary"))
    if lag is None:
        return Status.DOWN, reason(
            "postgresql.replication_broken",
            _("Replication is not working: nothing has been replayed yet"))
    if lag > max_lag:
        return Status.DEGRADED, lag_reason(KIND, lag, max_lag)
    return Status.UP, None


def primary_state(rows: list[tuple[str, str | None, float | None]], expected: int,
                  max_lag: float) -> tuple[Status, Reason | None, float | None]:
    """Judge a primary from ``pg_stat_replication`` rows ``(name, state, replay lag)``.

    Returns the status, its reason and the worst replay lag (None without a streaming
    replica). A replay lag of NULL means the replica is idle and caught up.
    """
    if any(state is None for _, state, _ in rows):
        return Status.UNKNOWN, reason(
            "postgresql.privilege",
            _("The monitoring user may not read the replication status (role pg_monitor)")), None
    lags = [float(lag or 0) for _, state, lag in rows if state == "streaming"]
    slowest = max(lags) if lags else None
    if len(lags) < expected:
        if not lags:
            return Status.DOWN, reason(
                "postgresql.no_replicas",
                _("No replica is connected ({expected} expected)", expected=expected)), None
        return Status.DEGRADED, reason(
            "postgresql.missing_replicas",
            n_("{n} replica connected out of {expected} expected",
               "{n} replicas connected out of {expected} expected",
               len(lags), expected=expected)), slowest
    if slowest is not None and slowest > max_lag:
        return Status.DEGRADED, lag_reason(KIND, slowest, max_lag), slowest
    return Status.UP, None, slowest


class PostgresqlProbe(Probe):
    """Connects to PostgreSQL, runs a query, checks connections and replication."""

    kind = KIND
    Config = PostgresqlConfig
    public_words = database_words(KIND)
    description = "PostgreSQL: connection, query and its value, replication, connections"
    samples = (
        SampleSpec("postgresql_replication_lag_seconds",
                   "Seconds the standby (or the slowest replica of a primary) is behind"),
        SampleSpec("postgresql_connections", "Client connections open on the server"),
        SampleSpec("postgresql_max_connections", "The server's max_connections"),
        SampleSpec("postgresql_query_seconds", "Duration of the check query"),
    )
    info_keys = ("version",)

    async def check(self, config: PostgresqlConfig, ctx: ProbeContext) -> ProbeResult:
        """One connection, one query, the connection counts and (optionally) replication."""
        conn = await _connect(config, left(ctx, config.connect_timeout))
        try:
            return await self._inspect(conn, config, ctx)
        finally:
            await conn.close()

    async def _inspect(self, conn: psycopg.AsyncConnection, config: PostgresqlConfig,
                       ctx: ProbeContext) -> ProbeResult:
        samples: dict[str, float | dict[str, float]] = {}
        info: dict[str, str] = {}
        loop = asyncio.get_running_loop()
        try:
            limit = left(ctx, config.query_timeout)
            await _fetch(conn, f"SET statement_timeout = {max(1, int(limit * 1000))}", limit,
                         ctx)
            ((version, maximum, used),) = await _fetch(conn, _CONNECTIONS_SQL,
                                                       left(ctx, config.query_timeout), ctx)
            info["version"] = str(version)
            samples["postgresql_connections"] = float(used)
            samples["postgresql_max_connections"] = float(maximum)

            started = loop.time()
            rows = await _fetch(conn, config.query or "SELECT 1",
                                left(ctx, config.query_timeout), ctx)
            samples["postgresql_query_seconds"] = loop.time() - started
            verdicts = [expectation(KIND, config.expect, rows, value_text)]
            if config.replication is not None:
                status, why, lag = await _replication(conn, config, ctx)
                if lag is not None:
                    samples["postgresql_replication_lag_seconds"] = lag
                verdicts.append((status, why))
            why = connections_state(KIND, int(used), int(maximum), config.max_connections_ratio)
            verdicts.append((Status.DEGRADED if why else Status.UP, why))
        except ProbeFailed as exc:
            exc.samples = {**samples, **exc.samples}
            exc.info = {**info, **exc.info}
            raise
        except psycopg.Error as exc:
            detail = exc.diag.message_primary or _detail(str(exc))
            raise ProbeFailed(reason("postgresql.query", _("The query failed: {detail}",
                                                           detail=short(detail, 160)),
                                     public=False),
                              samples=samples, info=info) from None
        status, why = worst(verdicts)
        return ProbeResult(status, why, samples=samples, info=info)


async def _replication(conn: psycopg.AsyncConnection, config: PostgresqlConfig, ctx: ProbeContext):
    limit = left(ctx, config.query_timeout)
    if config.replication == "standby":
        ((in_recovery, lag, receivers),) = await _fetch(conn, _STANDBY_SQL, limit, ctx)
        lag = None if lag is None else float(lag)
        status, why = standby_state(bool(in_recovery), lag, int(receivers), config.max_lag)
        return status, why, lag if in_recovery else None
    rows = await _fetch(conn, _PRIMARY_SQL, limit, ctx)
    return primary_state([tuple(row) for row in rows], config.expected_replicas, config.max_lag)


@hookimpl
def vigie_register_probes():
    """Register the ``postgresql`` probe kind."""
    return [PostgresqlProbe]
