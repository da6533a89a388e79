"""The ``mysql`` probe against the machine's real MariaDB (127.0.0.1:3306, root, db ``test``)."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import aiomysql
import pydantic
import pytest

import plugins.mysql as mysql_plugin
from monitor.config import Check, LocalizedText
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import CheckRef, ProbeFailed, ProbeResult, Status
from monitor.runner import probe_context, run_check
from plugins._dbprobe import connections_state
from plugins.mysql import MysqlProbe, replication_state
from tests.conftest import free_port


async def run(options: dict, timeout: float = 5.0) -> ProbeResult:
    """Validate ``options`` and run the probe once, as the runner would."""
    config = MysqlProbe.Config.model_validate(options)
    async with aiohttp.ClientSession() as http:
        ctx = probe_context(CheckRef("db", "mysql", "mysql"), timeout, http)
        try:
            return await MysqlProbe().check(config, ctx)
        except ProbeFailed as exc:
            return ProbeResult(exc.status, exc.reason, exc.samples, exc.info)


@pytest.fixture
def base(mariadb: dict) -> dict:
    return {"host": mariadb["host"], "port": mariadb["port"], "user": mariadb["user"],
            "database": mariadb["db"]}


async def admin(mariadb: dict, *statements: str) -> list:
    """Run statements as root on the test server; the rows of the last one."""
    conn = await aiomysql.connect(host=mariadb["host"], port=mariadb["port"], user="root",
                                  password="", db=mariadb["db"], autocommit=True)
    try:
        async with conn.cursor() as cur:
            for sql in statements:
                await cur.execute(sql)
            return list(await cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
async def monitoring_user(mariadb: dict):
    """A dedicated user with a password and no privilege beyond SELECT on ``test``."""
    name = f"vg_{uuid.uuid4().hex[:10]}"
    password = f"pw-{uuid.uuid4().hex}"
    await admin(mariadb, f"CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{password}'",
                f"GRANT SELECT ON test.* TO '{name}'@'127.0.0.1'")
    yield name, password
    await admin(mariadb, f"DROP USER IF EXISTS '{name}'@'127.0.0.1'")


async def test_passes_and_reports_version_and_connections(base):
    result = await run(base)
    assert result.status is Status.UP, result.reason
    assert "MariaDB" in result.info["version"]
    assert result.samples["mysql_connections"] >= 1
    assert result.samples["mysql_max_connections"] >= result.samples["mysql_connections"]
    assert 0 <= result.samples["mysql_query_seconds"] < 1


async def test_query_with_expected_value(base):
    result = await run({**base, "query": "SELECT 40 + 2", "expect": 42})
    assert result.status is Status.UP, result.reason


async def test_query_with_unexpected_value(base):
    result = await run({**base, "query": "SELECT 'lecture seule'", "expect": "ok"})
    assert result.status is Status.DOWN
    assert result.reason.code == "mysql.unexpected"
    assert "lecture seule" in result.reason.fr and "“ok”" in result.reason.en
    assert not result.reason.public  # data from the database: volunteers only


async def test_query_without_rows(base):
    result = await run({**base, "query": "SELECT 1 FROM DUAL WHERE 1 = 0", "expect": "1"})
    assert result.status is Status.DOWN
    assert result.reason.code == "mysql.no_rows"
    assert result.reason.public  # only the configured value is quoted


async def test_query_error_says_what_the_server_said(base):
    result = await run({**base, "query": f"SELECT * FROM missing_{uuid.uuid4().hex[:8]}"})
    assert result.status is Status.DOWN
    assert result.reason.code == "mysql.query"
    assert not result.reason.public  # the server's words: volunteers only
    assert "doesn't exist" in result.reason.en


async def test_wrong_password_is_refused_without_echoing_it(base, monitoring_user):
    name, password = monitoring_user
    wrong = f"wrong-{uuid.uuid4().hex}"
    result = await run({**base, "user": name, "password": wrong})
    assert result.status is Status.DOWN
    assert result.reason.code == "mysql.auth"
    for text in (result.reason.fr, result.reason.en, repr(result)):
        assert wrong not in text and password not in text


async def test_password_file_is_read(base, monitoring_user, tmp_path):
    name, password = monitoring_user
    secret = tmp_path / "password"
    secret.write_text(password + "\n")
    result = await run({**base, "user": name, "password_file": str(secret)})
    assert result.status is Status.UP, result.reason
    assert password not in repr(MysqlProbe.Config.model_validate(
        {**base, "user": name, "password_file": str(secret)}))


async def test_unknown_database(base):
    result = await run({**base, "database": f"missing_{uuid.uuid4().hex[:8]}"})
    assert result.status is Status.DOWN
    assert result.reason.code == "mysql.database"


async def test_unreachable_port():
    result = await run({"host": "127.0.0.1", "port": free_port(), "user": "root"})
    assert result.status is Status.DOWN
    assert result.reason.code == "mysql.unreachable"


@pytest.mark.filterwarnings("error::ResourceWarning")  # closed by the probe, not by __del__
async def test_silent_server_times_out_and_the_socket_is_closed():
    # accepts TCP but never sends the MySQL greeting: only our own deadline can end it
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # b"" once the probe hangs up
        closed.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await run({"host": "127.0.0.1", "port": port, "user": "root",
                            "connect_timeout": "0.5s"})
        assert result.status is Status.DOWN
        # the connect limit fired (it names its 0.5 s), not the run's 5 s deadline
        assert result.reason.code == "mysql.connect_timeout"
        assert "0,5 s" in result.reason.fr and "0.5 s" in result.reason.en
        await asyncio.wait_for(closed.wait(), 1)
    finally:
        server.close()
        await server.wait_closed()


async def test_query_timeout_returns_on_time_and_the_server_stops_the_query(base, mariadb):
    marker = f"vg_{uuid.uuid4().hex[:10]}"
    # the query takes a named lock, held by its session, then sleeps
    result = await run({**base, "query": f"SELECT GET_LOCK('{marker}', 0), SLEEP(60) AS {marker}",
                        "query_timeout": "1s"})
    assert result.status is Status.DOWN
    # the query limit fired (the run's deadline is 5 s away, the query's own end 60 s)
    assert result.reason.code == "mysql.query_timeout"
    assert result.samples["mysql_connections"] >= 1  # what was measured before is kept
    # MariaDB does not notice a closed client during SLEEP(); the session's
    # max_statement_time must stop it long before its 60 s, and the session then ends,
    # freeing the lock: the server itself tells us, to a GET_LOCK waiting at most half that
    [(got,)] = await admin(mariadb, f"SELECT GET_LOCK('{marker}', 30)")
    assert got == 1, "the server did not stop the query"
    rows = await admin(mariadb, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                f"WHERE INFO LIKE '%{marker}%' AND ID <> CONNECTION_ID()")
    assert rows[0][0] == 0


async def test_replication_on_a_server_that_is_not_a_replica(base):
    result = await run({**base, "replication": True})
    assert result.status is Status.DOWN
    assert result.reason.code == "mysql.not_replica"
    assert "mysql_replication_lag_seconds" not in result.samples
    assert result.samples["mysql_connections"] >= 1


async def test_replication_without_the_privilege_is_unknown(base, monitoring_user):
    name, password = monitoring_user
    result = await run({**base, "user": name, "password": password, "replication": True})
    assert result.status is Status.UNKNOWN
    assert result.reason.code == "mysql.privilege"


async def test_this_server_names_the_columns_the_probe_reads(mariadb):
    # pins REFERENCE.md: MariaDB answers SHOW REPLICA STATUS with the Slave_* spellings
    conn = await aiomysql.connect(host=mariadb["host"], port=mariadb["port"], user="root",
                                  db=mariadb["db"])
    try:
        async with conn.cursor() as cur:
            await cur.execute("SHOW REPLICA STATUS")
            columns = {d[0] for d in cur.description}
    finally:
        conn.close()
    for pair in (("Replica_IO_Running", "Slave_IO_Running"),
                 ("Replica_SQL_Running", "Slave_SQL_Running"),
                 ("Seconds_Behind_Source", "Seconds_Behind_Master")):
        assert columns & set(pair), pair


async def test_connections_above_the_ratio_are_degraded(base):
    result = await run({**base, "max_connections_ratio": 0.0})
    assert result.status is Status.DEGRADED
    assert result.reason.code == "mysql.connections"


async def test_the_worst_verdict_wins(base):
    # a wrong value (down) outranks too many connections (degraded), whatever the order
    result = await run({**base, "query": "SELECT 1", "expect": "2", "max_connections_ratio": 0})
    assert result.status is Status.DOWN
    assert result.reason.code == "mysql.unexpected"


MYSQL_ROW = {"Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes",
             "Seconds_Behind_Source": 3}
MARIADB_ROW = {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes",
               "Seconds_Behind_Master": 3}


@pytest.mark.parametrize("row", [MYSQL_ROW, MARIADB_ROW], ids=["mysql", "mariadb"])
@pytest.mark.parametrize(
    ("change", "status", "code", "lag"),
    [
        ({}, Status.UP, None, 3.0),
        ({"lag": 120}, Status.DEGRADED, "mysql.replication_lag", 120.0),
        ({"lag": None}, Status.DOWN, "mysql.replication_broken", None),
        ({"io": "Connecting"}, Status.DOWN, "mysql.replication_stopped", None),
        ({"sql": "No"}, Status.DOWN, "mysql.replication_stopped", None),
    ],
)
def test_replication_state(row, change, status, code, lag):
    names = {"io": "IO_Running", "sql": "SQL_Running", "lag": "Seconds_Behind_"}
    row = dict(row)
    for key, value in change.items():
        column = next(c for c in row if names[key] in c)
        row[column] = value
    got_status, why, got_lag = replication_state([row], max_lag=60)
    assert got_status is status
    assert (why.code if why else None) == code
    assert got_lag == lag


def test_replication_state_edge_cases():
    assert replication_state([], 60)[1].code == "mysql.not_replica"
    assert replication_state([{"Foo": 1}], 60)[0] is Status.UNKNOWN
    # multi-source: the worst channel decides, the lag is the largest
    behind = {**MYSQL_ROW, "Seconds_Behind_Source": 90}
    status, why, lag = replication_state([MYSQL_ROW, behind], 60)
    assert (status, why.code, lag) == (Status.DEGRADED, "mysql.replication_lag", 90.0)
    stopped = replication_state([MARIADB_ROW, {**MARIADB_ROW, "Slave_IO_Running": "No"}], 60)
    assert stopped[0] is Status.DOWN
    assert "No" in stopped[1].en


def test_connections_state():
    assert connections_state("mysql", 10, 100, 0.9) is None
    assert connections_state("mysql", 91, 100, 0.9).code == "mysql.connections"
    assert connections_state("mysql", 5, 0, 0.9) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"expect": "1"}, "give a 'query' too"),
        ({"max_connections_ratio": 1.5}, "less than or equal to 1"),
        ({"port": 0}, "greater than or equal to 1"),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
        ({"max_lag": "soon"}, "invalid duration"),
    ],
)
def test_invalid_config(options, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        MysqlProbe.Config.model_validate({"host": "db", "user": "u", **options})


async def test_the_probe_explains_a_timeout_before_the_runner_cuts_it(base):
    # the probe keeps a margin under the check's timeout to say what was slow; the runner's
    # own deadline would only give a generic "no answer in time"
    config = MysqlProbe.Config.model_validate({**base, "query": "SELECT SLEEP(5)"})
    check = Check(ref=CheckRef("svc", "slow", MysqlProbe.kind), name=LocalizedText(fr="Lent"),
                  interval=300, timeout=1.0, confirm=2, retry_interval=30, options=config)
    async with aiohttp.ClientSession() as http:
        result = await run_check(check, MysqlProbe(), http)
    assert result.status is Status.DOWN
    assert result.reason.code == "mysql.query_timeout"  # not the runner's "timeout"


def test_registered_as_a_plugin():
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("mysql", mysql_plugin)])
    kind = ProbeRegistry.from_plugin_manager(pm).get("mysql")
    assert kind is not None and kind.probe_class is MysqlProbe
