"""The scheduler against real local servers: hung targets, spread, retries, cycles, stop."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable

import aiohttp
import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.config import Check, LocalizedText, Service
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import (
    CheckRef,
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Status,
    reason,
)
from monitor.scheduler import Scheduler, first_run_offset
from monitor.state import StateBook
from monitor.stats import SchedulerStats
from tests.peers import HungServer


class UrlConfig(ProbeConfig):
    """Where the test probe goes."""

    url: str


class CountingGet(Probe):
    """GET ``url`` with the shared session; counts runs in flight (and the most seen)."""

    kind = "t_get"
    Config = UrlConfig

    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0

    async def check(self, config: UrlConfig, ctx: ProbeContext) -> ProbeResult:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            async with ctx.http.get(config.url) as response:
                await response.read()
                if response.status != 200:
                    raise ProbeFailed(reason("http.status", "Code HTTP {got}",
                                             "HTTP status {got}", got=response.status))
            return ProbeResult.up()
        finally:
            self.in_flight -= 1


class ProbePlugin:
    """Registers the test probe kind."""

    @hookimpl
    def vigie_register_probes(self):
        return [CountingGet]


@pytest.fixture
def registry() -> ProbeRegistry:
    """A registry with only the test probe kind."""
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("t", ProbePlugin())])
    return ProbeRegistry.from_plugin_manager(pm)


@pytest.fixture
async def http():
    """A client session like the runtime's: one connection per request, no pool limit."""
    connector = aiohttp.TCPConnector(force_close=True, limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


class Gate:
    """Holds each request to the test server's /gated until the test lets it through,
    one at a time (:meth:`let_through`) or all from now on (:meth:`open`)."""

    def __init__(self) -> None:
        #: requests that reached the gate, and those held there now
        self.arrived = 0
        self.waiting = 0
        self._open = False
        self._tokens = asyncio.Semaphore(0)

    async def wait(self) -> None:
        """Called by the server for each request: returns when the test allows it."""
        self.arrived += 1
        if self._open:
            return
        self.waiting += 1
        try:
            await self._tokens.acquire()
        finally:
            self.waiting -= 1

    def let_through(self, requests: int = 1) -> None:
        """Let the next ``requests`` requests (held now or to come) through."""
        for _ in range(requests):
            self._tokens.release()

    def open(self) -> None:
        """Let every request through, those held now and all to come."""
        self._open = True
        self.let_through(self.waiting)


@pytest.fixture
def gate() -> Gate:
    """The gate of the test server's /gated answers."""
    return Gate()


@pytest.fixture
async def web_server(gate):
    """/ok answers at once, /gated when ``gate`` lets it, /flaky?n=N fails its first N
    requests."""
    seen: Counter[str] = Counter()

    async def ok(request):
        return web.Response(text="ok")

    async def gated(request):
        await gate.wait()
        return web.Response(text="ok")

    async def flaky(request):
        key = request.query["id"]
        seen[key] += 1
        return web.Response(status=503 if seen[key] <= int(request.query["n"]) else 200)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/gated", gated)
    app.router.add_get("/flaky", flaky)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def hung():
    """A server that accepts and never answers."""
    async with HungServer(backlog=512) as server:
        yield server


def make_check(check_id: str, url: str, interval: float = 0.2, timeout: float = 0.5,
               retry_interval: float = 0.05, confirm: int = 2, enabled: bool = True) -> Check:
    """A resolved check of the test kind."""
    return Check(ref=CheckRef("svc", check_id, "t_get"), name=LocalizedText(fr=check_id),
                 interval=interval, timeout=timeout, confirm=confirm,
                 retry_interval=retry_interval, options=UrlConfig(url=url), enabled=enabled)


class ManualClock:
    """A clock the test moves: the scheduler reads it and starts its timers on it, so a
    timer fires when the test advances the time past it, never on its own."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[list] = []  # [when, callback, cancelled]

    def __call__(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = [self.now + delay, callback, False]
        self._timers.append(timer)
        return _Timer(timer)

    def next_timer(self) -> float | None:
        """When the earliest pending timer fires (None without one)."""
        pending = [t[0] for t in self._timers if not t[2]]
        return min(pending) if pending else None

    def advance(self, seconds: float) -> None:
        """Move the time on and fire (on the loop, as asyncio would) the timers now due."""
        self.now += seconds
        due = [t for t in self._timers if t[0] <= self.now + 1e-9 and not t[2]]
        self._timers = [t for t in self._timers if t not in due and not t[2]]
        loop = asyncio.get_running_loop()
        for timer in due:
            loop.call_soon(timer[1])

    def advance_to_next_timer(self) -> None:
        """Move the time on to the earliest pending timer and fire it."""
        when = self.next_timer()
        assert when is not None, "nothing is waiting on the clock"
        self.advance(when - self.now)


class _Timer:
    def __init__(self, timer: list) -> None:
        self._timer = timer

    def cancel(self) -> None:
        self._timer[2] = True


class Recorder:
    """An ``on_result`` that records (key, status, reason code, seconds since start), the
    time read from ``clock`` (the test's :class:`ManualClock`, or the monotonic clock)."""

    def __init__(self, delay: Callable[[Check, ProbeResult], float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.t0 = clock()
        self.rows: list[tuple[str, Status, str | None, float]] = []
        self._delay = delay
        self.changed = asyncio.Event()

    def __call__(self, check: Check, result: ProbeResult) -> float:
        code = result.reason.code if result.reason else None
        self.rows.append((check.key, result.status, code, self.clock() - self.t0))
        self.changed.set()
        return self._delay(check, result) if self._delay else check.interval

    def times(self, key: str) -> list[float]:
        """When each run of ``key`` was reported."""
        return [t for k, _, _, t in self.rows if k == key]

    async def wait_for(self, predicate: Callable[[], bool], within: float) -> None:
        """Wait until ``predicate()`` holds; fail after ``within`` seconds."""
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition()`` holds (10 s only stop a hung test)."""
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0)


async def settled(scheduler: Scheduler, clock: ManualClock) -> None:
    """Let the loop run until ``scheduler`` has nothing left to do before ``clock`` moves:
    no run queued or in flight, the dispatcher asleep on a timer of ``clock``."""
    stats = scheduler.stats

    def idle() -> bool:
        return stats.in_flight == 0 and stats.queued == 0 and clock.next_timer() is not None

    while True:
        await until(idle)
        # a run that just ended due before every other check has woken the dispatcher,
        # whose old timer is still pending until it runs: one turn lets it replace it
        await asyncio.sleep(0)
        if idle():
            return


async def start(scheduler: Scheduler) -> tuple[asyncio.Event, asyncio.Task]:
    """Run ``scheduler`` in a task; return its stop event and the task."""
    stop = asyncio.Event()
    return stop, asyncio.create_task(scheduler.run(stop))


def vigie_tasks() -> list[asyncio.Task]:
    """Scheduler tasks still alive."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("vigie-") and not t.done()]


async def test_hung_targets_do_not_delay_healthy_ones(registry, http, web_server, hung):
    # hung checks come first so they grab workers before the healthy ones
    checks = [make_check(f"hung{i}", f"http://127.0.0.1:{hung.port}/", interval=5, timeout=1.5)
              for i in range(100)]
    checks += [make_check(f"ok{i}", str(web_server.make_url("/ok")), interval=5, timeout=1.5)
               for i in range(100)]
    recorder = Recorder()
    scheduler = Scheduler(checks, registry, http, recorder, concurrency=150,
                          spread_first_runs=False)
    stop, task = await start(scheduler)
    await recorder.wait_for(lambda: len(recorder.rows) >= 200, within=5)
    stop.set()
    await task

    healthy = [row for row in recorder.rows if row[0].startswith("svc/ok")]
    hung_rows = [row for row in recorder.rows if row[0].startswith("svc/hung")]
    assert len(healthy) == 100 and len(hung_rows) == 100
    assert {status for _, status, _, _ in healthy} == {Status.UP}
    assert {(status, code) for _, status, code, _ in hung_rows} == {(Status.DOWN, "timeout")}
    assert min(t for *_, t in hung_rows) >= 1.5
    # every healthy result came in before the hung runs' deadline (~0.1 s when idle; the
    # long deadline leaves room for a machine busy with other test runs)
    assert max(t for *_, t in healthy) < min(t for *_, t in hung_rows)
    assert hung.accepted == 100
    assert await hung.wait_closed_connections() == 0


async def test_first_runs_are_spread_over_the_interval(registry, http, web_server):
    interval = 0.5
    checks = [make_check(f"c{i}", str(web_server.make_url("/ok")), interval=interval)
              for i in range(30)]
    recorder = Recorder()
    scheduler = Scheduler(checks, registry, http, recorder, concurrency=30)
    stop, task = await start(scheduler)
    await recorder.wait_for(lambda: len({r[0] for r in recorder.rows}) == 30, within=2)
    stop.set()
    await task

    firsts = {check.key: recorder.times(check.key)[0] for check in checks}
    offsets = {check.key: first_run_offset(check) for check in checks}
    for key, at in firsts.items():
        # the run ends a little after it was due, never before
        assert offsets[key] - 0.01 <= at <= offsets[key] + 0.3, key
    assert all(0 <= o < interval for o in offsets.values())
    assert max(offsets.values()) - min(offsets.values()) > interval / 2
    # deterministic: the same key gets the same spot after a restart
    assert first_run_offset(checks[0]) == first_run_offset(
        make_check("c0", "http://elsewhere/", interval=interval))


async def test_without_spread_every_check_runs_at_once(registry, http, web_server):
    checks = [make_check(f"c{i}", str(web_server.make_url("/ok")), interval=5)
              for i in range(30)]
    clock = ManualClock()
    recorder = Recorder(clock=clock)
    scheduler = Scheduler(checks, registry, http, recorder, spread_first_runs=False,
                          clock=clock, call_later=clock.call_later)
    stop, task = await start(scheduler)
    await recorder.wait_for(lambda: len(recorder.rows) == 30, within=10)
    stop.set()
    await task
    assert {t for *_, t in recorder.rows} == {0.0}  # all at start: a spread would use the 5 s


async def test_retry_delay_from_the_state_machine_is_honoured(registry, http, web_server):
    check = make_check("flaky", str(web_server.make_url("/flaky?id=a&n=1")), interval=1.0,
                       retry_interval=0.05)
    book = StateBook([Service("svc", LocalizedText(fr="S"), None, None, (check,))])

    def on_result(check: Check, result: ProbeResult) -> float:
        book.apply(check.key, result)
        return book.checks[check.key].next_delay()

    clock = ManualClock()
    recorder = Recorder(on_result, clock=clock)
    scheduler = Scheduler([check], registry, http, recorder, spread_first_runs=False,
                          clock=clock, call_later=clock.call_later)
    stop, task = await start(scheduler)
    await recorder.wait_for(lambda: len(recorder.rows) == 1, within=10)
    await until(lambda: clock.next_timer() is not None)
    clock.advance_to_next_timer()
    await recorder.wait_for(lambda: len(recorder.rows) == 2, within=10)
    await until(lambda: clock.next_timer() is not None)
    next_run = clock.next_timer()
    stop.set()
    await task

    (_, first, _, t1), (_, second, _, t2) = recorder.rows
    assert (first, second) == (Status.DOWN, Status.UP)
    assert t2 - t1 == pytest.approx(0.05)  # re-checked after retry_interval, not interval
    assert next_run == pytest.approx(t2 + 1.0)  # then back to the 1 s interval
    assert book.checks[check.key].status is Status.UP


async def test_runs_keep_their_phase_without_drift(registry, http, web_server):
    # each run takes 0.1 s of the clock; the next one is due 0.15 s after the previous
    # *due* time, not after the run ended
    check = make_check("slow", str(web_server.make_url("/ok")), interval=0.15)
    clock = ManualClock()

    def run_took_a_while(check: Check, result: ProbeResult) -> float:
        clock.advance(0.1)
        return check.interval

    recorder = Recorder(run_took_a_while, clock=clock)
    scheduler = Scheduler([check], registry, http, recorder, spread_first_runs=False,
                          clock=clock, call_later=clock.call_later)
    stop, task = await start(scheduler)
    for runs in range(1, 5):
        await recorder.wait_for(lambda runs=runs: len(recorder.rows) == runs, within=10)
        await until(lambda: clock.next_timer() is not None)
        clock.advance_to_next_timer()
    await recorder.wait_for(lambda: len(recorder.rows) == 5, within=10)
    stop.set()
    await task
    # drifting (now + interval after each run) would give 0, 0.25, 0.5, 0.75, 1.0
    assert recorder.times(check.key) == pytest.approx([0, 0.15, 0.3, 0.45, 0.6])


async def test_cycles_complete_when_every_check_has_run(registry, http, web_server):
    # the slow check paces the cycles: fast ones run four times per cycle
    checks = [make_check(f"fast{i}", str(web_server.make_url("/ok")), interval=0.05)
              for i in range(19)]
    checks.append(make_check("slow", str(web_server.make_url("/ok")), interval=0.2))
    runs: Counter[str] = Counter()
    cycles: list[tuple[float, int, float, int]] = []

    def on_result(check: Check, result: ProbeResult) -> float:
        runs[check.key] += 1
        return check.interval

    async def on_cycle(at: float, count: int, duration: float) -> None:
        cycles.append((at, count, duration, min(runs[c.key] for c in checks)))
        await asyncio.sleep(0)

    clock = ManualClock()
    stats = SchedulerStats()
    scheduler = Scheduler(checks, registry, http, on_result, stats=stats, on_cycle=on_cycle,
                          clock=clock, call_later=clock.call_later)
    before = time.time()
    stop, task = await start(scheduler)
    while stats.cycles < 3:
        await settled(scheduler, clock)
        clock.advance_to_next_timer()
    stop.set()
    await task

    assert len(cycles) == stats.cycles == 3
    assert runs["svc/slow"] == 3
    for number, (_at, count, _duration, fewest_runs) in enumerate(cycles, start=1):
        assert count == 20
        assert fewest_runs >= number  # every check ran at least once per cycle
    # on the scheduler's clock: the first cycle ends with the last first run (first runs
    # are spread), each later one with a run of the slow check
    ends = list(itertools.accumulate(duration for _, _, duration, _ in cycles))
    slow_start = first_run_offset(checks[-1])
    assert ends == pytest.approx([max(first_run_offset(c) for c in checks),
                                  slow_start + 0.2, slow_start + 0.4])
    # the cycle's time is the Unix time it ended (on the machine's clock)
    assert before <= stats.last_cycle_at <= time.time()
    assert stats.last_cycle_duration == cycles[-1][2]
    assert stats.checks == 20


async def test_failing_callbacks_do_not_stop_the_scheduler(registry, http, web_server, caplog):
    checks = [make_check(f"c{i}", str(web_server.make_url("/ok")), interval=0.05)
              for i in range(3)]

    def on_result(check: Check, result: ProbeResult) -> float:
        if check.key == "svc/c0":
            raise RuntimeError("state exploded")
        return check.interval

    def on_cycle(at: float, count: int, duration: float) -> None:
        raise RuntimeError("heartbeat exploded")

    recorder = Recorder(on_result)
    stats = SchedulerStats()
    scheduler = Scheduler(checks, registry, http, recorder, concurrency=1, stats=stats,
                          on_cycle=on_cycle)
    with caplog.at_level(logging.ERROR, logger="monitor.scheduler"):
        stop, task = await start(scheduler)
        await recorder.wait_for(lambda: len(recorder.times("svc/c0")) >= 4, within=2)
        stop.set()
        await task
    assert len(recorder.times("svc/c2")) >= 3  # the single worker kept going
    assert stats.cycles >= 3
    assert len([r for r in caplog.records if "svc/c0" in r.getMessage()]) == 1


async def test_concurrency_bound_is_respected(registry, http, web_server, gate):
    # 60 checks due at once, each held by the server until the test lets it go
    checks = [make_check(f"c{i}", str(web_server.make_url("/gated")), interval=0.05,
                         timeout=10) for i in range(60)]
    clock = ManualClock()
    recorder = Recorder(clock=clock)
    stats = SchedulerStats()
    scheduler = Scheduler(checks, registry, http, recorder, concurrency=7,
                          spread_first_runs=False, stats=stats, clock=clock,
                          call_later=clock.call_later)
    stop, task = await start(scheduler)
    await until(lambda: gate.waiting == 7 and stats.queued == 7)
    probe = registry.get("t_get").instance
    assert stats.in_flight == probe.in_flight == 7
    # a fixed pool: one dispatcher and 7 workers, whatever the number of checks
    assert len(vigie_tasks()) == 8
    clock.advance(1.0)  # the held runs take a second: the queued ones start that late
    gate.open()
    await recorder.wait_for(lambda: len({key for key, *_ in recorder.rows}) == 60, within=10)
    stop.set()
    await task

    assert probe.max_in_flight == 7
    assert stats.workers == 7
    assert max(stats.recent_lags) == pytest.approx(1.0)  # saturated: runs wait
    assert stats.in_flight == 0 and stats.queued == 0


async def test_saturated_pool_serves_checks_in_turn(registry, http, hung):
    # runs outlast their interval: each check must wait its turn, not run again at once
    checks = [make_check(f"c{i}", f"http://127.0.0.1:{hung.port}/", interval=0.01,
                         timeout=0.05) for i in range(6)]
    recorder = Recorder()
    scheduler = Scheduler(checks, registry, http, recorder, concurrency=2)
    stop, task = await start(scheduler)
    await recorder.wait_for(lambda: len(recorder.rows) >= 12, within=2)
    stop.set()
    await task
    keys = [row[0] for row in recorder.rows]
    for turn in range(2):
        assert len(set(keys[turn * 6:(turn + 1) * 6])) == 6, keys


async def test_stop_lets_runs_finish_and_leaves_nothing_open(registry, http, web_server, hung):
    checks = [make_check(f"hung{i}", f"http://127.0.0.1:{hung.port}/", timeout=0.4)
              for i in range(20)]
    checks += [make_check(f"ok{i}", str(web_server.make_url("/ok"))) for i in range(20)]
    recorder = Recorder()
    scheduler = Scheduler(checks, registry, http, recorder, concurrency=30,
                          spread_first_runs=False)
    stop, task = await start(scheduler)
    await hung.wait_accepted(20)
    stop.set()
    await task

    hung_results = [r for r in recorder.rows if r[0].startswith("svc/hung")]
    # the runs in flight were finished at their own deadline and reported
    assert len(hung_results) == 20 and {r[2] for r in hung_results} == {"timeout"}
    assert vigie_tasks() == []
    assert await hung.wait_closed_connections() == 0
    connections = psutil.Process().net_connections(kind="tcp")
    assert not [c for c in connections if c.raddr and c.raddr.port == hung.port]


async def test_run_now_makes_a_check_due(registry, http, web_server, gate):
    # each run is held by the server until the test lets it go, and takes 0.1 s of the
    # scheduler's clock; nothing happens at the 10 s interval unless run_now works
    check = make_check("c", str(web_server.make_url("/gated")), interval=10, timeout=10)
    clock = ManualClock()
    recorder = Recorder(clock=clock)
    scheduler = Scheduler([check], registry, http, recorder, spread_first_runs=False,
                          clock=clock, call_later=clock.call_later)
    scheduler.run_now(check.key)  # before start: harmless
    stop, task = await start(scheduler)
    await until(lambda: gate.waiting == 1)
    clock.advance(0.1)
    gate.let_through()
    await recorder.wait_for(lambda: len(recorder.rows) == 1, within=10)
    await settled(scheduler, clock)
    scheduler.run_now(check.key)  # idle until t=10 s: runs at once
    await until(lambda: gate.waiting == 1)
    scheduler.run_now(check.key)  # during that run: runs again right after it
    clock.advance(0.1)
    gate.let_through()
    await recorder.wait_for(lambda: len(recorder.rows) == 2, within=10)
    await until(lambda: gate.waiting == 1)  # the run again, after the one in flight
    assert gate.arrived == 3
    clock.advance(0.1)
    gate.let_through()
    await recorder.wait_for(lambda: len(recorder.rows) == 3, within=10)
    gate.open()
    while True:  # then nothing until the interval is over
        await settled(scheduler, clock)
        if len(recorder.rows) == 4:
            break
        clock.advance_to_next_timer()
    stop.set()
    await task
    # the last run was due at 0.2 s: the next one keeps that phase
    assert recorder.times(check.key) == pytest.approx([0.1, 0.2, 0.3, 10.2])
    assert registry.get("t_get").instance.max_in_flight == 1
    with pytest.raises(KeyError):
        scheduler.run_now("svc/nope")


async def test_disabled_and_unknown_checks(registry, http):
    on = make_check("on", "http://127.0.0.1:1/")
    off = make_check("off", "http://127.0.0.1:1/", enabled=False)
    assert Scheduler([on, off], registry, http, lambda c, r: 1.0).checks == 1
    stray = Check(ref=CheckRef("svc", "x", "nope"), name=LocalizedText(fr="x"), interval=1,
                  timeout=1, confirm=1, retry_interval=1, options=ProbeConfig())
    with pytest.raises(ValueError, match="nope"):
        Scheduler([stray], registry, http, lambda c, r: 1.0)
    with pytest.raises(ValueError, match="twice"):
        Scheduler([on, on], registry, http, lambda c, r: 1.0)


async def test_run_returns_at_once_when_stop_is_already_set(registry, http):
    stop = asyncio.Event()
    stop.set()
    scheduler = Scheduler([make_check("c", "http://127.0.0.1:1/")], registry, http,
                          lambda c, r: 1.0)
    async with asyncio.timeout(0.5):
        await scheduler.run(stop)
    assert vigie_tasks() == []


async def test_cancelling_run_cancels_runs_in_flight(registry, http, hung):
    checks = [make_check(f"hung{i}", f"http://127.0.0.1:{hung.port}/", timeout=5)
              for i in range(10)]
    scheduler = Scheduler(checks, registry, http, lambda c, r: c.interval,
                          spread_first_runs=False)
    _, task = await start(scheduler)
    await hung.wait_accepted(10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert vigie_tasks() == []
    assert await hung.wait_closed_connections(within=0.5) == 0


async def test_set_owned_stops_lost_checks_and_starts_gained_ones_when_due(
        registry, http, web_server):
    """A node of a cluster runs its share: a lost check is not run again, a gained one
    runs when its stored last run says it is due (at once when that is past), and one
    never run at its usual spot in its interval."""
    url = str(web_server.make_url("/ok"))
    checks = [make_check(f"c{i}", url, interval=10) for i in range(4)]
    keys = [c.key for c in checks]
    clock = ManualClock()
    recorder = Recorder(clock=clock)
    stats = SchedulerStats()
    scheduler = Scheduler(checks, registry, http, recorder, spread_first_runs=False,
                          clock=clock, call_later=clock.call_later, stats=stats,
                          owned=keys[:2])
    stop, task = await start(scheduler)
    await recorder.wait_for(lambda: len(recorder.rows) == 2, within=10)
    await settled(scheduler, clock)
    assert {k for k, *_ in recorder.rows} == set(keys[:2]) and stats.checks == 2

    clock.advance(4)
    gained, lost = scheduler.set_owned(keys[1:], {keys[2]: 3.0, keys[3]: -5.0})
    assert (gained, lost) == (keys[2:], keys[:1])
    assert scheduler.owned() == keys[1:] and stats.checks == 3
    # overdue: at once
    await recorder.wait_for(lambda: len(recorder.rows) == 3, within=10)
    assert recorder.rows[-1][0] == keys[3] and recorder.rows[-1][3] == 4.0
    await settled(scheduler, clock)
    while clock.next_timer() <= 25:
        clock.advance_to_next_timer()
        await settled(scheduler, clock)
    stop.set()
    await task

    assert recorder.times(keys[0]) == [0.0]  # lost at 4 s: due at 10 s, never run again
    assert recorder.times(keys[1]) == [0.0, 10.0, 20.0]  # kept: its phase unchanged
    assert recorder.times(keys[2]) == [7.0, 17.0]  # due 3 s after it was gained
    assert recorder.times(keys[3]) == [4.0, 14.0, 24.0]


async def test_a_check_lost_while_queued_or_running_is_not_run_again(registry, http,
                                                                     web_server, gate):
    checks = [make_check(f"c{i}", str(web_server.make_url("/gated")), interval=1)
              for i in range(3)]
    keys = [c.key for c in checks]
    clock = ManualClock()
    recorder = Recorder(clock=clock)
    stats = SchedulerStats()
    scheduler = Scheduler(checks, registry, http, recorder, spread_first_runs=False,
                          concurrency=1, clock=clock, call_later=clock.call_later,
                          stats=stats)
    stop, task = await start(scheduler)
    await until(lambda: gate.waiting == 1)  # one running, two queued behind it
    running = keys[0]
    scheduler.set_owned([])
    gate.open()
    await recorder.wait_for(lambda: len(recorder.rows) == 1, within=10)
    await until(lambda: stats.in_flight == 0 and stats.queued == 0)
    clock.advance(5)
    for _ in range(20):
        await asyncio.sleep(0)
    stop.set()
    await task

    # the run in progress ended and was taken; the queued ones never started
    assert [k for k, *_ in recorder.rows] == [running]
    assert gate.arrived == 1 and stats.checks == 0
    assert scheduler.run_now(keys[1]) is None and gate.arrived == 1  # not ours: nothing


async def test_first_due_keeps_the_due_times_a_replaced_scheduler_had(registry, http,
                                                                      web_server):
    """``vigie agent`` replaces its scheduler when its checks change: the checks it keeps
    run when they were due (at once when overdue), the others at their usual spot."""
    url = str(web_server.make_url("/ok"))
    checks = [make_check(f"c{i}", url, interval=10) for i in range(3)]
    keys = [c.key for c in checks]
    clock = ManualClock()
    recorder = Recorder(clock=clock)
    scheduler = Scheduler(checks, registry, http, recorder, clock=clock,
                          call_later=clock.call_later,
                          first_due={keys[0]: 2.5, keys[1]: -1.0})
    stop, task = await start(scheduler)
    await recorder.wait_for(lambda: len(recorder.rows) == 1, within=10)
    await settled(scheduler, clock)
    while clock.next_timer() <= 12.5:
        clock.advance_to_next_timer()
        await settled(scheduler, clock)
    stop.set()
    await task

    assert recorder.times(keys[1]) == [0.0, 10.0]  # overdue: at once
    assert recorder.times(keys[0]) == [2.5, 12.5]
    spot = first_run_offset(checks[2])
    assert recorder.times(keys[2]) == [spot] + ([spot + 10] if spot <= 2.5 else [])
