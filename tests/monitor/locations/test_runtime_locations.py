"""A check run from three locations inside a real ``vigie run`` (Runtime, scheduler, state
book, incident engine, outbox, SQLite store, /metrics): the server runs it as its own
location, the two others' results are submitted as the agents' endpoint submits them
(``submit_location_result``, from another thread), and members see only the consensus."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from monitor.config_loader import load_config
from monitor.locations.system import LocationNotAssigned
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import Probe, ProbeConfig, ProbeResult, Status, reason
from monitor.runtime import Runtime
from monitor.state import ServiceStatus
from tests.conftest import free_port
from tests.peers import Changes

KEY = "web/home"


class SteadyProbe(Probe):
    """Always up: the server's own location sees the service working."""

    kind = "steady"
    Config = ProbeConfig
    description = "test probe, always up"
    samples = ()

    async def check(self, config, ctx):
        return ProbeResult.up()


class Recorder:
    """The steady probe, and what plugins are told: check changes, incidents opened,
    system alerts (each noted on the event loop)."""

    def __init__(self) -> None:
        self.checks: list[tuple[str, Status]] = []
        self.opened: list[str] = []
        self.alerts: list = []
        self.changes = Changes()

    @hookimpl
    def vigie_register_probes(self):
        return [SteadyProbe]

    @hookimpl
    async def vigie_check_status_changed(self, check, previous, current, result):
        self.checks.append((check.check.key, current))
        self.changes.note()

    @hookimpl
    async def vigie_incident_opened(self, event):
        self.opened.append(event.reference)
        self.changes.note()

    @hookimpl
    async def vigie_system_alert(self, alert):
        self.alerts.append(alert)
        self.changes.note()


class Clock:
    """The locations' clock, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def write_config(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text(f"""\
data_dir: data
server: {{listen: '127.0.0.1:{port}'}}
scheduler: {{spread_first_runs: false}}
store: {{flush_interval: 0.1s}}
locations:
  self: {{name: paris, label: {{fr: "Paris (serveur)", en: "Paris (server)"}}}}
  remote:
    - {{name: lyon, label: Lyon}}
    - {{name: marseille, label: Marseille}}
  silent_after: 10m
services:
  - id: web
    name: {{fr: Hébergement web, en: Web hosting}}
    checks:
      - {{id: home, kind: steady, interval: 1h, confirm: 2,
          locations: [paris, lyon, marseille]}}
      - {{id: far, kind: steady, interval: 1h, locations: [lyon, marseille]}}
