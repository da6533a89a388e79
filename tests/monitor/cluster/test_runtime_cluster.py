"""``vigie run`` as nodes of a cluster, in one process (several Runtimes on one event loop
and one PostgreSQL schema): the checks are shared out, each run by one node; a node that
leaves gives its checks back at once; a node taking a check over starts from its state;
``/metrics`` exports the checks each node runs."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa

from monitor.config_loader import load_config
from monitor.exposition import render
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import Probe, ProbeConfig, ProbeResult, Status, reason
from monitor.runtime import Runtime, StartupError
from monitor.store import Store
from tests.conftest import free_port
from tests.peers import Changes

CHECKS = 24


class Counted(Probe):
    """Up; counts its runs by node (each runtime has its own instance)."""

    kind = "counted"
    Config = ProbeConfig
    description = "test probe"
    samples = ()
    #: node → check key → runs
    runs: Counter = Counter()
    changes: Changes | None = None
    #: the checks failing now
    failing: set[str] = set()
    #: (node, service, status) of each vigie_service_status_changed call
    told: list[tuple[str, str, str]] = []
    node = ""

    async def check(self, config, ctx):
        key = f"{ctx.check.service_id}/{ctx.check.check_id}"
        Counted.runs[(self.node, key)] += 1
        if Counted.changes is not None:
            Counted.changes.note()
        if key in Counted.failing:
            return ProbeResult.down(reason("test.off", "Éteint", "Switched off"))
        return ProbeResult.up()


class CountedPlugin:
    def __init__(self, node: str) -> None:
        self.node = node

    @hookimpl
    def vigie_register_probes(self):
        return [type(f"Counted_{self.node}", (Counted,), {"node": self.node})]

    @hookimpl
    def vigie_service_status_changed(self, service, previous, current, at):
        Counted.told.append((self.node, service.id, current.label))


def config_text(url: str, node: str, checks: int = CHECKS, extra: str = "") -> str:
    lines = [f"      - {{id: c{i}, kind: counted, interval: 0.5s, retry_interval: 0.2s}}"
             for i in range(checks)]
    return (f"server: {{listen: '127.0.0.1:{free_port()}'}}\n"
            f"store: {{url: '{url}', flush_interval: 0.1s}}\n"
            f"cluster: {{enabled: true, node: {node}, heartbeat: 0.3s, dead_after: 3, "
            f"lease: 2s}}\n{extra}"
            "services:\n  - id: web\n    name: Web\n    checks:\n" + "\n".join(lines) + "\n")


def make_runtime(tmp_path, url: str, node: str, **kw) -> Runtime:
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("counted", CountedPlugin(node))])
    registry = ProbeRegistry.from_plugin_manager(pm)
    path = tmp_path / f"{node}.yaml"
    path.write_text(config_text(url, node, **kw), encoding="utf-8")
    return Runtime(load_config(path, registry), pm, registry)


@contextlib.asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[Runtime]:
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    done, _ = await asyncio.wait([task, asyncio.ensure_future(ready.wait())],
                                 return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises the start-up failure
    try:
        yield runtime
    finally:
        stop.set()
        await task


async def until(changes: Changes, condition: Callable[[], bool], within: float = 30) -> None:
    await changes.wait(condition, within)


@pytest.fixture
def url(postgres_schema_url) -> str:
    store = Store(postgres_schema_url)
    store.upgrade()
    store.dispose()
    return postgres_schema_url


@pytest.fixture
def changes() -> Changes:
    Counted.runs = Counter()
    Counted.failing = set()
    Counted.told = []
    Counted.changes = Changes()
    return Counted.changes


def exported_checks(runtime: Runtime) -> set[str]:
    """The checks of the vigie_check_up series of the node's /metrics."""
    text = render(runtime.metrics_registry).decode()
    series = re.findall(r'^vigie_check_up\{check="([^"]+)",kind="[^"]*",service="([^"]+)"\}',
                        text, re.MULTILINE)
    return {f"{service}/{check}" for check, service in series}


def metric(runtime: Runtime, name: str) -> float | None:
    for line in render(runtime.metrics_registry).decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def owned(runtime: Runtime) -> frozenset[str]:
    assert runtime.role is not None
    return runtime.role.owned


