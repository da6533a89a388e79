"""A real ``vigie run`` and three real ``vigie agent`` processes (tokens made by ``vigie
agent-token add``) watching a local target: a target failing for one location only is
no outage and no incident for members, while volunteers see that location failing; two
locations of three failing is the outage, with one alert and one incident."""

from __future__ import annotations

import json

import pytest

from tests.monitor.agents_e2e.harness import (
    AgentProcess,
    Receiver,
    Server,
    Targets,
    eventually,
)

LOCATIONS = ("lyon", "marseille", "nice")


def config(targets: Targets, receiver: Receiver) -> str:
    return f"""\
site: {{public_url: "https://etat.exemple.coop/"}}
scheduler: {{spread_first_runs: false}}
incidents: {{quiet_period: 2s}}
notifications:
  urls: [{{name: hook, url: '{receiver.url}'}}]
locations:
  self: {{name: paris, label: {{fr: "Paris (serveur)", en: "Paris (server)"}}}}
  remote:
    - {{name: lyon, label: Lyon}}
    - {{name: marseille, label: Marseille}}
    - {{name: nice, label: Nice}}
  silent_after: 10m
services:
  - id: web
    name: {{fr: Hébergement web, en: Web hosting}}
    checks:
      - {{id: home, kind: http, url: '{targets.url}/home', interval: 1s, retry_interval: 1s,
          confirm: 2, timeout: 5s, locations: [lyon, marseille, nice]}}
  - id: panel
    name: {{fr: Panneau, en: Panel}}
    checks:
      - {{id: api, kind: http, url: '{targets.url}/api', interval: 1s, retry_interval: 1s,
          confirm: 2, timeout: 5s, locations: [paris, lyon]}}
"""


@pytest.fixture
def world(tmp_path, request):
    """The server (on the database the test asks for: SQLite by default), its three
    agents, the target and the alert receiver, all running."""
    database = None
    if getattr(request, "param", "sqlite") == "postgresql":
        database = request.getfixturevalue("postgres_schema_url")
    targets, receiver = Targets(), Receiver()
    server = Server(tmp_path / "server", config(targets, receiver), database=database)
    agents = []
    try:
        server.start()
        for location in LOCATIONS:
            token = server.add_token(f"{location}-1", location)
            agents.append(AgentProcess(server, f"{location}-1", token, tmp_path).start())
        yield server, agents, targets, receiver
    finally:
        for agent in agents:
            agent.close()
        server.close()
        targets.close()
        receiver.close()


def location_status(server: Server, location: str, check: str = "home",
                    service: str = "web") -> float | None:
    return server.metrics().get(f'vigie_check_location_status{{check="{check}",'
                                f'location="{location}",service="{service}"}}')


def more_results(server: Server, locations: tuple[str, ...], count: int = 3) -> None:
    """Wait until each of ``locations`` has sent ``count`` more results (the consensus
    was decided again at each)."""
    start = {name: server.count(name) for name in locations}
    eventually(lambda: all(server.count(n) >= start[n] + count for n in locations),
               f"{count} more results from {', '.join(locations)}")


@pytest.mark.parametrize("world", ["sqlite", "postgresql"], indirect=True)
def test_one_location_failing_is_no_outage_two_of_three_are(world):
    server, agents, targets, receiver = world
    home = 'vigie_check_status{check="home",kind="http",service="web"}'
    # every agent runs the check, and members see it up
    eventually(lambda: all(location_status(server, n) == 0.0 for n in LOCATIONS),
               "the three locations judge the check up")
    eventually(lambda: server.metrics().get(home) == 0.0, "the check up for members")
    assert {f"at {n})" for n in LOCATIONS} <= {a[-len(n) - 4:] for a in targets.agents
                                              for n in LOCATIONS}

    # the target fails for lyon alone
    targets.failing = {"lyon"}
    eventually(lambda: location_status(server, "lyon") == 2.0, "lyon confirms the failure")
    more_results(server, ("marseille", "nice"))
    metrics = server.metrics()
    assert metrics[home] == 0.0  # members: up
    assert metrics['vigie_check_locations_failing{check="home",service="web"}'] == 1.0
    assert location_status(server, "marseille") == location_status(server, "nice") == 0.0
    assert server.value("SELECT count(*) FROM incidents") == 0
    assert receiver.failures() == []
    status, body = server.get("/api/v1/summary.json")
    summary = json.loads(body)
    assert status == 200 and summary["status"]["indicator"] == "none"
    assert summary["incidents"] == []
    assert {c["id"]: c["status"] for c in summary["components"]}["web"] == "operational"
    # the stored verdicts say "partial" (volunteers' words), never down
    reasons = {r[0] for r in server.rows(
        "SELECT r.reason_code FROM results r JOIN checks c ON c.id = r.check_id "
        "WHERE c.key = 'web/home' AND r.status <> 0")}
    assert reasons == set()
    assert "vigie.locations.partial" in {r[0] for r in server.rows(
        "SELECT r.reason_code FROM results r JOIN checks c ON c.id = r.check_id "
        "WHERE c.key = 'web/home'")}
    # the panel's check runs on the server too: its own runs are kept beside lyon's
    assert server.value("SELECT count(*) FROM location_results WHERE location = 'paris' "
                        "AND token_id IS NULL AND check_key = 'panel/api'") > 0

    # marseille too: two locations of three, the quorum: the outage
    targets.failing = {"lyon", "marseille"}
    eventually(lambda: server.value("SELECT count(*) FROM incidents") == 1,
               "one incident opened")
    eventually(lambda: receiver.failures(), "the volunteers' alert")
    eventually(lambda: server.metrics().get(home) == 2.0, "the check down for members")
    more_results(server, LOCATIONS)
    assert server.value("SELECT count(*) FROM incidents") == 1
    [alert] = receiver.failures()
    assert "Hébergement web" in alert["title"] + alert["message"]
    # members see it too (the page's snapshot follows the database)
    eventually(lambda: len(json.loads(server.get("/api/v1/incidents")[1])["incidents"]) == 1,
               "the incident on the members' API")
    assert location_status(server, "nice") == 0.0

    # the target recovers: one incident, resolved
    targets.failing = set()
    eventually(lambda: server.value("SELECT count(*) FROM incidents WHERE resolved_at IS "
                                    "NOT NULL") == 1, "the incident resolved")
    assert server.value("SELECT count(*) FROM incidents") == 1
    assert len(receiver.failures()) == 1
    for agent in agents:
        assert agent.process is not None and agent.process.proc.poll() is None
