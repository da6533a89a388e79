"""``POST /api/agent/v1/results`` through Vigie's real listener, on SQLite and PostgreSQL:
a batch stored once and in order, its instants moved onto the server's clock, each new
result handed on after the commit; every refusal of the issue (revoked token, another
location's check, oversized batch, malformed batch, rate limit, not JSON) answered with
its status and code, and nothing stored."""

from __future__ import annotations

import json
import threading

import pytest

from monitor.agents.service import AgentOperations
from monitor.agents.settings import AgentSettings
from monitor.probe import Status
from tests.monitor.agents.conftest import T0, result, start_agents


def test_a_batch_is_stored_in_seq_order_on_the_servers_clock(agents):
    token = agents.tokens["lyon-1"]
    agents.clock.now = T0 + 7.5  # the server's clock is 7.5 s ahead of the agent's
    sent = [result(3, status="down", reason={"code": "http.status", "fr": "Statut HTTP 503",
                                            "en": "HTTP status 503", "public": True}),
            result(1), result(2, check="web/api")]
    answer = agents.push(token, sent, sent_at=T0, buffered=12, dropped=4)
    assert answer.status == 200, answer.body
    assert answer.json == {"stored": 3, "duplicates": 0, "last_seq": 3}
    rows = agents.stored()
    assert [(r.seq, r.check_key, r.location) for r in rows] == [
        (1, "web/home", "lyon"), (2, "web/api", "lyon"), (3, "web/home", "lyon")]
    for row in rows:
        # stored instant = agent's started_at + (received_at - sent_at); raw values kept
        assert row.agent_started_at == T0 - 100 + row.seq
        assert row.received_at == T0 + 7.5
        assert row.started_at == pytest.approx(row.agent_started_at + 7.5)
    assert rows[2].status == int(Status.DOWN)
    assert rows[2].reason == {"code": "http.status", "fr": "Statut HTTP 503",
                              "en": "HTTP status 503", "public": True}
    assert rows[0].samples == {"latency_seconds": 0.05}
    # handed on after the commit, in seq order, on the server's clock
    assert [(k, loc, r.status, r.started_at) for k, loc, r in agents.sink.seen] == [
        ("web/home", "lyon", Status.UP, pytest.approx(T0 - 99 + 7.5)),
        ("web/api", "lyon", Status.UP, pytest.approx(T0 - 98 + 7.5)),
        ("web/home", "lyon", Status.DOWN, pytest.approx(T0 - 97 + 7.5))]
    [record] = [r for r in _records(agents) if r.name == "lyon-1"]
    assert (record.buffered, record.dropped, record.last_batch_at, record.last_seq,
            record.state, record.last_seen_address) == (12, 4, T0 + 7.5, 3, "active",
                                                         "127.0.0.1")


def _records(agents):
    from monitor.agents.service import agents as listed

    with agents.store.session() as session:
        return listed(session)


def test_a_resent_batch_is_acknowledged_and_stored_once(agents):
    token = agents.tokens["lyon-1"]
    first = agents.push(token, [result(1), result(2)])
    assert first.json == {"stored": 2, "duplicates": 0, "last_seq": 2}
    again = agents.push(token, [result(1), result(2)])  # the answer was lost: sent again
    assert again.status == 200 and again.json == {"stored": 0, "duplicates": 2,
                                                  "last_seq": 2}
    overlapping = agents.push(token, [result(2), result(3), result(4)])
    assert overlapping.json == {"stored": 2, "duplicates": 1, "last_seq": 4}
    assert [r.seq for r in agents.stored()] == [1, 2, 3, 4]
    assert [r.started_at for _k, _l, r in agents.sink.seen] == sorted(
        r.started_at for _k, _l, r in agents.sink.seen)
    assert len(agents.sink.seen) == 4  # the duplicates were not handed on again


def test_the_same_seq_from_another_token_is_another_result(agents):
    agents.push(agents.tokens["lyon-1"], [result(1)])
    answer = agents.push(agents.tokens["paris-1"], [result(1, check="mail/smtp")])
    assert answer.json["stored"] == 1
    assert [(r.seq, r.location) for r in agents.stored()] == [(1, "lyon"), (1, "paris")]


