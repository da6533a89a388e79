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

import aiomysql
from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.plugins import hookimpl
from monitor.probe import (
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Reason,
    SampleSpec,
    Status,
    reason,
)
from monitor.schema import Duration

# server error numbers (include/mysqld_error.h, errmsg.h) we explain in plain words
_ACCESS_DENIED = 1045
_DB_ACCESS_DENIED = 1044
_BAD_DB = 1049
_HOST_NOT_ALLOWED = 1130
_HOST_BLOCKED = 1129
_TOO_MANY_CONNECTIONS = 1040
_TOO_MANY_USER_CONNECTIONS = 1203
_PRIVILEGE_NEEDED = 1227
_SYNTAX_ERROR = 1064
_UNKNOWN_VARIABLE = 1193
_CANT_CONNECT = 2003
_STATEMENT_TIMEOUTS = frozenset({1969, 3024, 1317})  # MariaDB, MySQL, "interrupted"

#: the server-side limit is a safety net behind our own: it only has to stop a query we
#: already gave up on, so it may fire a little later and never races our reason
_SERVER_LIMIT_GRACE = 1.0


def budget(timeout: float) -> float:
    """Seconds a run allows itself: a little under the runner's hard deadline, so the
    probe can say which step was too slow instead of being cut off without a word."""
    return max(timeout - 0.5, timeout * 0.8)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected a text or a number")


class MysqlConfig(ProbeConfig):
    """Keys of a ``kind: mysql`` check."""

    host: str = Field(min_length=1)
    port: int = Field(default=3306, ge=1, le=65535)
    user: str = Field(min_length=1)
    #: may be given as ``password_file``
    password: SecretStr | None = None
    database: str | None = None
    #: default: what is left of the check's timeout
    connect_timeout: Duration | None = None
    #: default: what is left of the check's timeout
    query_timeout: Duration | None = None
    #: run instead of ``SELECT 1``; should return one small row
    query: str | None = None
    #: compared, as text, with the first column of the first row of ``query``
    expect: str | None = None
    #: this server is a replica: check that replication runs and keeps up
    replication: bool = False
    max_lag: Duration = 60.0
    #: degraded when connections in use / max_connections is above this
    max_connections_ratio: float = Field(default=0.9, ge=0.0, le=1.0)

    @field_validator("expect", mode="before")
    @classmethod
    def _expect_text(cls, value: Any) -> Any:
        return None if value is None else _as_text(value)

    @model_validator(mode="after")
    def _expect_needs_query(self) -> "MysqlConfig":
        if self.expect is not None and self.query is None:
            raise ValueError("'expect' compares the result of 'query': give a 'query' too")
        return self


def _fail(code: str, fr: str, en: str, status: Status = Status.DOWN, **params: Any) -> ProbeFailed:
    return ProbeFailed(reason(code, fr, en, **params), status=status)


def _num(value: float) -> str:
    """A number as English writes it."""
    return f"{value:g}"


def _fr(value: float) -> str:
    """A number as French writes it (decimal comma)."""
    return f"{value:g}".replace(".", ",")


def connect_error(exc: aiomysql.MySQLError, timeout: float) -> ProbeFailed:
    """Turn a failed connection into a reason a volunteer can act on (never the password)."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    if code == _CANT_CONNECT:
        if isinstance(exc.__cause__, TimeoutError):
            return _connect_timeout(timeout)
        return _fail("mysql.unreachable", "Impossible de joindre le serveur de bases de données",
                     "Cannot reach the database server")
    if code == _ACCESS_DENIED:
        return _fail("mysql.auth", "Le serveur a refusé l'identifiant ou le mot de passe",
                     "The server refused the user name or password")
    if code in (_HOST_NOT_ALLOWED, _HOST_BLOCKED):
        return _fail("mysql.host_refused",
                     "Le serveur refuse les connexions venant de la machine de supervision",
                     "The server refuses connections from the monitoring host")
    if code in (_BAD_DB, _DB_ACCESS_DENIED):
        return _fail("mysql.database", "La base de données n'existe pas ou n'est pas accessible",
                     "The database does not exist or is not accessible")
    if code in (_TOO_MANY_CONNECTIONS, _TOO_MANY_USER_CONNECTIONS):
        return _fail("mysql.too_many_connections",
                     "Le serveur refuse les connexions : trop de connexions ouvertes",
                     "The server refuses connections: too many connections are open")
    return _fail("mysql.connect", "Connexion impossible au serveur de bases de données ({detail})",
                 "Could not connect to the database server ({detail})", detail=_detail(exc))


def _connect_timeout(timeout: float) -> ProbeFailed:
    return _fail("mysql.connect_timeout",
                 "Le serveur de bases de données n'a pas accepté la connexion en {s_fr} s",
                 "The database server did not accept the connection within {s} s",
                 s=_num(timeout), s_fr=_fr(timeout))


def _detail(exc: BaseException) -> str:
    """The server's own message, short (it never contains the password)."""
    text = str(exc.args[1]) if len(exc.args) > 1 else type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "…"


