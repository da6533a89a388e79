"""The server away while its agents run, and an agent killed: a real ``vigie run``
stopped and started again while three real ``vigie agent`` processes keep running their
checks (each keeps its results on disk, watched there), then every result of the gap is
stored once, in each agent's order, at its own time; an agent ``kill -9``ed and started
again sends nothing twice and goes on with the next seq."""

from __future__ import annotations

import re

import pytest

from tests.monitor.agents_e2e.harness import AgentProcess, Server, Targets, eventually

LOCATIONS = ("lyon", "marseille", "nice")


def config(targets: Targets, api_at: str = "lyon, marseille, nice") -> str:
    return f"""\
scheduler: {{spread_first_runs: false}}
locations:
  remote: [{{name: lyon}}, {{name: marseille}}, {{name: nice}}]
services:
  - id: web
    name: Web
    checks:
      - {{id: home, kind: http, url: '{targets.url}/home', interval: 1s, timeout: 5s,
          locations: [lyon, marseille, nice]}}
      - {{id: api, kind: http, url: '{targets.url}/api', interval: 1s, timeout: 5s,
          locations: [{api_at}]}}
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def world(tmp_path, request):
    database = None
    if request.param == "postgresql":
        database = request.getfixturevalue("postgres_schema_url")
    targets = Targets()
    server = Server(tmp_path / "server", config(targets), database=database)
    agents: dict[str, AgentProcess] = {}
    try:
        server.start()
        for location in LOCATIONS:
            name = f"{location}-1"
            agents[name] = AgentProcess(server, name, server.add_token(name, location),
                                        tmp_path).start()
        yield server, agents, targets
    finally:
        for agent in agents.values():
            agent.close()
        server.close()
        targets.close()


def stored_seqs(server: Server, name: str) -> list[int]:
    return [seq for _id, seq in server.results_of(name)]


def assert_each_once_in_order(server: Server, name: str) -> list[int]:
    """The agent's stored seqs: in id order strictly increasing, none twice, none
    missing (none was dropped: the agent says so on its token's row)."""
    seqs = stored_seqs(server, name)
    assert seqs == sorted(set(seqs)), name  # in order, none twice
    assert seqs == list(range(1, len(seqs) + 1)), name  # no hole
    assert server.value("SELECT dropped FROM agent_tokens WHERE name = :n", n=name) == 0
    # each check's runs are placed in the order they ran, on the server's clock
    for check in ("web/home", "web/api"):
        starts = [r[0] for r in server.rows(
            "SELECT r.started_at FROM location_results r JOIN agent_tokens t ON "
            "t.id = r.token_id WHERE t.name = :n AND r.check_key = :c ORDER BY r.seq",
            n=name, c=check)]
        assert starts == sorted(starts), (name, check)
    return seqs


def test_server_away_every_result_of_the_gap_stored_once_in_order(world):
    server, agents, _targets = world
    eventually(lambda: all(len(stored_seqs(server, n)) >= 4 for n in agents),
               "first results of the three agents")
    server.stop()
    stopped_at = server.value("SELECT max(received_at) FROM location_results")
    # the agents run on: each keeps its results on disk (watched there, not on a clock)
    before = {n: max(a.spooled(), default=0) for n, a in agents.items()}
    for name, agent in agents.items():
        eventually(lambda agent=agent, name=name: len(
            [s for s in agent.spooled() if s > before[name]]) >= 8,
            f"{name} keeps results of the gap on disk")
        eventually(lambda agent=agent: "cannot send results" in agent.output(),
                   f"{name} says the server is away")
    gap = {n: max(a.spooled()) for n, a in agents.items()}

    server.start()
    for name in agents:
        eventually(lambda name=name: max(stored_seqs(server, name), default=0) >= gap[name],
                   f"every result {name} kept during the gap stored")
    for name, agent in agents.items():
        seqs = assert_each_once_in_order(server, name)
        assert set(range(before[name] + 1, gap[name] + 1)) <= set(seqs)
        assert "answers again" in agent.output()
    # the gap's results are placed at their runs' time (the agent's clock moved onto the
    # server's at each batch), not when they finally arrived
    restarted_at = server.value("SELECT min(received_at) FROM location_results "
                                "WHERE received_at > :t", t=stopped_at)
    placed = server.value("SELECT count(*) FROM location_results WHERE started_at > :a "
                          "AND started_at < :b", a=stopped_at, b=restarted_at - 1)
    assert placed >= 3 * 8


def test_an_agent_killed_sends_nothing_twice_and_its_seq_goes_on(world):
    server, agents, _targets = world
    agent = agents["lyon-1"]
    eventually(lambda: len(stored_seqs(server, "lyon-1")) >= 6, "lyon's first results")
    agent.kill()
    # every seq handed out is on its disk, or stored (its segment deleted once taken)
    highest = max([*agent.spooled(), *stored_seqs(server, "lyon-1")])
    agent.start()
    assert agent.process is not None
    agent.process.wait_line("next seq", "the restarted agent opens its spool")
    [next_seq] = re.findall(r"next seq (\d+)", agent.output())
    assert int(next_seq) == highest + 1  # no seq handed out twice
    eventually(lambda: max(stored_seqs(server, "lyon-1")) >= highest + 6,
               "the restarted agent's results stored")
    assert_each_once_in_order(server, "lyon-1")
    for name in ("marseille-1", "nice-1"):
        assert_each_once_in_order(server, name)


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)
def test_results_of_a_check_moved_away_meanwhile_are_dropped_counted_and_the_rest_goes(
        world):
    """While the server is away, ``web/api`` stops running at nice (the server starts
    again with another configuration): nice's results of it waiting on disk are refused
    (403 ``wrong_location``), each dropped and counted, and every other result of the
    gap is stored, in order."""
    server, agents, targets = world
    agent = agents["nice-1"]
    eventually(lambda: len(stored_seqs(server, "nice-1")) >= 4, "nice's first results")
    server.stop()
    before = max(agent.spooled(), default=0)
    eventually(lambda: sum(1 for seq, check in agent.spooled_checks().items()
                           if seq > before and check == "web/api") >= 3,
               "results of web/api kept on nice's disk during the gap")
    held = agent.spooled_checks()
    moved = {seq for seq, check in held.items() if seq > before and check == "web/api"}
    server.configure(config(targets, api_at="lyon, marseille"))
    server.start()
    eventually(lambda: max(stored_seqs(server, "nice-1"), default=0) >= max(held),
               "nice's gap sent")
    eventually(lambda: server.value("SELECT dropped FROM agent_tokens WHERE name = "
                                    "'nice-1'") >= len(moved), "the refused results counted")
    seqs = stored_seqs(server, "nice-1")
    assert seqs == sorted(set(seqs))  # in order, none twice
    missing = set(range(1, max(seqs) + 1)) - set(seqs)
    assert moved <= missing  # none of the moved check's results of the gap stored
    # every hole is a refused result, each counted once
    assert len(missing) == server.value(
        "SELECT dropped FROM agent_tokens WHERE name = 'nice-1'")
    assert "refuses the result seq" in agent.output()
    assert "wrong_location" in agent.output()
    # the agent fetched its new list: web/api runs no more there
    eventually(lambda: "1 checks for location nice" in agent.output(), "the new list")