def test_an_empty_batch_is_news_of_the_agent(agents):
    agents.clock.now = T0 + 60
    answer = agents.push(agents.tokens["lyon-1"], [], buffered=0, dropped=0)
    assert answer.json == {"stored": 0, "duplicates": 0, "last_seq": None}
    [record] = [r for r in _records(agents) if r.name == "lyon-1"]
    assert record.last_batch_at == T0 + 60 and agents.count() == 0


def test_outside_text_crosses_the_boundary(agents):
    hostile = {"code": "http.status\x00", "fr": "Statut \u202e503\x1b[31m",
               "en": "Status\n503", "public": True}
    answer = agents.push(agents.tokens["lyon-1"], [result(1, status="down", reason=hostile,
                                                           info={"version\x07": "1.0\u200f"})])
    assert answer.status == 200
    [row] = agents.stored()
    assert "\x00" not in row.reason["code"] and "\u202e" not in row.reason["fr"]
    assert "\n" not in row.reason["en"] and row.reason["public"] is False
    [(_key, _loc, handed)] = agents.sink.seen
    assert handed.info == {"version": "1.0"} and handed.reason.public is False


# Refusals: each with its status and code, and nothing stored --------------------------


def _nothing_stored(agents):
    assert agents.count() == 0 and agents.sink.seen == []


def test_a_revoked_token_stops_at_the_next_batch(agents):
    token = agents.tokens["lyon-1"]
    assert agents.push(token, [result(1)]).status == 200
    ops = AgentOperations(agents.assignments)
    with agents.store.write_session() as session, session.begin():
        ops.revoke_token(session, "lyon-1")
    refused = agents.push(token, [result(2)])
    assert refused.status == 401
    assert refused.json["error"] == "token_revoked"
    assert "revoked" in refused.json["message"]
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert [r.seq for r in agents.stored()] == [1]
    assert agents.request("GET", "/checks", token=token).json["error"] == "token_revoked"
    assert agents.system.health.refused_counts() == {"token_revoked": 1}


@pytest.mark.parametrize("token", [None, "", "vga_" + "x" * 43, "not-a-token",
                                   "vga_" + "A" * 500])
def test_a_missing_or_unknown_token_is_refused(agents, token):
    answer = agents.request("POST", "/results", b"{}", token=token)
    assert answer.status == 401 and answer.json["error"] == "token_unknown"
    assert "Authorization: Bearer" in answer.json["message"]
    _nothing_stored(agents)


def test_a_check_of_another_location_refuses_the_whole_batch(agents):
    answer = agents.push(agents.tokens["lyon-1"],
                         [result(1), result(2, check="mail/smtp"), result(3)])
    assert answer.status == 403
    assert answer.json["error"] == "wrong_location"
    assert answer.json["field"] == "results[1].check"
    assert "mail/smtp" in answer.json["message"] and "lyon" in answer.json["message"]
    unknown = agents.push(agents.tokens["lyon-1"], [result(1, check="web/nope")])
    assert unknown.status == 403 and unknown.json["field"] == "results[0].check"
    _nothing_stored(agents)


