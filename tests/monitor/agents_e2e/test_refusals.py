"""Refusals through a real ``vigie run`` on PostgreSQL, tokens made and revoked by the
command line: a revoked token stops its real ``vigie agent`` (exit 78, the server's
sentence in its log); a batch naming a check of another location, a batch too large
(bytes, or results), a malformed batch: each refused with its status, code and
sentence, nothing of it stored."""

from __future__ import annotations

import json
import time

import pytest

from tests.monitor.agents_e2e.harness import AgentProcess, Server, Targets, eventually


def config(targets: Targets) -> str:
    return f"""\
scheduler: {{spread_first_runs: false}}
agents: {{max_batch_bytes: 64KiB, max_batch_results: 100}}
locations:
  remote: [{{name: lyon, label: Lyon}}, {{name: marseille, label: Marseille}}]
services:
  - id: web
    name: Web
    checks:
      - {{id: home, kind: http, url: '{targets.url}/home', interval: 1s, timeout: 5s,
          locations: [lyon, marseille]}}
      - {{id: far, kind: http, url: '{targets.url}/far', interval: 1s, timeout: 5s,
          locations: [marseille]}}
"""


@pytest.fixture
def server(tmp_path, postgres_schema_url):
    targets = Targets()
    made = Server(tmp_path / "server", config(targets), database=postgres_schema_url)
    try:
        yield made.start()
    finally:
        made.close()
        targets.close()


def result(seq: int, check: str = "web/home", status: str = "up") -> dict:
    return {"seq": seq, "check": check, "started_at": time.time() - 5, "duration": 0.01,
            "status": status}


def push(server: Server, token: str, body: bytes | dict, **headers: str):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, answered, raw = server.post("/api/agent/v1/results", data, {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        "Accept": "application/json", **headers})
    return status, answered, json.loads(raw)


def batch(*results: dict) -> dict:
    return {"agent": "lyon-1", "boot": "b", "batch": 1, "sent_at": time.time(),
            "results": list(results)}


def refused(server: Server, reason: str) -> float:
    return server.metrics().get(f'vigie_agent_batches_refused_total{{reason="{reason}"}}',
                                0.0)


def test_a_revoked_token_stops_its_agent(server, tmp_path):
    agent = AgentProcess(server, "lyon-2", server.add_token("lyon-2", "lyon"),
                         tmp_path).start()
    try:
        eventually(lambda: server.results_of("lyon-2"), "the agent's first results")
        server.cli("agent-token", "revoke", "lyon-2")
        assert agent.exit_code() == 78
        output = agent.output()
        assert "refuses this agent's token" in output
        assert "token_revoked" in output and "revoked" in output.split("token_revoked")[1]
        listed = server.cli("agent-token", "list").stdout
        assert "lyon-2" in listed and "revoked" in listed
        # nothing of it was stored after the revocation
        assert server.value(
            "SELECT count(*) FROM location_results r JOIN agent_tokens t ON t.id = "
            "r.token_id WHERE t.name = 'lyon-2' AND r.received_at >= t.revoked_at") == 0
    finally:
        agent.close()


def test_batches_refused_for_their_content_store_nothing(server):
    token = server.add_token("lyon-1", "lyon")
    cases = [
        # a check that runs at marseille only
        (batch(result(1), result(2, "web/far")), {}, 403, "wrong_location",
         "results[1].check", "does not run at the location “lyon”"),
        # a check nobody knows
        (batch(result(1, "web/nothing")), {}, 403, "wrong_location", "results[0].check",
         "“web/nothing”"),
        # more bytes than agents.max_batch_bytes (refused by the listener, in JSON)
        (batch(*[{**result(i), "info": {"pad": "x" * 1000}} for i in range(1, 80)]), {},
         413, "too_large", None, "at most 65536 bytes"),
        # more results than agents.max_batch_results
        (batch(*[result(i) for i in range(1, 102)]), {}, 413, "too_large", "results",
         "101 results, at most 100"),
        (batch(result(1, status="sideways")), {}, 400, "malformed", "results[0].status",
         "Input should be 'up', 'degraded', 'down', 'unknown' or 'maintenance'"),
        (batch(result(1), result(1)), {}, 400, "malformed", "results[1].seq",
         "seq 1 is already results[0]"),
        (b'{"agent": "lyon-1", "results": [', {}, 400, "malformed", "body",
         "not valid JSON"),
        (batch(result(1)), {"Content-Type": "text/plain"}, 415, "unsupported_media_type",
         None, "Content-Type: application/json"),
    ]
    for body, headers, status, code, field, words in cases:
        before = refused(server, code)
        got, answer_headers, answer = push(server, token, body, **headers)
        assert (got, answer["error"]) == (status, code), (code, answer)
        assert answer.get("field") == field, answer
        assert words in answer["message"], answer
        assert answer_headers["Content-Type"].startswith("application/json")
        assert server.results_of("lyon-1") == [], code  # nothing stored
        if field is not None:  # (the listener refuses a body too large before the API)
            assert refused(server, code) == before + 1, code
    # French when asked
    _, _, answer = push(server, token, batch(result(1, "web/far")), **{
        "Accept-Language": "fr-FR,fr;q=0.9"})
    assert answer["message"].startswith("La vérification « web/far » ne s'exécute pas"), \
        answer["message"]
    # the token itself is fine: a batch of its own checks is taken
    got, _, answer = push(server, token, batch(result(1), result(2)))
    assert (got, answer) == (200, {"stored": 2, "duplicates": 0, "last_seq": 2})
    assert [seq for _, seq in server.results_of("lyon-1")] == [1, 2]
    # an unknown token and a revoked one: 401, with their own sentence
    got, headers, answer = push(server, "vga_" + "x" * 43, batch(result(3)))
    assert (got, answer["error"]) == (401, "token_unknown")
    assert headers["WWW-Authenticate"].startswith("Bearer")
    server.cli("agent-token", "revoke", "lyon-1")
    got, _, answer = push(server, token, batch(result(3)))
    assert (got, answer["error"]) == (401, "token_revoked")
    assert [seq for _, seq in server.results_of("lyon-1")] == [1, 2]