def _query_timeout(limit: float) -> ProbeFailed:
    return _fail("mysql.query_timeout", "La requête n'a pas répondu en {s_fr} s",
                 "The query did not answer within {s} s", s=_num(limit), s_fr=_fr(limit))


class _Clock:
    """Remaining time of one run."""

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + seconds

    def left(self, wanted: float | None = None) -> float:
        left = max(0.05, self._deadline - self._loop.time())
        return left if wanted is None else min(wanted, left)


async def _connect(config: MysqlConfig, limit: float) -> aiomysql.Connection:
    # aiomysql.connect() leaks its socket when cancelled during the handshake (it only
    # cleans up on Exception), so the connection object is built here and closed on any
    # way out; connect_timeout alone covers only the TCP connect, not the handshake.
    conn = aiomysql.Connection(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.password.get_secret_value() if config.password else "",
        db=config.database,
        connect_timeout=limit,
        autocommit=True,
        program_name="vigie",
    )
    try:
        async with asyncio.timeout(limit):
            await conn._connect()
    except TimeoutError:
        conn.close()
        raise _connect_timeout(limit) from None
    except aiomysql.MySQLError as exc:
        conn.close()
        raise connect_error(exc, limit) from None
    except BaseException:
        conn.close()
        raise
    return conn


async def _fetch(conn: aiomysql.Connection, sql: str, limit: float, dict_rows: bool = False):
    """Rows of ``sql``; past ``limit`` the connection is closed (aiomysql does it when
    the await is cancelled) and a query-timeout reason raised."""
    try:
        async with asyncio.timeout(limit):
            async with conn.cursor(aiomysql.DictCursor if dict_rows else aiomysql.Cursor) as cur:
                await cur.execute(sql)
                return await cur.fetchall()
    except TimeoutError:
        conn.close()
        raise _query_timeout(limit) from None
    except aiomysql.OperationalError as exc:
        if exc.args and exc.args[0] in _STATEMENT_TIMEOUTS:
            raise _query_timeout(limit) from None
        raise


