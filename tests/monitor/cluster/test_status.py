"""What volunteers and Prometheus see of the cluster: the status read from the database
(``vigie cluster status``, its words in both languages and its exit code) and the
metrics collector's families."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitor.cli_common import EXIT_DOWN, EXIT_OK, EXIT_UNKNOWN
from monitor.cluster.clock import Clock
from monitor.cluster.leadership import Leadership
from monitor.cluster.membership import Membership
from monitor.cluster.metrics import CLUSTER_METRICS, ClusterCollector
from monitor.cluster.node import ClusterNode
from monitor.cluster.status import read_status, summary, table
from tests.conftest import which_or_require
from tests.monitor.cluster.conftest import T0
from tests.test_cli_usage import vigie

DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"


def join(engine, settings, clock, name: str, **kw) -> Membership:
    member = Membership(engine, name, f"inc-{name}", settings, clock=clock, **kw)
    member.join()
    return member


def test_the_nodes_and_the_leader_at_the_database_s_time(engine, settings, clock):
    join(engine, settings, clock, "a", address="10.0.0.1:8080", version="1.0")
    Leadership(engine, "a", "inc-a", settings.lease, clock=clock).try_acquire_or_renew()
    clock.advance(2)
    join(engine, settings, clock, "b")
    c = join(engine, settings, clock, "c")
    c.leave()
    clock.advance(14)
    with engine.connect() as conn:
        status = read_status(conn, settings, clock)
    # a beat 16 s ago: dead; b 14 s ago: live; c left. a's lease ran out at 15
    assert [(n.name, n.state, n.heartbeat_age) for n in status.nodes] == [
        ("a", "dead", 16.0), ("b", "live", 14.0), ("c", "left", 14.0)]
    assert (status.now, status.leader, status.epoch, status.lease_left, status.live) == (
        T0 + 16, None, 1, None, ("b",))
    assert summary(status).en == "No leader: nobody holds the lease (last epoch 1)."
    assert summary(status).fr == ("Aucun leader : personne ne détient le bail (dernière "
                                  "époque 1).")


def test_a_leader_is_marked_with_its_lease(engine, settings, clock):
    join(engine, settings, clock, "a", address="10.0.0.1:8080", version="1.0")
    Leadership(engine, "a", "inc-a", settings.lease, clock=clock).try_acquire_or_renew()
    clock.advance(2.5)
    with engine.connect() as conn:
        status = read_status(conn, settings, clock)
    assert (status.leader, status.epoch, status.lease_left) == ("a", 1, 12.5)
    assert table(status, lambda at: f"@{at - T0:g}") == [
        ("NODE", "STATE", "LAST BEAT", "STARTED", "ADDRESS", "VERSION"),
        ("a *", "live", "2.5s ago", "@0", "10.0.0.1:8080", "1.0")]
    assert summary(status).en == "Leader: a, epoch 1; its lease runs for 12.5 s more."
    assert summary(status).fr == "Leader : a, époque 1 ; son bail court encore 12,5 s."


def test_an_empty_cluster(engine, settings, clock):
    with engine.connect() as conn:
        status = read_status(conn, settings, clock)
    assert (status.nodes, status.leader, status.epoch) == ((), None, 0)
    assert summary(status).fr == "Aucun leader : aucun nœud n'a rejoint le cluster."


def config_file(tmp_path, url: str, enabled: bool = True) -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text(f"store: {{url: '{url}'}}\n"
                    f"cluster: {{enabled: {str(enabled).lower()}, node: a}}\n")
    return path


def test_the_command_shows_the_leader_and_exits_0(engine, settings, postgres_schema_url,
                                                  tmp_path):
    clock = Clock.database()  # the command reads the database's clock
    join(engine, settings, clock, "a", address="127.0.0.1:8080")
    Leadership(engine, "a", "inc-a", 3600, clock=clock).try_acquire_or_renew()
    path = config_file(tmp_path, postgres_schema_url)
    out = vigie("-c", str(path), "cluster", "status")
    assert out.returncode == EXIT_OK, out.stderr
    header, row, last = out.stdout.splitlines()
    assert header.split() == ["NODE", "STATE", "LAST", "BEAT", "STARTED", "ADDRESS", "VERSION"]
    assert row.split()[:3] == ["a", "*", "live"] and "127.0.0.1:8080" in row
    assert re.fullmatch(r"Leader: a, epoch 1; its lease runs for \d+\.\d s more\.", last)
    french = vigie("-c", str(path), "cluster", "status", lang="fr_FR.UTF-8")
    assert re.fullmatch(r"Leader : a, époque 1 ; son bail court encore \d+,\d s\.",
                        french.stdout.splitlines()[-1])


def test_the_command_exits_2_without_a_leader(engine, settings, postgres_schema_url,
                                              tmp_path):
    join(engine, settings, Clock.database(), "a")
    out = vigie("-c", str(config_file(tmp_path, postgres_schema_url)), "cluster", "status")
    assert out.returncode == EXIT_DOWN, out.stderr
    assert out.stdout.splitlines()[-1] == "No leader: nobody holds the lease (last epoch 0)."


def test_the_command_refuses_when_cluster_mode_is_off(store, postgres_schema_url, tmp_path):
    path = config_file(tmp_path, postgres_schema_url, enabled=False)
    out = vigie("-c", str(path), "cluster", "status")
    assert out.returncode == EXIT_UNKNOWN
    assert out.stderr.strip() == f"Error: Cluster mode is off (cluster.enabled is false in {path})."
    french = vigie("-c", str(path), "cluster", "status", lang="fr_FR.UTF-8")
    assert french.stderr.strip() == (f"Erreur : Le mode cluster est désactivé (cluster.enabled "
                                     f"vaut false dans {path}).")


def test_the_command_refuses_a_database_not_migrated(postgres_schema_url, tmp_path):
    out = vigie("-c", str(config_file(tmp_path, postgres_schema_url)), "cluster", "status")
    assert out.returncode == EXIT_UNKNOWN
    assert "run 'vigie db upgrade' first" in out.stderr and "Traceback" not in out.stderr


def test_the_command_says_when_the_database_is_unreachable(tmp_path):
    from tests.conftest import free_port

    url = f"postgresql://vigie:s3cret@127.0.0.1:{free_port()}/vigie"
    out = vigie("-c", str(config_file(tmp_path, url)), "cluster", "status")
    assert out.returncode == EXIT_UNKNOWN
    assert "unreachable" in out.stderr and "s3cret" not in out.stderr
    assert "Traceback" not in out.stderr


# Metrics --------------------------------------------------------------------------------


async def leading_node(engine, settings, clock) -> ClusterNode:
    node = ClusterNode(engine, settings, clock=clock)
    await node.start()
    await node.step()
    node.checks_owned = 42
    return node


def registry_of(node: ClusterNode) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ClusterCollector(node))
    return registry


async def test_the_families_read_the_node(engine, settings, clock):
    node = await leading_node(engine, settings, clock)
    get = registry_of(node).get_sample_value
    assert (get("vigie_cluster_nodes"), get("vigie_cluster_leader"),
            get("vigie_cluster_fencing_epoch"), get("vigie_cluster_checks_owned")) == (
        1, 1, 1, 42)
    other = ClusterNode(engine, settings.model_copy(update={"node": "b"}), clock=clock)
    await other.start()
    await other.step()
    get = registry_of(other).get_sample_value
    assert (get("vigie_cluster_nodes"), get("vigie_cluster_leader"),
            get("vigie_cluster_fencing_epoch"), get("vigie_cluster_checks_owned")) == (
        2, 0, 1, 0)
    emitted = set(re.findall(r"^# TYPE (vigie_\w+) ",
                             generate_latest(registry_of(node)).decode(), re.M))
    assert emitted == CLUSTER_METRICS


async def test_promtool_accepts_them_and_the_docs_list_them(engine, settings, clock):
    promtool = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    node = await leading_node(engine, settings, clock)
    checked = subprocess.run([promtool, "check", "metrics"],
                             input=generate_latest(registry_of(node)),
                             capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    docs = DOCS.read_text(encoding="utf-8")
    assert [name for name in sorted(CLUSTER_METRICS) if f"`{name}" not in docs] == []


@pytest.mark.parametrize("name", sorted(CLUSTER_METRICS))
def test_the_names_follow_the_convention(name):
    assert name.startswith("vigie_cluster_") and not name.endswith("_total")
