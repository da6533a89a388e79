"""The agents' API wired into a real ``vigie run`` (Runtime, listener, scheduler, store):
the assignments come from the configuration's locations, each new result of a batch goes
to its location's state and the check's consensus, a result of a check that does not run
at the token's location is refused whole (403, nothing stored, nothing handed on), and
the server's own runs of a located check are written to ``location_results`` by the
store's writer thread, once each."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.error
import urllib.request

import pytest

from monitor.agents.assignments import assignments_of
from monitor.agents.service import AgentOperations
from monitor.config_loader import load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import Reason, Status
from monitor.runtime import Runtime
from monitor.store import Store
from monitor.store.records import OwnLocationRecord
from monitor.words import Bilingual
from tests.conftest import free_port
from tests.monitor.locations.test_runtime_locations import Recorder, applied

CONFIG = """\
data_dir: data
server: {{listen: '127.0.0.1:{port}'}}
scheduler: {{spread_first_runs: false}}
store: {{flush_interval: 0.1s}}
locations:
  self: {{name: paris}}
  remote: [{{name: lyon, label: Lyon}}, {{name: marseille, label: Marseille}}]
services:
  - id: web
    name: Web
    checks:
      - {{id: home, kind: steady, interval: 1h, confirm: 2,
          locations: [paris, lyon, marseille]}}
      - {{id: far, kind: steady, interval: 1h, locations: [marseille]}}
      - {{id: solo, kind: steady, interval: 1h}}
"""


def _push(port: int, token: str, results: list[dict]) -> tuple[int, dict]:
    body = json.dumps({"agent": "lyon-1", "boot": "b", "batch": 1, "sent_at": time.time(),
                       "results": results}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/agent/v1/results", data=body, headers={
            "Content-Type": "application/json", "Accept": "application/json",
            "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def _result(seq: int, check: str, status: str) -> dict:
    return {"seq": seq, "check": check, "started_at": time.time() - 10 + seq / 10,
            "duration": 0.05, "status": status,
            "reason": None if status == "up" else {"code": "http.status", "fr": "HTTP 503",
                                                   "en": "HTTP 503"}}


@pytest.fixture
async def vigie(tmp_path):
    recorder = Recorder()
    port = free_port()
    path = tmp_path / "vigie.yaml"
    path.write_text(CONFIG.format(port=port), encoding="utf-8")
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("recorder", recorder)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(path, registry), pm, registry)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        ops = AgentOperations(assignments_of(runtime.config))

        def tokens() -> dict[str, str]:
            with runtime.store.write_session() as session, session.begin():
                return {name: ops.add_token(session, name=name, location=place).token
                        for name, place in (("lyon-1", "lyon"), ("marseille-1", "marseille"))}
        made = await asyncio.to_thread(tokens)

        async def stopped() -> None:
            """Stop Vigie: what the writer holds is written first."""
            stop.set()
            await asyncio.wait_for(task, 30)

        yield runtime, port, made, tmp_path / "data" / "vigie.sqlite", stopped
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def _rows(db, sql: str, *params) -> list:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


async def test_an_agents_results_reach_its_locations_state_and_the_consensus(vigie):
    runtime, port, tokens, db, _stopped = vigie
    assert runtime.agents is not None  # served: a remote location is configured
    status, answer = await asyncio.to_thread(
        _push, port, tokens["lyon-1"],
        [_result(1, "web/home", "down"), _result(2, "web/home", "down")])
    assert (status, answer) == (200, {"stored": 2, "duplicates": 0, "last_seq": 2})
    await applied(runtime)
    book = runtime.locations.book
    assert book.state("web/home", "lyon").status is Status.DOWN
    # paris up (the server's run), lyon down, marseille not judged: no verdict yet
    status, _ = await asyncio.to_thread(
        _push, port, tokens["marseille-1"],
        [_result(1, "web/home", "down"), _result(2, "web/home", "down"),
         _result(3, "web/far", "up")])
    assert status == 200
    await applied(runtime)
    assert runtime.state.checks["web/home"].status is Status.DOWN  # two of three
    assert runtime.state.checks["web/far"].status is Status.UP
    assert [(p.name, p.last_result_at is not None) for p in runtime.locations.grid().locations
            ] == [("paris", False), ("lyon", True), ("marseille", True)]


async def test_a_check_of_another_location_is_refused_whole_nothing_stored(vigie):
    runtime, port, tokens, db, _stopped = vigie
    handed: list = []
    assert runtime.agents is not None
    sink = runtime.agents.app.sink
    assert sink is not None

    def recording(*given) -> None:
        handed.append(given)
        sink(*given)

    runtime.agents.app.sink = recording
    for check in ("web/far", "web/solo", "web/nothing"):
        status, answer = await asyncio.to_thread(
            _push, port, tokens["lyon-1"],
            [_result(1, "web/home", "up"), _result(2, check, "up")])
        assert (status, answer["error"], answer["field"]) == (
            403, "wrong_location", "results[1].check"), check
        assert f"“{check}”" in answer["message"] and "lyon" in answer["message"]
    assert _rows(db, "SELECT count(*) FROM location_results WHERE token_id IS NOT NULL") \
        == [(0,)]
    assert handed == []
    await applied(runtime)
    assert runtime.locations.book.state("web/home", "lyon").last is None


async def test_the_servers_own_runs_are_kept_beside_the_agents(vigie):
    runtime, port, tokens, db, stopped = vigie
    # (home ran once at the start, at paris; Vigie stopping writes what the writer holds)
    await stopped()
    rows = _rows(db, "SELECT check_key, location, token_id, seq, agent_started_at, "
                     "received_at, status FROM location_results")
    # home runs at paris (the server's own location); far does not run here; solo is
    # not located: its runs are only the check's results
    assert rows == [("web/home", "paris", None, None, None, None, int(Status.UP))]
    verdicts = _rows(db, "SELECT count(*) FROM results r JOIN checks c ON "
                         "c.id = r.check_id WHERE c.key = 'web/solo'")
    assert verdicts == [(1,)]


def test_own_location_rows_are_stored_once_however_often_written(tmp_path):
    """A batch written again after an ambiguous failure stores the server's own runs
    once (their natural key), never an agent's rows' (token, seq) key."""
    store = Store(f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    store.upgrade()
    record = OwnLocationRecord("web/home", "paris", 1_765_000_000.5, Status.DOWN, 0.2,
                               Reason("http.status", Bilingual("HTTP 503", "HTTP 503")),
                               {"http_status_code": 503.0})
    other = OwnLocationRecord("web/home", "paris", 1_765_000_001.5, Status.UP, 0.1)
    assert store.write_batch((), own_locations=[record]).results == 1
    assert store.write_batch((), own_locations=[record, other]).results == 1
    rows = _rows(tmp_path / "vigie.sqlite", "SELECT started_at, status, reason, samples "
                 "FROM location_results ORDER BY started_at")
    assert [(r[0], r[1]) for r in rows] == [(1_765_000_000.5, 2), (1_765_000_001.5, 0)]
    assert json.loads(rows[0][2])["code"] == "http.status"
    assert json.loads(rows[0][3]) == {"http_status_code": 503.0}
    store.dispose()