def _value_text(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _short(text: str, size: int = 80) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def replication_state(rows: list[dict[str, Any]], max_lag: float) -> tuple[Status, Reason | None, float | None]:
    """Judge ``SHOW REPLICA STATUS`` rows (one per replication channel).

    Columns are read by name, MySQL ≥ 8.0.22 spelling first, then the MariaDB and older
    MySQL one. Returns the status, its reason (None when up) and the worst lag in seconds
    (None when unknown). No row means the server is not a replica: DOWN, because the
    replication this check was written for does not exist (any more).
    """
    if not rows:
        return Status.DOWN, reason(
            "mysql.not_replica",
            "Ce serveur n'est pas un réplica : aucune réplication n'y est configurée",
            "This server is not a replica: no replication is configured on it"), None
    worst: tuple[Status, Reason | None] = (Status.UP, None)
    lags: list[float] = []
    for row in rows:
        io = _column(row, "Replica_IO_Running", "Slave_IO_Running")
        sql = _column(row, "Replica_SQL_Running", "Slave_SQL_Running")
        lag = _column(row, "Seconds_Behind_Source", "Seconds_Behind_Master")
        if io is _MISSING or sql is _MISSING or lag is _MISSING:
            return Status.UNKNOWN, reason(
                "mysql.replica_format",
                "L'état de la réplication n'a pas la forme attendue (colonnes inconnues)",
                "The replication status does not have the expected shape (unknown columns)"), None
        io, sql = _value_text(io), _value_text(sql)
        if io != "Yes" or sql != "Yes":
            return Status.DOWN, reason(
                "mysql.replication_stopped",
                "La réplication est arrêtée (réception : {io}, application : {sql})",
                "Replication is stopped (receiving: {io}, applying: {sql})", io=io, sql=sql), None
        if lag is None:
            return Status.DOWN, reason(
                "mysql.replication_broken",
                "La réplication ne fonctionne pas : son retard est inconnu",
                "Replication is not working: its lag is unknown"), None
        lag = float(lag)
        lags.append(lag)
        if lag > max_lag and worst[0] < Status.DEGRADED:
            worst = (Status.DEGRADED, reason(
                "mysql.replication_lag",
                "La réplication a {lag_fr} s de retard (maximum {max_fr} s)",
                "Replication is {lag} s behind (maximum {max} s)",
                lag=_num(lag), max=_num(max_lag), lag_fr=_fr(lag), max_fr=_fr(max_lag)))
    return worst[0], worst[1], max(lags) if lags else None


_MISSING = object()


def _column(row: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in row:
            return row[name]
    return _MISSING


def connections_state(used: int, maximum: int, ratio: float) -> Reason | None:
    """The reason of a degraded result when ``used / maximum`` is above ``ratio``, else None."""
    if maximum <= 0 or used / maximum <= ratio:
        return None
    return reason("mysql.connections",
                  "{used} connexions ouvertes sur {max} possibles (seuil {pct_fr} %)",
                  "{used} connections open out of {max} allowed (threshold {pct} %)",
                  used=used, max=maximum, pct=_num(ratio * 100), pct_fr=_fr(ratio * 100))


class MysqlProbe(Probe):
    """Connects to MySQL or MariaDB, runs a query, checks connections and replication."""

    kind = "mysql"
    Config = MysqlConfig
    description = "MySQL/MariaDB: connection, query with expected value, replication lag, connections"
    samples = (
        SampleSpec("mysql_replication_lag_seconds", "Seconds the replica is behind its source"),
        SampleSpec("mysql_connections", "Connections open on the server (Threads_connected)"),
        SampleSpec("mysql_max_connections", "The server's max_connections"),
        SampleSpec("mysql_query_seconds", "Duration of the check query"),
    )
    info_keys = ("version",)

    async def check(self, config: MysqlConfig, ctx: ProbeContext) -> ProbeResult:
        """One connection, one query, the connection counts and (optionally) replication."""
        clock = _Clock(budget(ctx.timeout))
        conn = await _connect(config, clock.left(config.connect_timeout))
        try:
            result = await self._inspect(conn, config, clock)
        except ProbeFailed:
            await _quit(conn)
            raise
        except BaseException:
            conn.close()
            raise
        await _quit(conn)
        return result

    async def _inspect(self, conn: aiomysql.Connection, config: MysqlConfig, clock: _Clock) -> ProbeResult:
        samples: dict[str, float | dict[str, float]] = {}
        info: dict[str, str] = {}
        try:
            await _server_limit(conn, config, clock)
            ((version, maximum),) = await _fetch(conn, "SELECT VERSION(), @@max_connections",
                                                 clock.left(config.query_timeout))
            info["version"] = str(version)
            ((_, used),) = await _fetch(conn, "SHOW GLOBAL STATUS LIKE 'Threads_connected'",
                                        clock.left(config.query_timeout))
            samples["mysql_connections"] = float(used)
            samples["mysql_max_connections"] = float(maximum)

            limit = clock.left(config.query_timeout)
            started = asyncio.get_running_loop().time()
            rows = await _fetch(conn, config.query or "SELECT 1", limit)
            samples["mysql_query_seconds"] = asyncio.get_running_loop().time() - started
            problems = [_expectation(config, rows)]
            if config.replication:
                status, why, lag = await self._replication(conn, config, clock)
                if lag is not None:
                    samples["mysql_replication_lag_seconds"] = lag
                problems.append((status, why))
            why = connections_state(int(used), int(maximum), config.max_connections_ratio)
            problems.append((Status.DEGRADED if why else Status.UP, why))
        except ProbeFailed as exc:
            exc.samples = {**samples, **exc.samples}
            exc.info = {**info, **exc.info}
            raise
        except aiomysql.MySQLError as exc:
            raise ProbeFailed(_query_error(exc), samples=samples, info=info) from None
        status, why = max(problems, key=lambda p: p[0])
        if status >= Status.DOWN:
            raise ProbeFailed(why, status=status, samples=samples, info=info)
        return ProbeResult(status, why, samples=samples, info=info)

    async def _replication(self, conn, config: MysqlConfig, clock: _Clock):
        try:
            try:
                rows = await _fetch(conn, "SHOW REPLICA STATUS", clock.left(config.query_timeout), True)
            except aiomysql.ProgrammingError as exc:
                if exc.args[0] != _SYNTAX_ERROR:
                    raise
                # MySQL before 8.0.22, MariaDB before 10.5.1
                rows = await _fetch(conn, "SHOW SLAVE STATUS", clock.left(config.query_timeout), True)
        except aiomysql.MySQLError as exc:
            if exc.args and exc.args[0] == _PRIVILEGE_NEEDED:
                raise _fail("mysql.privilege",
                            "L'utilisateur de supervision n'a pas le droit de lire l'état de la "
                            "réplication (privilège REPLICATION CLIENT ou REPLICA MONITOR)",
                            "The monitoring user may not read the replication status "
                            "(privilege REPLICATION CLIENT or REPLICA MONITOR)",
                            status=Status.UNKNOWN) from None
            raise
        return replication_state(list(rows), config.max_lag)


def _expectation(config: MysqlConfig, rows) -> tuple[Status, Reason | None]:
    if config.expect is None:
        return Status.UP, None
    if not rows:
        return Status.DOWN, reason("mysql.no_rows",
                                   "La requête n'a renvoyé aucune ligne (attendu : {expected})",
                                   "The query returned no rows (expected: {expected})",
                                   expected=_short(config.expect))
    got = _value_text(rows[0][0])
    if got != config.expect:
        return Status.DOWN, reason("mysql.unexpected",
                                   "La requête a renvoyé « {got} » au lieu de « {expected} »",
                                   "The query returned '{got}' instead of '{expected}'",
                                   got=_short(got), expected=_short(config.expect))
    return Status.UP, None


def _query_error(exc: aiomysql.MySQLError) -> Reason:
    return reason("mysql.query", "La requête a échoué : {detail}", "The query failed: {detail}",
                  detail=_detail(exc))


async def _server_limit(conn: aiomysql.Connection, config: MysqlConfig, clock: _Clock) -> None:
    """Ask the server to stop any statement of this session that outlives our own limit."""
    seconds = clock.left(config.query_timeout) + _SERVER_LIMIT_GRACE
    if "mariadb" in conn.get_server_info().lower():
        sql = f"SET SESSION max_statement_time = {seconds:.3f}"
    else:
        sql = f"SET SESSION max_execution_time = {int(seconds * 1000)}"
    try:
        await _fetch(conn, sql, clock.left(config.query_timeout))
    except aiomysql.MySQLError as exc:
        # an old server without the variable: our own limit still applies
        if not (exc.args and exc.args[0] in (_UNKNOWN_VARIABLE, _PRIVILEGE_NEEDED)):
            raise


async def _quit(conn: aiomysql.Connection) -> None:
    """Say goodbye (COM_QUIT) so the server logs no aborted connection, then close."""
    try:
        await conn.ensure_closed()
    except Exception:  # the connection is gone anyway; nothing to report
        pass
    finally:
        conn.close()


@hookimpl
def vigie_register_probes():
    """Register the ``mysql`` probe kind."""
    return [MysqlProbe]