def test_a_batch_over_max_batch_bytes_is_refused_413(agents):
    limit = agents.system.settings.max_batch_bytes
    padding = "x" * 1000
    many = [result(i, info={"pad": padding}) for i in range(1, limit // 1000 + 10)]
    answer = agents.push(agents.tokens["lyon-1"], many)
    assert answer.status == 413
    assert answer.json["error"] == "too_large"
    assert str(limit) in answer.json["message"]
    _nothing_stored(agents)


def test_a_batch_over_max_batch_bytes_is_refused_by_the_app_too(tmp_path, store_url):
    # the listener's limit for the path is the setting itself; a listener configured
    # larger (server.paths) still leaves the refusal to the application
    made = start_agents(store_url, tmp_path, AgentSettings(max_batch_bytes=2048))
    try:
        made.server.stop()
        from monitor.router import Router
        from monitor.web import WebServer
        from monitor.agents.app import PREFIX
        from monitor.config import PathSettings

        router = Router(metrics=lambda: b"", health=lambda: {"ok": True},
                        metrics_content_type="text/plain")
        router.mount(PREFIX, made.system.app)
        made.server = WebServer(router, "127.0.0.1", 0, threads=2,
                                paths={PREFIX: PathSettings(max_body=1 << 20)})
        made.server.start()
        answer = made.push(made.tokens["lyon-1"], [result(i) for i in range(1, 40)])
        assert answer.status == 413 and answer.json["error"] == "too_large"
        assert answer.json["field"] == "body"
        _nothing_stored(made)
    finally:
        made.server.stop()
        made.store.dispose()


def test_a_batch_over_max_batch_results_is_refused_413(tmp_path, store_url):
    made = start_agents(store_url, tmp_path, AgentSettings(max_batch_results=3))
    try:
        answer = made.push(made.tokens["lyon-1"], [result(i) for i in range(1, 5)])
        assert answer.status == 413
        assert answer.json["error"] == "too_large" and answer.json["field"] == "results"
        assert "at most 3" in answer.json["message"]
        _nothing_stored(made)
        assert made.push(made.tokens["lyon-1"], [result(i) for i in range(1, 4)]).status == 200
    finally:
        made.server.stop()
        made.store.dispose()


def _batch(**changes):
    body = {"agent": "lyon-1", "boot": "6f1c", "batch": 1, "sent_at": T0, "buffered": 0,
            "dropped": 0, "results": [result(1), result(2), result(3), result(4)]}
    for key, value in changes.items():
        if key.startswith("r3_"):
            body["results"][3][key[3:]] = value
        elif value is _DROP:
            del body[key]
        else:
            body[key] = value
    return json.dumps(body).encode()


_DROP = object()


@pytest.mark.parametrize(("body", "field"), [
    (b"{not json", "body"),
    (b"[1, 2]", "body"),
    (_batch(r3_status="sideways"), "results[3].status"),
    (_batch(r3_seq=-1), "results[3].seq"),
    (_batch(r3_seq=True), "results[3].seq"),
    (_batch(r3_seq="4"), "results[3].seq"),
    (_batch(r3_seq=2), "results[3].seq"),  # twice in the batch
    (_batch(r3_started_at="yesterday"), "results[3].started_at"),
    (_batch(r3_duration=-0.5), "results[3].duration"),
    (_batch(r3_check=None), "results[3].check"),
    (_batch(r3_reason={"fr": "sans code"}), "results[3].reason.code"),
    (_batch(r3_samples={"latency_seconds": "fast"}), "results[3].samples.latency_seconds"),
    (_batch(r3_info={"version": 3}), "results[3].info.version"),
    (_batch(r3_samples={"bad\nname\u202e": "x"}), "results[3].samples.bad name"),
    (_batch(sent_at=_DROP), "sent_at"),
    (_batch(results={"seq": 1}), "results"),
    (_batch(buffered=-3), "buffered"),
    (b'{"agent": "a", "boot": "b", "batch": 1, "sent_at": NaN, "results": []}', "sent_at"),
])
def test_a_malformed_batch_is_refused_naming_the_field(agents, body, field):
    answer = agents.request("POST", "/results", body, token=agents.tokens["lyon-1"])
    assert answer.status == 400, answer.body
    assert answer.json["error"] == "malformed"
    assert answer.json["field"] == field
    assert answer.json["message"].startswith(f"Malformed batch: {field}: ")
    _nothing_stored(agents)


def test_the_messages_are_french_when_asked(agents):
    answer = agents.request("POST", "/results", b"{", token=agents.tokens["lyon-1"],
                            headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert answer.json["message"].startswith("Lot malformé")
    assert answer.json["message_en"].startswith("Malformed batch")


def test_a_body_that_is_not_json_is_refused_415(agents):
    answer = agents.request("POST", "/results", b"seq=1", token=agents.tokens["lyon-1"],
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 415 and answer.json["error"] == "unsupported_media_type"
    _nothing_stored(agents)


def test_pushes_beyond_the_rate_are_refused_429_until_the_minute_passes(tmp_path, store_url):
    made = start_agents(store_url, tmp_path, AgentSettings(pushes_per_minute=2))
    try:
        lyon, paris = made.tokens["lyon-1"], made.tokens["paris-1"]
        assert made.push(lyon, [result(1)]).status == 200
        made.clock.advance(20)
        assert made.push(lyon, [result(2)]).status == 200
        made.clock.advance(10)
        refused = made.push(lyon, [result(3)])
        assert refused.status == 429 and refused.json["error"] == "rate_limited"
        assert refused.headers["retry-after"] == "30"  # the first push leaves the minute
        assert made.push(paris, [result(1, check="mail/smtp")]).status == 200  # per token
        made.clock.advance(30)
        assert made.push(lyon, [result(3)]).status == 200
        assert [r.seq for r in made.stored() if r.location == "lyon"] == [1, 2, 3]
        assert made.system.health.refused_counts() == {"rate_limited": 1}
    finally:
        made.server.stop()
        made.store.dispose()


def test_other_methods_and_paths_are_refused_in_json(agents):
    token = agents.tokens["lyon-1"]
    wrong = agents.request("GET", "/results", token=token)
    assert wrong.status == 405 and wrong.headers["allow"] == "POST"
    assert agents.request("GET", "/nowhere", token=token).json["error"] == "not_found"


def test_the_same_batch_at_two_nodes_at_once_is_stored_once(agents):
    """Two nodes of a cluster (two applications, their own listeners, one database)
    take the same batch at the same moment: each result is stored once."""
    from monitor.agents.app import PREFIX
    from monitor.agents.system import AgentSystem
    from monitor.router import Router
    from monitor.store import Store
    from monitor.web import WebServer

    store = Store(str(agents.store.engine.url.render_as_string(hide_password=False)))
    other = AgentSystem(store, agents.assignments, agents.system.settings,
                        probe_kinds=agents.system.app.probe_kinds, clock=agents.clock)
    router = Router(metrics=lambda: b"", health=lambda: {"ok": True},
                    metrics_content_type="text/plain")
    router.mount(PREFIX, other.app)
    node = WebServer(router, "127.0.0.1", 0, threads=2, paths=other.listener_paths({}))
    node.start()
    try:
        batch = [result(i) for i in range(1, 201)]
        token = agents.tokens["lyon-1"]
        start = threading.Barrier(2)
        answers = []

        def push(port):
            start.wait()
            answers.append(_push_to(port, token, batch, agents.clock()))

        threads = [threading.Thread(target=push, args=(port,))
                   for port in (agents.server.port, node.port)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(a["stored"] + a["duplicates"] for a in answers) == [200, 200]
        assert sum(a["stored"] for a in answers) == 200
        assert [r.seq for r in agents.stored()] == list(range(1, 201))
    finally:
        node.stop()
        store.dispose()


def _push_to(port: int, token: str, results: list[dict], sent_at: float) -> dict:
    import http.client

    body = json.dumps({"agent": "lyon-1", "boot": "b", "batch": 1, "sent_at": sent_at,
                       "results": results}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/api/agent/v1/results", body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        return json.loads(response.read())
    finally:
        connection.close()


def test_refusals_are_logged_once_a_minute_and_never_with_the_token(agents, caplog):
    caplog.set_level("WARNING", logger="monitor.agents")
    token = "vga_" + "Z" * 43
    for _ in range(5):
        assert agents.request("POST", "/results", b"{}", token=token).status == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "monitor.agents.app"]
    assert len(lines) == 1 and "Unknown agent token" in lines[0]
    assert token not in caplog.text and "ZZZZ" not in caplog.text


def test_a_database_that_cannot_be_reached_is_503_unavailable(tmp_path):
    from werkzeug.test import Client

    from monitor.agents.app import AgentApp
    from monitor.agents.assignments import NO_LOCATIONS
    from monitor.store import Store
    from tests.conftest import free_port

    store = Store(f"postgresql://vigie@127.0.0.1:{free_port()}/nowhere?connect_timeout=5")
    try:
        client = Client(AgentApp(store, NO_LOCATIONS, AgentSettings()))
        answer = client.post("/results", data=b"{}", headers={
            "Authorization": "Bearer vga_" + "A" * 43, "Content-Type": "application/json"})
        assert answer.status_code == 503 and answer.json["error"] == "unavailable"
        assert answer.headers["Retry-After"] == "30"
    finally:
        store.dispose()
