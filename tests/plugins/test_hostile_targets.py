"""Every probe kind against hostile local targets (tests/plugins/hostile.py).

- Whatever a target answers, each result and status change is stored, on SQLite and on
  PostgreSQL, and the incident engine writes its incidents and timeline (a property test:
  arbitrary bytes as every probe's answer).
- A reason quoting what a target sent is for volunteers only (``public=False``): the
  status page and the JSON API never show it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from dashboard import create_app
from monitor.config import Config
from monitor.config_loader import load_config
from monitor.incidents.context import IncidentContext
from monitor.incidents.engine import IncidentEngine, StatusChange
from monitor.incidents.models import Incident, IncidentUpdate, OutboxEntry
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import ProbeResult, Status
from monitor.runner import clean_result, run_check
from monitor.state import ServiceTransition, StateBook
from monitor.store import ResultRecord, ResultWriter, Store
from monitor.store.models import CheckStatusChange, ResultRow
from plugins.heartbeat import BeatBoard, PushApp
from tests.monitor.test_store_writer import WatchedStats
from tests.plugins import hostile

MARKER = "ZQXMARK"


def shows_marker(text: str) -> bool:
    """Whether ``text`` quotes the marker (in any case: a media type is lower-cased)."""
    return MARKER.lower() in text.lower()


class Subscriber:
    """A plugin subscribed to incidents, so the engine writes outbox rows too."""

    @hookimpl
    def vigie_incident_opened(self, event):
        pass

    @hookimpl
    def vigie_incident_updated(self, event):
        pass

    @hookimpl
    def vigie_incident_resolved(self, event):
        pass


class Targets:
    """The hostile servers on an event loop of their own (a thread), with the checks
    probing them and the probe kinds; the tests drive them from plain functions."""

    def __init__(self, folder: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers = hostile.HostileTargets(folder)
        self.call(self.servers.__aenter__())
        self.http = self.call(self._session())
        self.pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
            *((p.__name__, p) for p in hostile.PROBE_PLUGINS), ("subscriber", Subscriber())])
        self.registry = ProbeRegistry.from_plugin_manager(self.pm)
        path = folder / "vigie.yaml"
        path.write_text("data_dir: data\n" + self.servers.config_yaml())
        self.config: Config = load_config(path, self.registry)
        # the heartbeat probe reads the beats the push receiver records; each payload's beat
        # comes a day after the last (a beat per period is kept, the rest answered 429)
        self.now = time.time()
        self.board = BeatBoard(clock=lambda: self.now)
        self.registry.get("heartbeat").instance.board = self.board
        for check in self.config.checks:
            if check.ref.kind == "heartbeat":
                self.board.watch(check.key, check.options)
        self.pushed: list[tuple[str, ProbeResult]] = []
        # what Runtime.submit_result does with a pushed result: the same boundary
        self.push_app = PushApp(self.board,
                                lambda key, result: self.pushed.append((key, clean_result(result))))

    @staticmethod
    async def _session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    def call(self, coro):
        """Run ``coro`` on the targets' loop and wait for its value."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    def results(self, payload: bytes) -> list[tuple[str, ProbeResult]]:
        """Every check run once against targets answering ``payload`` (through the real
        runner), and the heartbeat's result pushed with ``payload`` as its message."""
        self.servers.set_payload(payload)
        self.pushed.clear()
        self.now += 86400
        hostile.push_beat(self.push_app, payload)

        async def run_all():
            checks = self.config.checks
            results = await asyncio.gather(*(
                run_check(c, self.registry.get(c.ref.kind).instance, self.http)
                for c in checks))
            return [(c.key, r) for c, r in zip(checks, results)]

        pushed = [(key, result) for key, result in self.pushed]
        for _, result in pushed:
            result.started_at = result.started_at or time.time()
        return self.call(run_all()) + pushed

    def close(self) -> None:
        self.call(self.http.close())
        self.call(self.servers.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def targets(tmp_path_factory) -> Iterator[Targets]:
    found = Targets(tmp_path_factory.mktemp("hostile"))
    yield found
    found.close()


class Complaints(logging.Handler):
    """Keeps the warnings of the store writer and the incident engine."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("monitor.store", "monitor.incidents")):
            self.records.append(record)


class Pipeline:
    """What ``Runtime.on_result`` does, on one store: results and status changes through
    the real ResultWriter, service changes through the real incident engine."""

    def __init__(self, store: Store, targets: Targets) -> None:
        self.store = store
        store.upgrade()
        store.sync_catalog(targets.config)
        self.state = StateBook(targets.config.services)
        self.stats = WatchedStats()
        self.writer = ResultWriter(store, self.stats, flush_interval=0.02)
        self.writer.start()
        self.engine = IncidentEngine(store.write_session,
                                     IncidentContext.build(targets.config, targets.pm))
        self.results = self.changes = 0

    def feed(self, check_key: str, result: ProbeResult) -> None:
        self.writer.submit(ResultRecord.from_result(check_key, result))
        self.results += 1
        for transition in self.state.apply(check_key, result):
            self.writer.submit_transition(transition)
            if isinstance(transition, ServiceTransition):
                self.engine.on_change(StatusChange.from_transition(transition))
            else:
                self.changes += 1

    def flushed(self) -> None:
        """Wait until the writer wrote everything (fails only on a hang)."""
        stats = self.stats
        stats.wait_for(lambda: stats.written + stats.dropped >= self.results
                       and not stats.buffered, "the writer to finish", timeout=60)

    def count(self, model) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(model))

    def close(self) -> None:
        self.writer.stop()
        self.store.dispose()


def reset_results(payload_at: float, keys: list[str]) -> list[tuple[str, ProbeResult]]:
    """A passing result per check just before the hostile one, so every hostile failure
    is a status change (checks confirm at the first result)."""
    return [(key, ProbeResult(Status.UP, started_at=payload_at)) for key in keys]


# The property: anything a target answers is stored ------------------------------------


def test_anything_a_target_answers_is_stored_on_sqlite_and_postgresql(
        targets, tmp_path, postgres_schema_url):
    pipelines = [Pipeline(Store(f"sqlite:///{tmp_path / 'vigie.sqlite'}"), targets),
                 Pipeline(Store(postgres_schema_url), targets)]
    complaints = Complaints()
    logging.getLogger("monitor").addHandler(complaints)
    keys = [c.key for c in targets.config.checks]
    hostile_answers = st.one_of(
        st.binary(max_size=300),
        # text around the control, format and odd characters that break storage and XML
        st.text(st.characters(codec="utf-8", categories=("Cc", "Cf", "Zl", "Zp", "L", "P")),
                max_size=120).map(lambda t: t.encode("utf-8")),
    )

    @settings(max_examples=20, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(hostile_answers)
    def stored_whatever_the_answer(payload: bytes) -> None:
        before = time.time()
        results = targets.results(payload)
        for pipeline in pipelines:
            for key, result in [*reset_results(before, keys), *results]:
                pipeline.feed(key, result)
        for pipeline in pipelines:
            pipeline.flushed()
            assert pipeline.stats.dropped == 0 and pipeline.stats.write_errors == 0
            assert pipeline.count(ResultRow) == pipeline.results
            assert pipeline.count(CheckStatusChange) == pipeline.changes
        assert complaints.records == [], [r.getMessage() for r in complaints.records]

    try:
        stored_whatever_the_answer()
        for pipeline in pipelines:
            # every failing check opened (or reopened) an incident of its own service,
            # with its timeline and the outbox rows of the subscriber
            assert pipeline.count(Incident) >= 1
            assert pipeline.count(IncidentUpdate) > pipeline.count(Incident)
            assert pipeline.count(OutboxEntry) >= pipeline.count(Incident)
    finally:
        logging.getLogger("monitor").removeHandler(complaints)
        for pipeline in pipelines:
            pipeline.close()


# Hostile text is for volunteers only ---------------------------------------------------


@pytest.mark.parametrize("payload", [
    MARKER,
    f"{MARKER} URGENT: reset your password at https://evil.example " + "!" * 420,
    f"220-{MARKER}",
    f"* OK {MARKER}",
    f"+OK {MARKER}",
    f'<script>alert("{MARKER}")</script>',
])
def test_a_reason_quoting_a_target_is_never_public(targets, tmp_path, payload):
    results = targets.results(payload.encode())
    quoting = [(key, r.reason) for key, r in results
               if r.reason is not None and shows_marker(r.reason.fr + r.reason.en)]
    assert quoting, "no reason quoted the target: the targets do not test anything"
    assert [(key, why.code) for key, why in quoting if why.public] == []

    # through the store and the incident engine to the public pages and the JSON API
    pipeline = Pipeline(Store(f"sqlite:///{tmp_path / 'vigie.sqlite'}"), targets)
    try:
        for key, result in results:
            pipeline.feed(key, result)
        pipeline.flushed()
        assert pipeline.count(Incident) >= len({key for key, _ in quoting})
        app = create_app(targets.config, {"TESTING": True}, store=pipeline.store)
        client = app.test_client()
        pages = ["/", "/?lang=en", "/api/v1/services", "/api/v1/summary.json",
                 "/api/v1/incidents", "/feed.atom", "/incidents",
                 *(f"/services/{key.split('/')[0]}" for key, _ in quoting),
                 *(f"/api/v1/services/{key.split('/')[0]}" for key, _ in quoting)]
        for page in pages:
            answer = client.get(page)
            assert answer.status_code == 200, page
            assert not shows_marker(answer.get_data(as_text=True)), page
        with pipeline.store.session() as s:
            for incident_id in s.scalars(select(Incident.id)):
                answer = client.get(f"/incidents/{incident_id}")
                assert answer.status_code == 200
                assert not shows_marker(answer.get_data(as_text=True))
    finally:
        pipeline.close()
