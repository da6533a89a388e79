"""Probe kind ``mysql``: a MySQL or MariaDB server answers, and its replica keeps up.

One run opens one connection (``aiomysql``, never blocking the event loop), reads the
version and the connection counts, runs ``SELECT 1`` or the configured query (optionally
comparing its first value), and with ``replication: true`` reads ``SHOW REPLICA STATUS``
by column name (MySQL's ``Replica_*``/``*_Source`` and MariaDB's ``Slave_*``/``*_Master``
spellings). Every step has a deadline a little under the runner's; a query that overruns
is abandoned by closing the connection, and the server is told to stop it too
(``max_statement_time`` on MariaDB, ``max_execution_time`` on MySQL).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from monitor.api import (
    Probe,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Reason,
    SampleSpec,
    Status,
    _,
    hookimpl,
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

# aiomysql and PyMySQL are imported when a mysql check first runs (see plugins._lazy)
aiomysql = LazyModule("aiomysql")

KIND = "mysql"

# server and client error numbers (mysqld_error.h, errmsg.h) explained in plain words
_DB_ACCESS_DENIED = 1044
_ACCESS_DENIED = 1045
_BAD_DB = 1049
_TOO_MANY_CONNECTIONS = 1040
_SYNTAX_ERROR = 1064
_HOST_BLOCKED = 1129
_HOST_NOT_ALLOWED = 1130
_UNKNOWN_VARIABLE = 1193
_TOO_MANY_USER_CONNECTIONS = 1203
_PRIVILEGE_NEEDED = 1227
_CANT_CONNECT = 2003
_STATEMENT_TIMEOUTS = frozenset({1317, 1969, 3024})  # interrupted; MariaDB's, MySQL's limit

#: the server-side limit is a safety net behind our own: it only has to stop a query we
#: already gave up on, so it fires a little later and never races our reason
_SERVER_LIMIT_GRACE = 1.0


class MysqlConfig(DatabaseConfig):
    """Keys of a ``kind: mysql`` check."""

    port: int = Field(default=3306, ge=1, le=65535)
    database: str | None = None
    #: this server is a replica: check that replication runs and keeps up
    replication: bool = False


def connect_error(exc: aiomysql.MySQLError, limit: float) -> ProbeFailed:
    """Turn a failed connection into a reason a volunteer can act on (never the password)."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    if code == _CANT_CONNECT:
        if isinstance(exc.__cause__, TimeoutError):
            return connect_timeout(KIND, "MySQL/MariaDB", limit)
        return fail("mysql.unreachable", _("Cannot reach the MySQL/MariaDB server"))
    if code == _ACCESS_DENIED:
        return fail("mysql.auth", _("The server refused the user name or password"))
    if code in (_HOST_NOT_ALLOWED, _HOST_BLOCKED):
        return fail("mysql.host_refused",
                    _("The server refuses connections from the monitoring host"))
    if code in (_BAD_DB, _DB_ACCESS_DENIED):
        return fail("mysql.database", _("The database does not exist or is not accessible"))
    if code in (_TOO_MANY_CONNECTIONS, _TOO_MANY_USER_CONNECTIONS):
        return fail("mysql.too_many_connections",
                    _("The server refuses connections: too many connections are open"))
    # the server's message may name users and hosts: volunteers only (monitor.probe.Reason)
    return fail("mysql.connect", _("Could not connect to the MySQL/MariaDB server ({detail})",
                                   detail=_detail(exc)), public=False)


def _detail(exc: BaseException) -> str:
    """The server's own message, short (it never contains the password)."""
    text = str(exc.args[1]) if len(exc.args) > 1 else type(exc).__name__
    return short(text, 160)


async def _connect(config: MysqlConfig, limit: float) -> aiomysql.Connection:
    # connect_timeout covers only the TCP connect: the whole handshake runs under our own
    # deadline. Cancelled there, aiomysql closes the socket itself (its packet reads close
    # the connection on cancellation; a failed handshake closes it too).
    try:
        async with asyncio.timeout(limit):
            return await aiomysql.connect(
                host=config.host,
                port=config.port,
                user=config.user,
                password=config.password.get_secret_value() if config.password else "",
                db=config.database,
                connect_timeout=limit,
                autocommit=True,
                program_name="vigie",
            )
    except TimeoutError:
        raise connect_timeout(KIND, "MySQL/MariaDB", limit) from None
    except aiomysql.MySQLError as exc:
        raise connect_error(exc, limit) from None


