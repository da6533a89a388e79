"""Inside ``vigie run`` (the real Runtime and its listener): the agents' API is mounted
when ``agents.enabled``, its path takes batches larger than the listener's default body
limit, ``/metrics`` carries the agents' families; without agents nothing is served."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from monitor.agents.assignments import StaticAssignments
from monitor.agents.service import AgentOperations
from monitor.config_loader import load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.runtime import Runtime
from tests.conftest import free_port
from tests.monitor.agents.conftest import result

CONFIG = """\
data_dir: data
server: {{listen: '127.0.0.1:{port}'}}
scheduler: {{spread_first_runs: false}}
{agents}
services:
  - id: mail
    name: Courriel
    checks:
      - {{id: smtp, kind: tcp, host: 127.0.0.1, port: 9, interval: 1h}}
"""


def _runtime(tmp_path, agents: str) -> tuple[Runtime, int]:
    port = free_port()
    path = tmp_path / "vigie.yaml"
    path.write_text(CONFIG.format(port=port, agents=agents), encoding="utf-8")
    pm = build_plugin_manager()
    registry = ProbeRegistry.from_plugin_manager(pm)
    return Runtime(load_config(path, registry), pm, registry), port


def _call(url: str, body: bytes | None = None, token: str | None = None):
    request = urllib.request.Request(url, data=body, headers={
        "Content-Type": "application/json", "Accept": "application/json",
        **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


async def _running(runtime: Runtime, check):
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        return await asyncio.to_thread(check)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_vigie_run_serves_the_agents_api(tmp_path):
    runtime, port = _runtime(tmp_path, "agents: {enabled: true}")
    assert runtime.agents is not None
    base = f"http://127.0.0.1:{port}"

    def check():
        with runtime.store.write_session() as session, session.begin():
            token = AgentOperations(StaticAssignments(["lyon"], {})).add_token(
                session, name="lyon-1", location="lyon").token
        status, body = _call(f"{base}/api/agent/v1/checks", token=token)
        assert status == 200, body
        assert json.loads(body)["checks"] == []  # no check runs at lyon here
        # a batch over the listener's default body limit (64 KiB) reaches the API
        batch = {"agent": "lyon-1", "boot": "b", "batch": 1, "sent_at": 1.0e9,
                 "results": [result(i, check="mail/smtp", info={"pad": "x" * 900})
                             for i in range(1, 100)]}
        body = json.dumps(batch).encode()
        assert len(body) > 64 * 1024
        status, answer = _call(f"{base}/api/agent/v1/results", body, token)
        assert (status, json.loads(answer)["error"]) == (403, "wrong_location")
        status, metrics = _call(f"{base}/metrics")
        assert b'vigie_agent_batches_refused_total{reason="wrong_location"} 1.0' in metrics
        assert token.encode() not in metrics

    await _running(runtime, check)


async def test_without_agents_nothing_is_served(tmp_path):
    runtime, port = _runtime(tmp_path, "")
    assert runtime.agents is None

    def check():
        status, _body = _call(f"http://127.0.0.1:{port}/api/agent/v1/checks", token="vga_x")
        assert status == 404
        status, metrics = _call(f"http://127.0.0.1:{port}/metrics")
        assert b"vigie_agent_" not in metrics

    await _running(runtime, check)
