"""Every probe result is made safe once, at the boundary (``monitor.runner.clean_result``):
what a hostile target answers never stops Vigie from recording an outage.

The regression of issue 12 point 1: a TCP target greeting with ``\\x00\\x00 Call …`` where
``220 `` is expected. The reason quoted the NUL bytes, PostgreSQL refused them, and every
result and status change of the check was dropped: no incident, no alert.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sqlalchemy import select

import plugins.tcp
from monitor.config_loader import load_config
from monitor.incidents.models import Incident
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import Probe, ProbeConfig, ProbeFailed, ProbeResult, Reason, Status, reason
from monitor.runner import clean_result, run_check
from monitor.runtime import Runtime
from monitor.store import Store
from monitor.store.models import CheckStatusChange, ResultRow
from monitor.words import Bilingual
from tests.conftest import free_port
from tests.monitor.test_runner import make_check

HOSTILE_GREETING = b"\x00\x00 Call me \x1b[31mnow\x08\r\n"


@pytest.fixture
async def hostile_tcp():
    """A local TCP server greeting every client with :data:`HOSTILE_GREETING`."""
    async def greet(reader, writer):
        writer.write(HOSTILE_GREETING)
        try:
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


class Watch:
    """A plugin telling the test what the runtime did, when it did it: a check's
    confirmed status changed, an incident opened (delivered by the outbox once the
    transaction that opened it committed)."""

    def __init__(self) -> None:
        self.statuses: dict[str, Status] = {}
        self.status_changed = asyncio.Event()
        self.opened = asyncio.Event()

    @hookimpl
    async def vigie_check_status_changed(self, check, previous, current, result):
        self.statuses[check.check.key] = current
        self.status_changed.set()

    @hookimpl
    async def vigie_incident_opened(self, event):
        self.opened.set()

    async def wait_status(self, key: str, status: Status) -> None:
        """Return once ``key``'s confirmed status is ``status``."""
        while self.statuses.get(key) != status:
            self.status_changed.clear()
            await self.status_changed.wait()


async def test_a_nul_byte_from_a_target_still_opens_the_incident_on_postgresql(
        tmp_path, postgres_schema_url, hostile_tcp):
    store = Store(postgres_schema_url)
    store.upgrade()
    path = tmp_path / "vigie.yaml"
    path.write_text(f"""\
data_dir: data
server: {{listen: '127.0.0.1:{free_port()}'}}
scheduler: {{spread_first_runs: false}}
store: {{url: '{postgres_schema_url}', flush_interval: 0.1s}}
services:
  - id: mail
    name: Courriel
    checks:
      - {{id: smtp, kind: tcp, host: 127.0.0.1, port: {hostile_tcp}, expect: "220 ",
          interval: 0.5s, retry_interval: 0.1s, confirm: 2, timeout: 5s}}
""")
    watch = Watch()
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("tcp", plugins.tcp), ("watch", watch)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(path, registry), pm, registry)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))

    def incidents() -> list[Incident]:
        with store.session() as s:
            return list(s.scalars(select(Incident)))

    try:
        await asyncio.wait_for(ready.wait(), 15)
        await asyncio.wait_for(watch.opened.wait(), 30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    try:
        [incident] = incidents()
        assert incident.service_ids == ["mail"] and incident.resolved_at is None
        with store.session() as s:
            results = list(s.scalars(select(ResultRow)))
            [change] = list(s.scalars(select(CheckStatusChange)))
        assert results and all(r.status == Status.DOWN for r in results)
        assert change.current == Status.DOWN
        for row in (*results, change):
            # the target's bytes are kept, made safe, and shown to volunteers only
            assert row.reason_code == "tcp.unexpected"
            assert "Call me" in row.reason_en and "now" in row.reason_en
            assert not any(ord(c) < 0x20 for c in row.reason_en + row.reason_fr)
            assert row.reason_public is False
    finally:
        store.dispose()


class PushedProbe(Probe):
    """A push check's probe (like heartbeat's): up when run; results come from outside."""

    kind = "pushed"
    Config = ProbeConfig

    async def check(self, config, ctx):
        return ProbeResult.up()


class PushPlugin:
    """A third-party plugin receiving results from outside (a job, a webhook)."""

    ctx = None

    @hookimpl
    def vigie_register_probes(self):
        return [PushedProbe]

    @hookimpl
    def vigie_startup(self, ctx):
        PushPlugin.ctx = ctx


async def test_a_pushed_result_crosses_the_same_boundary(tmp_path, postgres_schema_url):
    store = Store(postgres_schema_url)
    store.upgrade()
    path = tmp_path / "vigie.yaml"
    path.write_text(f"""\
data_dir: data
server: {{listen: '127.0.0.1:{free_port()}'}}
scheduler: {{spread_first_runs: false}}
store: {{url: '{postgres_schema_url}', flush_interval: 0.1s}}
services:
  - id: backup
    name: Sauvegardes
    checks:
      - {{id: nightly, kind: pushed, interval: 1h, confirm: 1}}
""")
    watch = Watch()
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("push", PushPlugin()), ("watch", watch)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(path, registry), pm, registry)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))

    try:
        await asyncio.wait_for(ready.wait(), 15)
        await asyncio.wait_for(watch.wait_status("backup/nightly", Status.UP), 30)
        with pytest.raises(TypeError):
            runtime.submit_result("backup/nightly", ProbeResult(Status.DOWN, "failed"))
        job_said = Reason("job.failed", Bilingual("Échec : \x00disque\x07 plein",
                                                "Failed: \x00disk\x07 full"))
        # from another thread, as an HTTP receiver would
        await asyncio.to_thread(PushPlugin.ctx.submit_result, "backup/nightly",
                                ProbeResult(Status.DOWN, job_said))
        await asyncio.wait_for(watch.opened.wait(), 30)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    try:
        with store.session() as s:
            [change] = [c for c in s.scalars(select(CheckStatusChange))
                        if c.current == Status.DOWN]
        assert (change.reason_en, change.reason_public) == ("Failed: disk full", False)
    finally:
        store.dispose()


