"""The agent's own bookkeeping, in process: a new list of checks, a disk that refuses to
write, the clock warning."""

from __future__ import annotations

import errno
import logging

import pytest

from monitor.agent.checks import CheckSpec, agent_registry, assigned_checks
from monitor.agent.checks import ChecksAnswer
from monitor.agent.loop import Agent
from monitor.agent.settings import BUILT_IN_SERVER_ONLY, AgentSettings
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import ProbeResult, Status, reason
from monitor.scheduler import first_run_offset
from monitor.words import _


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def registry() -> ProbeRegistry:
    return ProbeRegistry.from_plugin_manager(build_plugin_manager(blocked=BUILT_IN_SERVER_ONLY))


def agent_for(tmp_path, registry, clock=None, **settings) -> Agent:
    return Agent(AgentSettings(server="https://status.example.coop",
                               token_file=tmp_path / "token", data_dir=tmp_path / "data",
                               **settings), "vga_x", registry, clock=clock or Clock())


def answer(*keys: str, interval: float = 60.0) -> ChecksAnswer:
    return ChecksAnswer(location="lyon", agent="lyon-1", revision="-".join(keys), checks=[
        CheckSpec(key=key, kind="http", interval=interval, timeout=5, confirm=3,
                  retry_interval=10, options={"url": "https://x.example/"}).model_dump()
        for key in keys])


def test_a_new_list_keeps_the_due_times_and_the_failures_of_the_checks_kept(
        tmp_path, registry):
    clock = Clock()
    agent = agent_for(tmp_path, registry, clock)
    first = assigned_checks(answer("web/a", "web/b"), agent_registry(registry))
    offsets = agent.carry_over(first)
    a, b = first.checks
    assert offsets == {"web/a": first_run_offset(a), "web/b": first_run_offset(b)}

    clock.now += 100
    failed = ProbeResult(Status.DOWN, reason("http.status", _("HTTP status {got}", got=503)))
    failed.started_at = 1.0
    assert agent._on_result(a, failed) == 10  # not confirmed yet: its retry interval
    assert agent._on_result(b, ProbeResult(Status.UP)) == 60
    clock.now += 4

    second = assigned_checks(answer("web/a", "web/c"), agent_registry(registry))
    offsets = agent.carry_over(second)
    c = second.checks[1]
    assert offsets == {"web/a": 6.0, "web/c": first_run_offset(c)}
    # the failure seen before the change still counts toward confirm
    assert agent._state.checks["web/a"].failures == 1
    assert "web/b" not in agent._state.checks and set(agent._due) == {"web/a", "web/c"}
    # every result went to the spool's queue, made safe, in the order taken
    assert [r["check"] for r in agent._unspooled] == ["web/a", "web/b"]
    assert agent._unspooled[0]["status"] == "down"


async def test_a_disk_refusing_to_write_keeps_results_in_memory_within_the_bound(
        tmp_path, registry, caplog, monkeypatch):
    agent = agent_for(tmp_path, registry, max_buffered=3)
    await agent.disk.call(agent.disk.spool.open)
    try:
        spool = agent.disk.spool
        write = spool.append

        def full(records):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(spool, "append", full)
        agent._unspooled = [{"check": "web/a", "n": i} for i in range(5)]
        with caplog.at_level(logging.ERROR, "monitor.agent.loop"):
            assert await agent._flush() is False
        assert "No space left on device" in caplog.text
        assert [r["n"] for r in agent._unspooled] == [2, 3, 4]  # the oldest dropped
        assert agent.lost_in_memory == 2  # and counted in the next pushes' `dropped`

        monkeypatch.setattr(spool, "append", write)
        assert await agent._flush() is True
        assert agent._unspooled == []
        assert [seq for seq, _ in spool.pending(10)] == [1, 2, 3]
    finally:
        await agent.disk.call(agent.disk.spool.close)
        agent.disk.shutdown()


def test_the_clock_warning_is_said_once_and_its_end_too(tmp_path, registry, caplog):
    agent = agent_for(tmp_path, registry)
    with caplog.at_level(logging.INFO, "monitor.agent.loop"):
        agent._note_clock(-120.0)
        agent._note_clock(-121.0)
        agent._note_clock(2.0)
        agent._note_clock(None)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["this machine's clock is 120 s ahead of the server's: results are still "
                     "placed right (the server measures the difference on each batch), but "
                     "set up NTP", "this machine's clock agrees with the server's again"]