async def _fetch(conn: aiomysql.Connection, sql: str, limit: float,
                 dict_rows: bool = False) -> list:
    """Rows of ``sql``; past ``limit`` the connection is closed (aiomysql does it when
    the await is cancelled) and a query-timeout reason raised."""
    try:
        async with asyncio.timeout(limit):
            async with conn.cursor(aiomysql.DictCursor if dict_rows else aiomysql.Cursor) as cur:
                await cur.execute(sql)
                return list(await cur.fetchall())
    except TimeoutError:
        conn.close()
        raise query_timeout(KIND, limit) from None
    except aiomysql.OperationalError as exc:
        if exc.args and exc.args[0] in _STATEMENT_TIMEOUTS:
            raise query_timeout(KIND, limit) from None
        raise


def value_text(value: Any) -> str:
    """A value as the ``mysql`` client shows it (``NULL`` for a null)."""
    if value is None:
        return "NULL"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


_MISSING = object()


def _column(row: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in row:
            return row[name]
    return _MISSING


def replication_state(
    rows: list[dict[str, Any]], max_lag: float
) -> tuple[Status, Reason | None, float | None]:
    """Judge ``SHOW REPLICA STATUS`` rows (one per replication channel).

    Columns are read by name, MySQL ≥ 8.0.22 spelling first, then the MariaDB and older
    MySQL one. Returns the status, its reason (None when up) and the worst lag in seconds
    (None when unknown). No row means the server is not a replica: DOWN, because the
    replication this check was written for does not exist (any more).
    """
    if not rows:
        return Status.DOWN, reason(
            "mysql.not_replica",
            _("This server is not a replica: no replication is configured on it")), None
    verdict: tuple[Status, Reason | None] = (Status.UP, None)
    lags: list[float] = []
    for row in rows:
        io = _column(row, "Replica_IO_Running", "Slave_IO_Running")
        sql = _column(row, "Replica_SQL_Running", "Slave_SQL_Running")
        lag = _column(row, "Seconds_Behind_Source", "Seconds_Behind_Master")
        if _MISSING in (io, sql, lag):
            return Status.UNKNOWN, reason(
                "mysql.replica_format",
                _("The replication status does not have the expected shape (unknown columns)"),
            ), None
        io, sql = value_text(io), value_text(sql)
        if io != "Yes" or sql != "Yes":
            return Status.DOWN, reason(
                "mysql.replication_stopped",
                _("Replication is stopped (receiving: {io}, applying: {sql})",
                  io=short(str(io), 40), sql=short(str(sql), 40)),
                public=False,  # the server's words: volunteers only
            ), None
        if lag is None:
            return Status.DOWN, reason(
                "mysql.replication_broken",
                _("Replication is not working: its lag is unknown")), None
        lags.append(float(lag))
        if lags[-1] > max_lag and verdict[0] is Status.UP:
            verdict = (Status.DEGRADED, lag_reason(KIND, lags[-1], max_lag))
    return verdict[0], verdict[1], max(lags)


class MysqlProbe(Probe):
    """Connects to MySQL or MariaDB, runs a query, checks connections and replication."""

    kind = KIND
    Config = MysqlConfig
    public_words = database_words(KIND)
    description = "MySQL/MariaDB: connection, query and its value, replication, connections"
    samples = (
        SampleSpec("mysql_replication_lag_seconds", "Seconds the replica is behind its source"),
        SampleSpec("mysql_connections", "Connections open on the server (Threads_connected)"),
        SampleSpec("mysql_max_connections", "The server's max_connections"),
        SampleSpec("mysql_query_seconds", "Duration of the check query"),
    )
    info_keys = ("version",)

    async def check(self, config: MysqlConfig, ctx: ProbeContext) -> ProbeResult:
        """One connection, one query, the connection counts and (optionally) replication."""
        conn = await _connect(config, left(ctx, config.connect_timeout))
        try:
            result = await self._inspect(conn, config, ctx)
        except ProbeFailed:
            await _quit(conn)
            raise
        except BaseException:
            conn.close()
            raise
        await _quit(conn)
        return result

    async def _inspect(self, conn: aiomysql.Connection, config: MysqlConfig,
                       ctx: ProbeContext) -> ProbeResult:
        samples: dict[str, float | dict[str, float]] = {}
        info: dict[str, str] = {}
        loop = asyncio.get_running_loop()
        try:
            await _server_limit(conn, config, ctx)
            ((version, maximum),) = await _fetch(conn, "SELECT VERSION(), @@max_connections",
                                                 left(ctx, config.query_timeout))
            info["version"] = str(version)
            ((_unused, used),) = await _fetch(conn, "SHOW GLOBAL STATUS LIKE 'Threads_connected'",
                                        left(ctx, config.query_timeout))
            samples["mysql_connections"] = float(used)
            samples["mysql_max_connections"] = float(maximum)

            started = loop.time()
            rows = await _fetch(conn, config.query or "SELECT 1", left(ctx, config.query_timeout))
            samples["mysql_query_seconds"] = loop.time() - started
            verdicts = [expectation(KIND, config.expect, rows, value_text)]
            if config.replication:
                status, why, lag = await _replication(conn, config, ctx)
                if lag is not None:
                    samples["mysql_replication_lag_seconds"] = lag
                verdicts.append((status, why))
            why = connections_state(KIND, int(used), int(maximum), config.max_connections_ratio)
            verdicts.append((Status.DEGRADED if why else Status.UP, why))
        except ProbeFailed as exc:
            exc.samples = {**samples, **exc.samples}
            exc.info = {**info, **exc.info}
            raise
        except aiomysql.MySQLError as exc:
            raise ProbeFailed(reason("mysql.query", _("The query failed: {detail}",
                                                      detail=_detail(exc)), public=False),
                              samples=samples, info=info) from None
        status, why = worst(verdicts)
        return ProbeResult(status, why, samples=samples, info=info)


async def _replication(conn: aiomysql.Connection, config: MysqlConfig, ctx: ProbeContext):
    try:
        try:
            rows = await _fetch(conn, "SHOW REPLICA STATUS", left(ctx, config.query_timeout),
                                dict_rows=True)
        except aiomysql.ProgrammingError as exc:
            if exc.args[0] != _SYNTAX_ERROR:
                raise
            # MySQL before 8.0.22, MariaDB before 10.5.1
            rows = await _fetch(conn, "SHOW SLAVE STATUS", left(ctx, config.query_timeout),
                                dict_rows=True)
    except aiomysql.MySQLError as exc:
        if exc.args and exc.args[0] == _PRIVILEGE_NEEDED:
            raise fail("mysql.privilege",
                       _("The monitoring user may not read the replication status "
                         "(privilege REPLICATION CLIENT or REPLICA MONITOR)"),
                       status=Status.UNKNOWN) from None
        raise
    return replication_state(rows, config.max_lag)


async def _server_limit(conn: aiomysql.Connection, config: MysqlConfig, ctx: ProbeContext) -> None:
    """Ask the server to stop any statement of this session that outlives our own limit."""
    seconds = left(ctx, config.query_timeout) + _SERVER_LIMIT_GRACE
    if "mariadb" in conn.get_server_info().lower():
        sql = f"SET SESSION max_statement_time = {seconds:.3f}"
    else:  # MySQL ≥ 5.7.8, SELECT statements only
        sql = f"SET SESSION max_execution_time = {int(seconds * 1000)}"
    try:
        await _fetch(conn, sql, left(ctx, config.query_timeout))
    except aiomysql.MySQLError as exc:
        # an older server without the variable: our own limit still applies
        if not (exc.args and exc.args[0] in (_UNKNOWN_VARIABLE, _PRIVILEGE_NEEDED)):
            raise


async def _quit(conn: aiomysql.Connection) -> None:
    """Say goodbye (COM_QUIT) so the server logs no aborted connection, then close."""
    try:
        await conn.ensure_closed()
    except Exception:  # noqa: BLE001 - the connection is gone anyway; nothing to report
        pass
    finally:
        conn.close()


@hookimpl
def vigie_register_probes():
    """Register the ``mysql`` probe kind."""
    return [MysqlProbe]
