"""Two ``vigie run`` nodes of one cluster (PostgreSQL) and a real ``vigie agent`` pushing
to the node that does **not** own its check: the owner reads the results back from the
database (woken by the ingest's NOTIFY) and takes the verdicts; the outage is one
incident and one alert, sent by the leader."""

from __future__ import annotations

import pytest

from monitor.cluster.ownership import owner
from tests.monitor.agents_e2e.harness import (
    AgentProcess,
    Receiver,
    Server,
    Targets,
    eventually,
)

KEY = "web/home"
HOME = 'vigie_check_status{check="home",kind="http",service="web"}'


def config(node: str, targets: Targets, receiver: Receiver) -> str:
    return f"""\
site: {{public_url: "https://etat.exemple.coop/"}}
scheduler: {{spread_first_runs: false}}
incidents: {{quiet_period: 2s}}
notifications:
  urls: [{{name: hook, url: '{receiver.url}'}}]
cluster: {{enabled: true, node: {node}, heartbeat: 0.5s, dead_after: 4, lease: 3s}}
locations:
  remote: [{{name: lyon, label: Lyon}}]
services:
  - id: web
    name: Web
    checks:
      - {{id: home, kind: http, url: '{targets.url}/home', interval: 1s, retry_interval: 1s,
          confirm: 2, timeout: 5s, locations: [lyon]}}
      - {{id: here, kind: http, url: '{targets.url}/here', interval: 1s, timeout: 5s}}
"""


@pytest.fixture
def cluster(tmp_path, postgres_schema_url):
    targets, receiver = Targets(), Receiver()
    nodes = {name: Server(tmp_path / name, config(name, targets, receiver),
                          database=postgres_schema_url) for name in ("a", "b")}
    agent = None
    try:
        for node in nodes.values():
            node.start()
        eventually(lambda: nodes["a"].value(
            "SELECT count(*) FROM cluster_nodes WHERE left_at IS NULL") == 2,
            "both nodes joined")
        owning = owner(KEY, nodes)
        other = next(n for n in nodes if n != owning)
        token = nodes[other].add_token("lyon-1", "lyon")
        agent = AgentProcess(nodes[other], "lyon-1", token, tmp_path).start()
        yield nodes[owning], nodes[other], targets, receiver
    finally:
        if agent is not None:
            agent.close()
        for node in nodes.values():
            node.close()
        targets.close()
        receiver.close()


def test_the_owner_judges_results_pushed_to_another_node(cluster):
    owning, other, targets, receiver = cluster
    eventually(lambda: owning.metrics().get(HOME) == 0.0,
               "the owner judges the check up from results it did not receive")
    assert owning.metrics()[
        'vigie_check_location_status{check="home",location="lyon",service="web"}'] == 0.0
    # the node that received them does not judge it, nor export its locations' series
    received = other.metrics()
    assert HOME not in received
    assert not any(k.startswith("vigie_check_location_status") for k in received)
    assert received['vigie_location_reachable{location="lyon"}'] == 1.0

    targets.failing = {"lyon"}
    eventually(lambda: owning.metrics().get(HOME) == 2.0, "the owner confirms the outage")
    eventually(lambda: owning.value("SELECT count(*) FROM incidents") == 1, "one incident")
    eventually(lambda: receiver.failures(), "the volunteers' alert")
    start = owning.count("lyon")
    eventually(lambda: owning.count("lyon") >= start + 3, "more results of lyon")
    assert owning.value("SELECT count(*) FROM incidents") == 1
    assert len(receiver.failures()) == 1
    # every verdict of the check was taken once, by its owner: one results row per
    # lyon result at most, never two for one run
    assert owning.value(
        "SELECT count(*) FROM (SELECT r.started_at FROM results r JOIN checks c ON "
        "c.id = r.check_id WHERE c.key = :k GROUP BY r.started_at HAVING count(*) > 1) d",
        k=KEY) == 0
