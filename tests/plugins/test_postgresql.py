"""The ``postgresql`` probe against the machine's real PostgreSQL.

The server listens on 127.0.0.1:5432 with trust authentication and a ``test`` database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import aiohttp
import psycopg
import pydantic
import pytest
from sqlalchemy.engine import make_url

import plugins.postgresql as postgresql_plugin
from monitor.config import Check, LocalizedText
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import CheckRef, ProbeFailed, ProbeResult, Status
from monitor.runner import probe_context, run_check
from plugins._dbprobe import connections_state
from plugins.postgresql import PostgresqlProbe, primary_state, standby_state
from tests.conftest import free_port


async def run(options: dict, timeout: float = 5.0) -> ProbeResult:
    """Validate ``options`` and run the probe once, as the runner would."""
    config = PostgresqlProbe.Config.model_validate(options)
    async with aiohttp.ClientSession() as http:
        ctx = probe_context(CheckRef("db", "pg", "postgresql"), timeout, http)
        try:
            return await PostgresqlProbe().check(config, ctx)
        except ProbeFailed as exc:
            return ProbeResult(exc.status, exc.reason, exc.samples, exc.info)


@pytest.fixture
def base(postgres_url: str) -> dict:
    url = make_url(postgres_url)
    return {"host": url.host, "port": url.port or 5432, "user": url.username,
            "database": url.database}


async def admin(base: dict, sql: str) -> list:
    """Run one statement on the test server as the test user; its rows."""
    conn = await psycopg.AsyncConnection.connect(host=base["host"], port=base["port"],
                                                 user=base["user"], dbname=base["database"],
                                                 autocommit=True)
    try:
        cur = await conn.execute(sql)
        return await cur.fetchall() if cur.description else []
    finally:
        await conn.close()


@pytest.fixture
async def plain_role(base: dict):
    """A login role without any privilege (no pg_monitor), dropped afterwards."""
    name = f"vg_{uuid.uuid4().hex[:10]}"
    await admin(base, f"CREATE ROLE {name} LOGIN PASSWORD 'pw-{uuid.uuid4().hex}'")
    yield name
    await admin(base, f"DROP ROLE IF EXISTS {name}")


async def test_passes_and_reports_version_and_connections(base):
    result = await run(base)
    assert result.status is Status.UP, result.reason
    assert result.info["version"].split()[0][0].isdigit()
    assert result.samples["postgresql_connections"] >= 1
    assert result.samples["postgresql_max_connections"] >= result.samples["postgresql_connections"]
    assert 0 <= result.samples["postgresql_query_seconds"] < 1


async def test_query_with_expected_value(base):
    result = await run({**base, "query": "SELECT 40 + 2", "expect": 42})
    assert result.status is Status.UP, result.reason


async def test_query_with_unexpected_value(base):
    result = await run({**base, "query": "SELECT 'lecture seule'", "expect": "ok"})
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.unexpected"
    assert "lecture seule" in result.reason.fr and "“ok”" in result.reason.en
    assert not result.reason.public  # data from the database: volunteers only


async def test_query_boolean_is_compared_as_psql_shows_it(base):
    assert (await run({**base, "query": "SELECT true", "expect": "t"})).status is Status.UP


async def test_query_without_rows(base):
    result = await run({**base, "query": "SELECT 1 WHERE false", "expect": "1"})
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.no_rows"
    assert result.reason.public  # only the configured value is quoted


async def test_query_error_says_what_the_server_said(base):
    table = f"missing_{uuid.uuid4().hex[:8]}"
    result = await run({**base, "query": f"SELECT * FROM {table}"})
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.query"
    assert not result.reason.public  # the server's words: volunteers only
    assert f'relation "{table}" does not exist' in result.reason.en


async def test_unknown_user_is_refused_without_echoing_the_password(base):
    # the server trusts 127.0.0.1, so a wrong password still logs in: an unknown role
    # takes the same "refused" path a wrong password takes under scram/md5
    password = f"pw-{uuid.uuid4().hex}"
    result = await run({**base, "user": f"nobody_{uuid.uuid4().hex[:8]}", "password": password})
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.auth"
    assert password not in result.reason.fr + result.reason.en + repr(result)


async def test_unknown_database(base):
    result = await run({**base, "database": f"missing_{uuid.uuid4().hex[:8]}"})
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.database"


async def test_unreachable_port():
    result = await run({"host": "127.0.0.1", "port": free_port(), "user": "postgres"})
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.unreachable"


async def test_silent_server_times_out_and_the_socket_is_closed():
    # accepts TCP but never answers the startup packet: only our deadline can end it
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # b"" once the probe hangs up
        closed.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await run({"host": "127.0.0.1", "port": port, "user": "postgres",
                            "connect_timeout": "0.5s"})
        assert result.status is Status.DOWN
        # the connect limit fired (it names its 0.5 s), not the run's 5 s deadline
        assert result.reason.code == "postgresql.connect_timeout"
        assert "0,5 s" in result.reason.fr and "0.5 s" in result.reason.en
        await asyncio.wait_for(closed.wait(), 1)
    finally:
        server.close()
        await server.wait_closed()


async def test_query_timeout_returns_on_time(base):
    result = await run({**base, "query": "SELECT pg_sleep(60)", "query_timeout": "1s"})
    assert result.status is Status.DOWN
    # the query limit fired and names its 1 s (the run's deadline is 5 s away)
    assert result.reason.code == "postgresql.query_timeout"
    assert "1 s" in result.reason.en
    assert result.samples["postgresql_connections"] >= 1


@pytest.mark.parametrize(
    ("options", "timeout", "earliest", "latest"),
    [
        # statement_timeout (1 s) cannot fire: the probe hangs up one second later
        ({"query_timeout": "1s"}, 5.0, 1.5, 3.0),
        # no query_timeout: it hangs up before the runner's deadline (1.5 s) all the same
        ({}, 1.5, 0.8, 1.5),
    ],
)
async def test_frozen_server_is_hung_up_on(base, options, timeout, earliest, latest):
    # a backend that cannot even run its statement_timeout (stopped with SIGSTOP): the
    # probe must hang up by itself instead of waiting on the socket
    if os.geteuid() != 0:
        pytest.skip("stopping a PostgreSQL backend needs root")
    marker = f"vg_{uuid.uuid4().hex[:10]}"
    started = time.monotonic()
    task = asyncio.create_task(run({**base, "query": f"SELECT pg_sleep(5) AS {marker}",
                                    **options}, timeout=timeout))
    pid = None
    while pid is None and time.monotonic() - started < 0.8:
        rows = await admin(base, "SELECT pid FROM pg_stat_activity WHERE query LIKE "
                                 f"'%AS {marker}' AND pid <> pg_backend_pid()")
        pid = rows[0][0] if rows else None
    assert pid is not None, "the probe's query never showed up"
    os.kill(pid, signal.SIGSTOP)
    try:
        result = await asyncio.wait_for(task, 4)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert earliest < time.monotonic() - started < latest
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.query_timeout"


async def test_standby_check_on_a_primary(base):
    result = await run({**base, "replication": "standby"})
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.not_standby"
    assert "postgresql_replication_lag_seconds" not in result.samples
    assert result.samples["postgresql_connections"] >= 1


async def test_replication_true_means_standby(base):
    assert (await run({**base, "replication": True})).reason.code == "postgresql.not_standby"


async def test_primary_without_its_replica(base):
    result = await run({**base, "replication": "primary", "expected_replicas": 1})
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.no_replicas"


async def test_primary_expecting_no_replica_passes(base):
    result = await run({**base, "replication": "primary", "expected_replicas": 0})
    assert result.status is Status.UP, result.reason


async def test_connections_above_the_ratio_are_degraded(base):
    result = await run({**base, "max_connections_ratio": 0.0})
    assert result.status is Status.DEGRADED
    assert result.reason.code == "postgresql.connections"


async def test_a_role_without_pg_monitor_still_counts_its_connection(base, plain_role):
    result = await run({**base, "user": plain_role, "max_connections_ratio": 0.0})
    assert result.status is Status.DEGRADED
    assert result.samples["postgresql_connections"] >= 1


async def test_the_worst_verdict_wins(base):
    # a wrong value (down) outranks too many connections (degraded), whatever the order
    result = await run({**base, "query": "SELECT 1", "expect": "2", "max_connections_ratio": 0})
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.unexpected"


@pytest.mark.parametrize(
    ("args", "status", "code"),
    [
        ((True, 2.0, 1), Status.UP, None),
        ((True, 0.0, 1), Status.UP, None),
        ((True, 300.0, 1), Status.DEGRADED, "postgresql.replication_lag"),
        ((True, None, 1), Status.DOWN, "postgresql.replication_broken"),
        ((True, 2.0, 0), Status.DOWN, "postgresql.replication_stopped"),
        ((False, 0.0, 0), Status.DOWN, "postgresql.not_standby"),
    ],
)
def test_standby_state(args, status, code):
    got, why = standby_state(*args, max_lag=60)
    assert got is status
    assert (why.code if why else None) == code


@pytest.mark.parametrize(
    ("rows", "expected", "status", "code", "lag"),
    [
        ([("r1", "streaming", 0.5)], 1, Status.UP, None, 0.5),
        ([("r1", "streaming", None)], 1, Status.UP, None, 0.0),  # idle, caught up
        ([("r1", "streaming", 120.0)], 1, Status.DEGRADED, "postgresql.replication_lag", 120.0),
        ([("r1", "catchup", 1.0)], 1, Status.DOWN, "postgresql.no_replicas", None),
        ([], 1, Status.DOWN, "postgresql.no_replicas", None),
        ([("r1", "streaming", 1.0)], 2, Status.DEGRADED, "postgresql.missing_replicas", 1.0),
        ([("r1", None, None)], 1, Status.UNKNOWN, "postgresql.privilege", None),
        ([], 0, Status.UP, None, None),
    ],
)
def test_primary_state(rows, expected, status, code, lag):
    got, why, got_lag = primary_state(rows, expected, max_lag=60)
    assert got is status
    assert (why.code if why else None) == code
    assert got_lag == lag


def test_connections_state():
    assert connections_state("postgresql", 10, 100, 0.9) is None
    assert connections_state("postgresql", 95, 100, 0.9).code == "postgresql.connections"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"expect": "1"}, "give a 'query' too"),
        ({"sslmode": "maybe"}, "sslmode"),
        ({"replication": "sideways"}, "replication"),
        ({"expected_replicas": -1}, "greater than or equal to 0"),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
        ({"password": "a", "password_file": "/nonexistent"}, "not both"),
    ],
)
def test_invalid_config(options, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        PostgresqlProbe.Config.model_validate({"host": "db", "user": "u", **options})


def test_password_file_is_a_secret(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret-value\n")
    config = PostgresqlProbe.Config.model_validate({"host": "db", "user": "u",
                                                    "password_file": str(secret)})
    assert config.password.get_secret_value() == "s3cret-value"
    assert "s3cret-value" not in repr(config)


async def test_the_probe_explains_a_timeout_before_the_runner_cuts_it(base):
    # the probe keeps a margin under the check's timeout to say what was slow; the runner's
    # own deadline would only give a generic "no answer in time"
    config = PostgresqlProbe.Config.model_validate({**base, "query": "SELECT pg_sleep(5)"})
    check = Check(ref=CheckRef("svc", "slow", PostgresqlProbe.kind), name=LocalizedText(fr="Lent"),
                  interval=300, timeout=1.0, confirm=2, retry_interval=30, options=config)
    async with aiohttp.ClientSession() as http:
        result = await run_check(check, PostgresqlProbe(), http)
    assert result.status is Status.DOWN
    assert result.reason.code == "postgresql.query_timeout"  # not the runner's "timeout"


def test_registered_as_a_plugin():
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("postgresql", postgresql_plugin)])
    kind = ProbeRegistry.from_plugin_manager(pm).get("postgresql")
    assert kind is not None and kind.probe_class is PostgresqlProbe