""")
    return path


class Running:
    """A running Vigie and what its plugins were told."""

    def __init__(self, runtime: Runtime, recorder: Recorder, port: int, clock: Clock,
                 stop: asyncio.Event, task: asyncio.Task) -> None:
        self.runtime, self.recorder, self.port, self.clock = runtime, recorder, port, clock
        self._stop, self._task = stop, task

    async def stop(self) -> None:
        """Stop Vigie, everything in flight saved."""
        self._stop.set()
        await asyncio.wait_for(self._task, 20)


@pytest.fixture
async def running(tmp_path):
    """Vigie running the configuration above; its check has been run once by the server
    (up at paris). The locations' clock starts an hour ago (the alerts it dates are due
    at once) and is moved by the test."""
    recorder = Recorder()
    port = free_port()
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("recorder", recorder)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(write_config(tmp_path, port), registry), pm, registry)
    clock = runtime.locations.book.clock = Clock(time.time() - 3600)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with asyncio.timeout(10):
            while runtime.locations.book.state(KEY, "paris").status is not Status.UP:
                await applied(runtime)
        yield Running(runtime, recorder, port, clock, stop, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def applied(runtime: Runtime) -> None:
    """Return once everything already handed to the event loop has run (callbacks run in
    the order they were scheduled)."""
    done = asyncio.get_running_loop().create_future()
    runtime._loop.call_soon_threadsafe(done.set_result, None)
    await done


def down(at: float) -> ProbeResult:
    return ProbeResult.down(reason("http.status", "HTTP 503", "HTTP 503"), started_at=at,
                            duration=0.05)


def up(at: float) -> ProbeResult:
    return ProbeResult.up(started_at=at, duration=0.04)


async def submit(runtime: Runtime, *results: tuple[str, ProbeResult], key: str = KEY
                 ) -> None:
    """Submit results from another thread, as the agents' endpoint does, then wait until
    they are applied."""
    def send():
        for location, result in results:
            runtime.startup_context().submit_location_result(key, location, result)
    await asyncio.to_thread(send)
    await applied(runtime)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


async def test_one_location_failing_is_no_outage_two_of_three_are(running, tmp_path):
    runtime, recorder, port = running.runtime, running.recorder, running.port
    t = time.time()
    await submit(runtime, ("marseille", up(t)), ("lyon", down(t + 1)), ("lyon", down(t + 2)))

    # lyon confirmed down on its own: up for members, a partial failure for volunteers
    assert runtime.locations.book.state(KEY, "lyon").status is Status.DOWN
    check = runtime.state.checks[KEY]
    assert check.status is Status.UP
    assert check.last.reason.code == "vigie.locations.partial"
    assert "1 location of 3 sees a failure (Lyon): HTTP 503" in check.last.reason.en
    assert runtime.state.services["web"].status is ServiceStatus.OPERATIONAL
    row = runtime.locations.grid().checks[0]
    assert row.partial and [c.location for c in row.cells if c.failing] == ["lyon"]
    await runtime.incidents.tick_once()
    assert runtime.incidents.open_incidents == 0 and recorder.opened == []
    assert (KEY, Status.DOWN) not in recorder.checks
    metrics = await asyncio.to_thread(scrape, port)
    assert ('vigie_check_location_status{check="home",location="lyon",service="web"} 2.0'
            in metrics)
    assert 'vigie_check_locations_failing{check="home",service="web"} 1.0' in metrics
    assert 'vigie_check_status{check="home",kind="steady",service="web"} 0.0' in metrics

    # marseille confirms too: two of three, the quorum: down, one incident
    await submit(runtime, ("marseille", down(t + 3)))
    assert runtime.state.checks[KEY].status is Status.UP  # (one failure: not confirmed)
    await submit(runtime, ("marseille", down(t + 4)))
    check = runtime.state.checks[KEY]
    assert check.status is Status.DOWN
    assert check.last.reason.code == "http.status"
    assert check.last.reason.fr.startswith("2 lieux sur 3 : ")
    assert check.last.reason.en == "2 locations of 3: HTTP 503"
    assert runtime.state.services["web"].status is ServiceStatus.MAJOR_OUTAGE
    await recorder.changes.wait(lambda: recorder.opened)
    await submit(runtime, ("lyon", down(t + 5)), ("marseille", down(t + 6)))
    await runtime.incidents.tick_once()
    assert runtime.incidents.open_incidents == 1 and len(recorder.opened) == 1
    assert recorder.checks == [(KEY, Status.UP), (KEY, Status.DOWN)]

    # the check's results rows are the verdicts, one per location result
    await running.stop()
    with sqlite3.connect(tmp_path / "data" / "vigie.sqlite") as db:
        rows = db.execute("SELECT r.status, r.reason_code FROM results r JOIN checks c "
                          "ON c.id = r.check_id WHERE c.key = ? ORDER BY r.started_at",
                          (KEY,)).fetchall()
    assert rows[-6:] == [(0, None), (0, "vigie.locations.partial"),
                         (0, "vigie.locations.partial"), (2, "http.status"),
                         (2, "http.status"), (2, "http.status")]


async def test_a_silent_location_is_left_out_and_told_to_volunteers_never_an_outage(
        running):
    runtime, recorder, port = running.runtime, running.recorder, running.port
    clock = running.clock
    await submit(runtime, ("lyon", down(clock.now)), ("lyon", down(clock.now + 1)))
    # paris up, lyon down, marseille not judged yet (it could still make a quorum of
    # two): no verdict yet
    assert runtime.state.checks[KEY].status is None

    # ten minutes later lyon still reports, marseille never did: unreachable
    clock.now += 601
    await submit(runtime, ("lyon", down(clock.now)))
    runtime.locations.wake()
    await recorder.changes.wait(lambda: recorder.alerts)
    [alert] = recorder.alerts
    assert alert.code == "vigie.agents" and alert.details["location"] == "marseille"
    assert alert.title_en == "Location Marseille is unreachable"
    assert not runtime.locations.book.reachable("marseille")
    check = runtime.state.checks[KEY]
    assert check.status is Status.UP  # paris up, lyon down: below the quorum of 2
    assert check.last.reason.code == "vigie.locations.partial"
    assert runtime.state.services["web"].status is ServiceStatus.OPERATIONAL
    await runtime.incidents.tick_once()
    assert runtime.incidents.open_incidents == 0 and recorder.opened == []
    metrics = await asyncio.to_thread(scrape, port)
    assert 'vigie_location_reachable{location="marseille"} 0.0' in metrics
    assert 'vigie_location_reachable{location="lyon"} 1.0' in metrics
    grid = runtime.locations.grid()
    assert [(p.name, p.reachable) for p in grid.locations] == [
        ("paris", True), ("lyon", True), ("marseille", False)]

    # marseille reports again: reachable, and volunteers are told
    clock.now += 5
    await submit(runtime, ("marseille", up(clock.now)))
    await recorder.changes.wait(lambda: len(recorder.alerts) == 2)
    assert recorder.alerts[1].title_en == "Location Marseille reports again"
    assert runtime.locations.book.reachable("marseille")


async def test_a_result_for_a_location_the_check_does_not_run_from_is_refused(running):
    runtime = running.runtime
    submit_location = runtime.startup_context().submit_location_result
    with pytest.raises(LocationNotAssigned, match="does not run from the location 'nice'"):
        submit_location(KEY, "nice", up(time.time()))
    with pytest.raises(LocationNotAssigned, match="server's own location"):
        submit_location(KEY, "paris", up(time.time()))
    with pytest.raises(KeyError):
        submit_location("web/nothing", "lyon", up(time.time()))
    assert runtime.locations.book.state(KEY, "lyon").last is None


async def test_a_check_run_only_from_remote_locations_is_not_run_by_the_server(running):
    runtime = running.runtime
    assert runtime.scheduler.owned() == [KEY]
    t = time.time()
    await submit(runtime, ("lyon", up(t)), ("marseille", up(t + 1)), key="web/far")
    assert runtime.state.checks["web/far"].status is Status.UP
    assert runtime.locations.book.state("web/far", "lyon").status is Status.UP


def test_in_a_cluster_only_the_node_owning_the_check_takes_its_verdict(tmp_path):
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("recorder", Recorder())])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(write_config(tmp_path, free_port()), registry), pm,
                      registry)
    try:
        check = runtime.enabled_check(KEY)
        # (the parts of monitor.cluster.role.ClusterRole take_verdict reads)
        runtime.role = SimpleNamespace(owned=frozenset(), leading=None)
        runtime.take_verdict(check, up(1.0), store=False)
        assert runtime.state.checks[KEY].status is None
        runtime.role = SimpleNamespace(owned=frozenset({KEY}), leading=None)
        runtime.take_verdict(check, up(2.0), store=False)
        assert runtime.state.checks[KEY].status is Status.UP
    finally:
        runtime.store.dispose()