# The boundary itself --------------------------------------------------------------------


def test_clean_result_leaves_a_clean_result_as_it_is():
    why = reason("http.status", "Code HTTP {got}", "HTTP status {got}", got=503)
    result = ProbeResult(Status.DOWN, why, {"latency_seconds": 0.2}, {"version": "1.2.3"})
    cleaned = clean_result(result)
    assert cleaned is result
    assert cleaned.reason is why and cleaned.reason.public
    assert cleaned.samples == {"latency_seconds": 0.2} and cleaned.info == {"version": "1.2.3"}


def test_clean_result_cleans_reason_info_and_sample_labels():
    result = ProbeResult(
        Status.DOWN,
        Reason("x.\x00code", Bilingual("Réponse : \x00\u202eevil\r\n" + "é" * 2000,
                                         "Answer: \x00evil")),
        {"nagios_perfdata\x00": {"disk\x00/": 1.0, "ok": 2.0}, "plain": 3.0},
        {"version\x07": "25.0\x00.1" + "9" * 1000, "edition": 42})
    cleaned = clean_result(result)
    why = cleaned.reason
    assert why.code == "x. code"
    assert why.fr.startswith("Réponse : evil é") and len(why.fr) <= 500
    assert why.en == "Answer: evil"
    # the text needed cleaning: it came from outside, so volunteers only
    assert why.public is False
    assert cleaned.samples == {"nagios_perfdata": {"disk /": 1.0, "ok": 2.0}, "plain": 3.0}
    assert cleaned.info["version"].startswith("25.0 .1") and len(cleaned.info["version"]) <= 200
    assert cleaned.info["edition"] == "42"


def test_clean_result_caps_codes_names_and_labels():
    result = clean_result(ProbeResult(Status.DOWN, Reason("c" * 300, Bilingual("fr", "en")),
                                      {"s" * 300: {"l" * 300: 1.0}}, {"k" * 300: "v"}))
    assert len(result.reason.code) == 100 and not result.reason.public
    [(name, labels)] = result.samples.items()
    assert len(name) == 120 and [len(label) for label in labels] == [120]
    assert [len(key) for key in result.info] == [120]


def test_clean_result_never_changes_the_shared_empty_mappings():
    result = clean_result(ProbeResult(Status.UP))
    assert result.samples == {} and result.info == {}


@pytest.mark.parametrize("bad", [
    ProbeResult("down"),  # type: ignore[arg-type]  # wrong on purpose
    ProbeResult(Status.DOWN, "a plain string"),  # type: ignore[arg-type]  # wrong on purpose
    ProbeResult(Status.DOWN, None, ["not", "a", "mapping"]),  # type: ignore[arg-type]  # wrong on purpose
    ProbeResult(Status.DOWN, None, {}, "nope"),  # type: ignore[arg-type]  # wrong on purpose
])
def test_clean_result_refuses_a_result_of_the_wrong_shape(bad):
    with pytest.raises(TypeError):
        clean_result(bad)


class ThirdPartyProbe(Probe):
    """A probe from outside the project: returns whatever the test puts in ``answer``."""

    kind = "third_party"
    Config = ProbeConfig
    answer: object = None

    async def check(self, config, ctx):
        if isinstance(self.answer, ProbeFailed):
            raise self.answer
        return self.answer


async def run(answer: object) -> ProbeResult:
    probe = ThirdPartyProbe()
    probe.answer = answer
    async with aiohttp.ClientSession() as http:
        return await run_check(make_check("third_party"), probe, http)


async def test_run_check_cleans_what_a_third_party_probe_raises():
    result = await run(ProbeFailed(
        Reason("job.failed", Bilingual("Échec : \x00\u202egpj.exe", "Failed: \x00\u202egpj.exe")),
        samples={"perf": {"a\x00b": 1.0}}, info={"v": "1\x002"}))
    assert result.status == Status.DOWN
    assert result.reason == Reason("job.failed", Bilingual("Échec : gpj.exe", "Failed: gpj.exe"),
                                   False)
    assert result.samples == {"perf": {"a b": 1.0}} and result.info == {"v": "1 2"}


async def test_run_check_reports_a_malformed_result_as_a_probe_bug():
    result = await run(ProbeResult(Status.DOWN, "it broke"))  # type: ignore[arg-type]  # wrong on purpose
    assert result.status == Status.UNKNOWN and result.reason.code == "probe.error"
