"""The runtime's HTTP session is created by the first probe that needs it: plain-HTTP
checks (the fast path) never do; a check that needs aiohttp's client (here ``phases:
true``) creates it, and it works. Real checks against a real local server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from monitor.config_loader import load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from monitor.probe import Status
from monitor.runner import run_check
from monitor.http_session import SESSION_HEADERS, LazyHttpSession

seen_agents: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        seen_agents.append(self.headers.get("User-Agent", ""))
        body = b"fine"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _checks(tmp_path: Path, web: str):
    path = tmp_path / "vigie.yaml"
    path.write_text(
        "plugins: {blocked: [demo]}\nservices:\n  - id: web\n    name: Web\n    checks:\n"
        f"      - {{id: plain, kind: http, url: '{web}/plain'}}\n"
        f"      - {{id: timed, kind: http, url: '{web}/timed', phases: true}}\n",
        encoding="utf-8")
    pm = build_plugin_manager(blocked=["demo"])
    registry = ProbeRegistry.from_plugin_manager(pm)
    config = load_config(path, registry, config_sections(pm))
    checks = {c.ref.check_id: c for c in config.checks}
    return registry, checks["plain"], checks["timed"]


async def test_plain_http_checks_never_create_the_session(tmp_path, web):
    registry, plain, timed = _checks(tmp_path, web)
    probe = registry.get("http").instance
    seen_agents.clear()
    async with LazyHttpSession() as http:
        for _ in range(3):
            result = await run_check(plain, probe, http)
            assert result.status is Status.UP, result.reason
        assert not http.created
        # the fast path still sends the session's User-Agent
        assert seen_agents == [SESSION_HEADERS["User-Agent"]] * 3

        result = await run_check(timed, probe, http)
        assert result.status is Status.UP, result.reason
        assert http.created
        assert "http_phase_seconds" in result.samples
        assert seen_agents[-1] == SESSION_HEADERS["User-Agent"]
        session = http._session
    assert session is not None and session.closed  # leaving the block closed it
    await registry.aclose()


async def test_closing_an_unused_session_is_harmless():
    http = LazyHttpSession()
    assert http.headers["User-Agent"].startswith("Vigie/")
    await http.aclose()
    assert not http.created
    with pytest.raises(AttributeError):
        http.__deepcopy__  # noqa: B018 (copy probing must not create a session)
    assert not http.created


async def test_an_agent_names_itself_in_the_user_agent_fast_path_and_session(tmp_path, web):
    """``use_user_agent`` (an agent, once it knows its location) changes what both paths
    send, before and after the session exists."""
    from monitor.agent.loop import probe_user_agent

    registry, plain, timed = _checks(tmp_path, web)
    probe = registry.get("http").instance
    said = probe_user_agent("lyon-1", "lyon")
    assert said.endswith("(status monitoring; agent lyon-1 at lyon)")
    # names come from the server: nothing but a header's plain characters is kept
    assert probe_user_agent("a\r\nX-Evil: 1", "ly on)").endswith("agent aX-Evil1 at lyon)")
    seen_agents.clear()
    async with LazyHttpSession() as http:
        http.use_user_agent(said)
        assert (await run_check(plain, probe, http)).status is Status.UP
        assert not http.created
        assert (await run_check(timed, probe, http)).status is Status.UP
        http.use_user_agent(probe_user_agent("lyon-2", "lyon"))
        assert (await run_check(timed, probe, http)).status is Status.UP
    assert seen_agents == [said, said, probe_user_agent("lyon-2", "lyon")]
    await registry.aclose()