async def test_nodes_share_the_checks_and_a_leaving_node_gives_them_back(tmp_path, url,
                                                                        changes):
    a = make_runtime(tmp_path, url, "a")
    b = make_runtime(tmp_path, url, "b")
    keys = {c.key for c in a.config.checks}
    async with running(a):
        await until(changes, lambda: owned(a) == keys)
        async with running(b):
            await until(changes, lambda: owned(a) | owned(b) == keys and owned(b)
                        and not owned(a) & owned(b))
            mine_b = owned(b)
            # b's checks run on b from now on, a's on a
            before = Counter(Counted.runs)
            await until(changes, lambda: all(Counted.runs[("b", k)] > before[("b", k)]
                                             for k in mine_b))
            assert set(a.scheduler.owned()) == owned(a)
            assert set(b.scheduler.owned()) == mine_b
            # each node exports the checks it runs: summed over the nodes, each once
            exported = [exported_checks(r) for r in (a, b)]
            assert exported == [owned(a), mine_b]
            assert [metric(r, "vigie_cluster_checks_owned") for r in (a, b)] == [
                len(owned(a)), len(mine_b)]
            assert {metric(r, "vigie_cluster_nodes") for r in (a, b)} == {2}
        # b left: a runs everything again at its next heartbeat
        await until(changes, lambda: owned(a) == keys)
        after = Counter(Counted.runs)
        await until(changes, lambda: all(Counted.runs[("a", k)] > after[("a", k)]
                                         for k in mine_b))


async def test_a_second_process_under_one_node_name_refuses_to_start(tmp_path, url,
                                                                     changes):
    a = make_runtime(tmp_path, url, "a")
    (tmp_path / "twin").mkdir()
    twin = make_runtime(tmp_path / "twin", url, "a")
    async with running(a):
        with pytest.raises(StartupError, match="another Vigie process already runs as "
                                               "this node"):
            async with running(twin):
                pass


async def test_a_check_taken_over_starts_from_its_stored_state(tmp_path, url, changes):
    """The node taking a check over reads its confirmed status and pending failures, and
    runs it when its last run plus its delay says."""
    a = make_runtime(tmp_path, url, "a")
    assert a.role is not None
    key = a.config.checks[0].key
    a.store.sync_catalog(a.config)
    from monitor.store.records import CheckStateRecord, ResultRecord

    a.store.write_batch([ResultRecord(key, 1_000.0, Status.DOWN, 0.1)],
                        states=[CheckStateRecord(key, Status.UP, 900.0, 1, 1_000.0)])
    stored = a.store.check_states([key])
    due = a.role.load(stored, now=1_010.0)
    check = a.own.checks[key]
    assert (check.status, check.since, check.failures) == (Status.UP, 900.0, 1)
    # a failure pending: due at its retry interval after the last run (30 s by default)
    assert due == {key: pytest.approx(1_000.0 + check.check.retry_interval - 1_010.0)}
    a.store.dispose()


async def test_one_node_leads_and_alone_runs_the_incident_work_then_hands_it_over(
        tmp_path, url, changes):
    a = make_runtime(tmp_path, url, "a")
    b = make_runtime(tmp_path, url, "b")
    async with running(a):
        await until(changes, lambda: a.incidents.ready and a.is_leader())
        assert a.startup_context().is_leader()
        async with running(b):
            await until(changes, lambda: owned(b))
            assert not b.is_leader() and not b.incidents.ready
            assert not b.startup_context().is_leader()
            assert metric(a, "vigie_cluster_leader") == 1.0
            assert metric(b, "vigie_cluster_leader") == 0.0
            epoch = a.role.node.epoch
            # the services are exported by the leader only
            assert "vigie_service_status{" in render(a.metrics_registry).decode()
            assert "vigie_service_status{" not in render(b.metrics_registry).decode()
        # b left; then a stops: its work ends before its lease, which it gives back
    assert not a.incidents.ready and a.role.leading is None
    c = make_runtime(tmp_path, url, "c")
    async with running(c):
        await until(changes, lambda: c.incidents.ready)
        assert c.role.node.epoch == epoch + 1


def db(runtime: Runtime, sql: str) -> list:
    with runtime.store.engine.connect() as conn:
        return list(conn.execute(sa.text(sql)).all())


async def test_a_check_failing_on_a_node_reaches_the_leader_which_opens_the_incident(
        tmp_path, url, changes):
    a = make_runtime(tmp_path, url, "a")
    b = make_runtime(tmp_path, url, "b")
    async with running(a):
        await until(changes, lambda: a.incidents.ready)
        async with running(b):
            await until(changes, lambda: owned(b))
            await until(changes, lambda: ("a", "web", "operational") in Counted.told)
            key = sorted(owned(b))[0]
            Counted.failing.add(key)
            # confirmed on b (confirm 2), applied by a from the feed: the service's
            # change, its incident and the hooks are a's alone
            await until(changes, lambda: ("a", "web", "partial_outage") in Counted.told)
            await until(changes, lambda: db(a, "SELECT count(*) FROM incidents")[0][0] == 1)
            assert not [t for t in Counted.told if t[0] == "b"]
            assert a.state.checks[key].status == Status.DOWN  # the leader's picture
            assert b.own.checks[key].status == Status.DOWN  # the owner's
            [(node, current)] = db(a, "SELECT t.node, t.current FROM cluster_transitions t "
                                      "JOIN checks c ON c.id = t.check_id "
                                      f"WHERE c.key = '{key}' AND t.current = 2")
            assert node == "b"
            # the cursor follows what the engine took
            await until(changes, lambda: db(a, "SELECT position FROM cluster_feed WHERE "
                                               "name = 'leader'")[0][0]
                        == db(a, "SELECT max(id) FROM cluster_transitions")[0][0])
            Counted.failing.clear()
            await until(changes, lambda: Counted.told[-1] == ("a", "web", "operational"))
    services = db(a, "SELECT current FROM service_status_changes ORDER BY at, id")
    assert [c for (c,) in services] == [0, 2, 0]  # operational, partial outage, back: once each


async def test_a_new_leader_goes_on_from_the_cursor_nothing_lost_nothing_twice(
        tmp_path, url, changes):
    """Transitions written while no node leads, and transitions the previous leader
    applied but could not mark (its cursor left behind): the next leader applies the
    first, and the second change nothing again."""
    a = make_runtime(tmp_path, url, "a")
    async with running(a):
        await until(changes, lambda: a.incidents.ready)
        await until(changes, lambda: ("a", "web", "operational") in Counted.told)
        key = sorted(owned(a))[0]
        Counted.failing.add(key)
        await until(changes, lambda: db(a, "SELECT count(*) FROM incidents")[0][0] == 1)
        await until(changes, lambda: db(a, "SELECT position FROM cluster_feed WHERE "
                                           "name = 'leader'")[0][0] >= 2)
    # a stopped; its cursor goes back before the check's failure (as if it died before
    # moving it), and the check recovers on its owner while no node leads
    [(down,)] = db(a, "SELECT id FROM cluster_transitions WHERE current = 2")
    with a.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE cluster_feed SET position = :p WHERE name = 'leader'"),
                     {"p": down - 1})
    Counted.failing.clear()
    Counted.told.clear()
    b = make_runtime(tmp_path, url, "b")
    async with running(b):
        await until(changes, lambda: ("b", "web", "operational") in Counted.told)
        await until(changes, lambda: db(b, "SELECT count(*) FROM incidents WHERE "
                                           "recovered_at IS NOT NULL")[0][0] == 1)
        # the down transition again (the status hooks, not durable, are told it again),
        # then the recovery
        assert Counted.told == [("b", "web", "partial_outage"), ("b", "web", "operational")]
    # what is durable happened once: one incident, one alert, each service change once
    assert db(b, "SELECT count(*) FROM incidents")[0][0] == 1
    assert [c for (c,) in db(b, "SELECT current FROM service_status_changes "
                                "ORDER BY at, id")] == [0, 2, 0]
    opened = db(b, "SELECT count(*) FROM outbox WHERE hook = 'vigie_incident_opened'")
    assert opened[0][0] == len({p for (p,) in db(b, "SELECT DISTINCT plugin FROM outbox")})
