"""The durable outbox and its worker, against real local HTTP receivers (aiohttp) and a real
store; a worker process killed with SIGKILL and restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from monitor.incidents.inputs import InvalidInput
from monitor.incidents.models import IncidentLink, OutboxEntry
from monitor.incidents.outbox import ERROR_LENGTH, DeliveryStats, OutboxWorker, backlog, prune
from monitor.notifications import Link, PermanentFailure, RetryLater, to_json
from monitor.plugins import build_plugin_manager, hookimpl
from monitor.probe import Status
from tests.monitor.test_incidents import Clock, Subscriber, build_harness, store_url  # noqa: F401 (store_url: a fixture)
from tests.peers import Changes


class Receiver:
    """A local HTTP endpoint scripted with the statuses to answer, in order (then 200).

    It honours ``Idempotency-Key`` like a careful receiver: a key it already accepted is
    answered 200 again but not acted on twice.
    """

    def __init__(self, script=(), retry_after: str | None = None):
        self.script = list(script)
        self.retry_after = retry_after
        #: when set to an unset event, requests wait for it before being answered
        self.hold: asyncio.Event | None = None
        self.requests: list[tuple[str, dict]] = []  # every request: (key, body)
        self.accepted: dict[str, dict] = {}  # what it acted on, once per key
        self.received_at: list[float] = []
        self.url = ""
        #: noted at each request received and each one acted on
        self.changes = Changes()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = request.headers.get("Idempotency-Key", "")
        self.requests.append((key, body))
        self.changes.note()
        if self.hold is not None:
            await self.hold.wait()
        status = self.script.pop(0) if self.script else 200
        if status != 200:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.Response(status=status, headers=headers, text="nope")
        if key not in self.accepted:
            self.accepted[key] = body
            self.received_at.append(time.time())
            self.changes.note()
        return web.json_response({"id": len(self.accepted)})


@pytest.fixture
async def receiver_factory():
    runners = []

    async def start(**kwargs) -> Receiver:
        receiver = Receiver(**kwargs)
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        receiver.url = f"http://127.0.0.1:{port}/hook"
        runners.append(runner)
        return receiver

    yield start
    for runner in runners:
        await runner.cleanup()


class Poster:
    """A plugin that POSTs incident events to a URL, the way a webhook notifier would:
    429/503 with Retry-After → RetryLater, other 4xx → PermanentFailure, 5xx → error."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _post(self, event) -> list[Link]:
        async with aiohttp.ClientSession() as session:
            async with session.post(self.url, json={"kind": event.kind, "ref": event.reference},
                                    headers={"Idempotency-Key": event.idempotency_key}) as resp:
                if resp.status in (429, 503) and "Retry-After" in resp.headers:
                    raise RetryLater(float(resp.headers["Retry-After"]))
                if 400 <= resp.status < 500:
                    raise PermanentFailure(f"the receiver refused: HTTP {resp.status}")
                resp.raise_for_status()
                ticket = (await resp.json())["id"]
        return [Link("ticket", f"Ticket {ticket}", f"https://desk.example/t/{ticket}",
                     public=False, external_id=str(ticket))]

    @hookimpl
    async def vigie_incident_opened(self, event):
        return await self._post(event)

    @hookimpl
    async def vigie_incident_updated(self, event):
        await self._post(event)

    @hookimpl
    async def vigie_incident_resolved(self, event):
        await self._post(event)


class Outcomes(Counter):
    """The worker's count of outcomes per (plugin, outcome) (``stats.deliveries``), which
    notes each change: the worker counts an outcome once it is recorded in the store, so
    a test waiting on :attr:`changes` sees the rows as the worker left them."""

    def __init__(self) -> None:
        self.changes = Changes()
        super().__init__()

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.changes.note()


def harness_with(tmp_path, plugins, url: str | None = None, **worker_kwargs):
    """A harness and its outbox worker; the worker's clock is a :class:`Clock` (moved by
    :func:`drain`) unless the test gives one (``time.time`` for a running worker, whose
    lanes poll on the machine's clock), its outcomes counted in :class:`Outcomes`."""
    h = build_harness(url or f"sqlite:///{tmp_path / 'vigie.sqlite'}", tmp_path)
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=plugins)
    from monitor.incidents.context import IncidentContext

    h.ctx = IncidentContext.build(h.config, pm, clock=h.clock)
    h.engine.ctx = h.ctx
    h.ops.ctx = h.ctx
    kwargs = {"initial_backoff": 0.01, "max_backoff": 0.05, "clock": Clock(time.time()),
              "stats": DeliveryStats(deliveries=Outcomes())}
    kwargs.update(worker_kwargs)
    worker = OutboxWorker(h.store.session, pm, **kwargs)
    return h, worker


async def drain(worker: OutboxWorker, until) -> None:
    """Run the worker round after round until ``until()`` holds; when nothing is due, move
    its clock to the next attempt (a backoff passes without waiting for it)."""
    async with asyncio.timeout(30):  # only stops a hung test
        while not until():
            if not await worker.run_once():
                next_at = await asyncio.to_thread(next_attempt, worker)
                assert next_at is not None, "nothing left to deliver"
                worker.clock.now = next_at


def next_attempt(worker: OutboxWorker) -> float | None:
    """The next time, by the worker's clock, some pending entry comes due (None when
    none is waiting for its time)."""
    with worker.sessions() as s:
        return s.scalar(select(func.min(OutboxEntry.next_attempt_at)).where(
            OutboxEntry.status == "pending", OutboxEntry.next_attempt_at > worker.clock()))


async def recorded(worker: OutboxWorker, condition) -> None:
    """Return once ``condition()`` holds, checked after each outcome the worker records."""
    await worker.stats.deliveries.changes.wait(condition)


def entries(h) -> list[OutboxEntry]:
    with h.store.session() as s:
        return list(s.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))


async def test_a_receiver_failing_three_times_gets_the_alert_exactly_once(
        tmp_path, receiver_factory, store_url):
    receiver = await receiver_factory(script=[500, 500, 500])
    h, worker = harness_with(tmp_path, [("poster", Poster(receiver.url))], store_url)
    h.confirm("mail/smtp", Status.DOWN)
    await drain(worker, lambda: receiver.accepted)
    assert len(receiver.requests) == 4
    assert {key for key, _ in receiver.requests} == {entries(h)[0].idempotency_key}
    assert len(receiver.accepted) == 1
    [entry] = entries(h)
    assert entry.status == "delivered" and entry.attempts == 4 and entry.last_error is None
    assert worker.stats.deliveries[("poster", "failed")] == 3
    assert worker.stats.deliveries[("poster", "delivered")] == 1
    # the link the plugin returned is stored on the incident, private
    with h.store.session() as s:
        [link] = s.scalars(select(IncidentLink)).all()
    assert (link.plugin, link.kind, link.public, link.external_id) == ("poster", "ticket", False, "1")
    await worker.run_once()
    assert len(receiver.requests) == 4  # nothing more to send
    h.store.dispose()


async def test_retry_after_is_honoured_and_not_counted_as_a_failure(tmp_path, receiver_factory):
    receiver = await receiver_factory(script=[429], retry_after="120")
    clock = Clock(time.time())
    h, worker = harness_with(tmp_path, [("poster", Poster(receiver.url))], clock=clock)
    h.clock.now = clock.now
    h.confirm("mail/smtp", Status.DOWN)
    assert await worker.run_once()
    [entry] = entries(h)
    assert entry.status == "pending" and entry.attempts == 0
    assert entry.next_attempt_at == pytest.approx(clock.now + 120)
    clock.now += 119
    assert not await worker.run_once()  # not before the receiver said
    assert len(receiver.requests) == 1
    clock.now += 2
    assert await worker.run_once()
    assert entries(h)[0].status == "delivered" and len(receiver.accepted) == 1
    assert worker.stats.deliveries[("poster", "retry_later")] == 1
    h.store.dispose()


async def test_permanent_failure_is_dead_lettered_and_can_be_retried_by_hand(tmp_path, receiver_factory):
    receiver = await receiver_factory(script=[422])
    h, worker = harness_with(tmp_path, [("poster", Poster(receiver.url))])
    h.confirm("mail/smtp", Status.DOWN)
    await worker.run_once()
    [entry] = entries(h)
    assert entry.status == "dead"
    assert entry.last_error == "PermanentFailure: the receiver refused: HTTP 422"
    with h.store.session() as s:
        assert backlog(s).dead == 1
    assert not await worker.run_once()
    with h.store.session() as s, s.begin():
        h.ops.retry_outbox(s, entry.id)
    await drain(worker, lambda: receiver.accepted)
    assert entries(h)[0].status == "delivered"
    with h.store.session() as s, s.begin():
        with pytest.raises(InvalidInput, match="already delivered"):
            h.ops.retry_outbox(s, entry.id)
    h.store.dispose()


class Hostile:
    """Fails with a message carrying what a remote service may send: NUL, controls, bidi,
    and far too much of it."""

    @hookimpl
    def vigie_incident_opened(self, event):
        raise PermanentFailure("refus\x00 du\x1b[31m service\u202e" + "x" * 50_000)


async def test_a_failure_message_is_made_safe_before_the_row_records_it(tmp_path, store_url):
    # PostgreSQL refuses a NUL byte in text: unrecorded, the row would be retried for ever
    h, worker = harness_with(tmp_path, [("hostile", Hostile())], url=store_url)
    h.confirm("mail/smtp", Status.DOWN)
    await worker.run_once()
    [entry] = entries(h)
    assert entry.status == "dead"
    assert entry.last_error.startswith("PermanentFailure: refus ")
    assert "service" in entry.last_error
    assert not {"\x00", "\x1b", "\u202e"} & set(entry.last_error)
    assert len(entry.last_error) <= ERROR_LENGTH
    h.store.dispose()


class Flaky:
    """Fails every call; records what it was called with."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def vigie_incident_opened(self, event):
        self.calls.append(event.idempotency_key)
        raise ConnectionError("connection refused")


async def test_after_max_attempts_an_entry_is_dead_and_backoff_grows_to_its_cap(tmp_path):
    flaky = Flaky()
    h, worker = harness_with(tmp_path, [("flaky", flaky)], max_attempts=3)
    h.confirm("mail/smtp", Status.DOWN)
    await drain(worker, lambda: entries(h)[0].status == "dead")
    assert len(flaky.calls) == 3
    assert entries(h)[0].last_error == "ConnectionError: connection refused"
    assert worker.stats.deliveries[("flaky", "dead")] == 1
    big = OutboxWorker(h.store.session, worker.pm, initial_backoff=5, max_backoff=3600)
    delays = [big.backoff(n) for n in range(1, 15)]
    assert all(0 <= d <= 3600 for d in delays)
    assert max(big.backoff(12) for _ in range(20)) > 100  # it does grow
    h.store.dispose()


def test_the_backoff_is_the_wait_tenacity_gives_after_that_many_failures():
    from tenacity import wait_exponential

    worker = OutboxWorker(None, None, initial_backoff=5, max_backoff=3600)
    for attempts in (1, 3, 8):  # full jitter: between 0 and the exponential's bound
        assert all(0 <= worker.backoff(attempts) <= min(3600, 5 * 2 ** (attempts - 1))
                   for _ in range(50))
    worker._wait = wait_exponential(multiplier=5, max=3600)  # no jitter: exact figures
    assert [worker.backoff(n) for n in range(1, 6)] == [5, 10, 20, 40, 80]
    assert worker.backoff(20) == 3600


async def test_deliveries_to_one_plugin_keep_their_order_while_others_proceed(tmp_path, receiver_factory):
    slow = await receiver_factory(script=[500, 500])
    fast = await receiver_factory()
    h, worker = harness_with(tmp_path, [("slow", Poster(slow.url)), ("fast", Poster(fast.url))])
    h.confirm("mail/smtp", Status.DOWN)
    h.confirm("mail/smtp", Status.UP)
    h.clock.now += 400
    h.tick()  # resolved: "opened" and "resolved" queued for both plugins
    await drain(worker, lambda: len(slow.accepted) == 2 and len(fast.accepted) == 2)
    assert [b["kind"] for _, b in fast.requests] == ["opened", "resolved"]
    # slow's "resolved" waited until its "opened" got through (third try)
    assert [b["kind"] for _, b in slow.requests] == ["opened", "opened", "opened", "resolved"]
    h.store.dispose()


async def test_a_resolved_event_carries_the_ticket_the_plugin_attached_on_opening(tmp_path):
    seen = []

    class Desk:
        @hookimpl
        def vigie_incident_opened(self, event):
            return [Link("ticket", "T-7", "https://desk.example/7", public=False,
                         external_id="7")]

        @hookimpl
        def vigie_incident_resolved(self, event):
            seen.append(event.own_links)

    h, worker = harness_with(tmp_path, [("desk", Desk())])
    h.confirm("mail/smtp", Status.DOWN)
    h.confirm("mail/smtp", Status.UP)
    h.clock.now += 400
    h.tick()  # "resolved" written before "opened" was delivered
    await drain(worker, lambda: bool(seen))
    assert [l.external_id for l in seen[0]] == ["7"]
    h.store.dispose()


# Crash and restart ----------------------------------------------------------------------

WORKER_SCRIPT = textwrap.dedent("""
    import asyncio, sys, aiohttp
    from collections import Counter
    from monitor.plugins import build_plugin_manager, hookimpl
    from monitor.store import Store
    from monitor.incidents.outbox import DeliveryStats, OutboxWorker

    url, db = sys.argv[1], sys.argv[2]

    class Poster:
        @hookimpl
        async def vigie_incident_opened(self, event):
            async with aiohttp.ClientSession() as s:
                async with s.post(url, json={"kind": event.kind},
                                  headers={"Idempotency-Key": event.idempotency_key}) as r:
                    r.raise_for_status()

    class Outcomes(Counter):  # says each outcome, once the worker has recorded it
        def __setitem__(self, key, value):
            super().__setitem__(key, value)
            print("recorded", *key, flush=True)

    async def main():
        store = Store(db)
        pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("poster", Poster())])
        print("worker ready", flush=True)
        await OutboxWorker(store.session, pm, poll_interval=0.05, initial_backoff=0.05,
                           stats=DeliveryStats(deliveries=Outcomes())).run()

    asyncio.run(main())
""")


def start_worker(url: str, db: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, url, db],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=os.getcwd())
    assert proc.stdout.readline().strip() == "worker ready"
    return proc


async def delivered_by(proc: subprocess.Popen) -> None:
    """Return once the worker process says it recorded a delivery (it prints each outcome
    it records); the process ending first, or a hang, fails."""
    def read() -> None:
        for line in proc.stdout:
            if line.split() == ["recorded", "poster", "delivered"]:
                return
        raise AssertionError("the worker process ended without delivering")

    await asyncio.wait_for(asyncio.to_thread(read), 30)


async def test_sigkill_after_the_state_change_delivers_once_after_restart(tmp_path, receiver_factory):
    receiver = await receiver_factory()
    h, _ = harness_with(tmp_path, [("poster", Poster(receiver.url))])
    db = f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    receiver.hold = asyncio.Event()  # the first process gets stuck mid-delivery
    first = await asyncio.to_thread(start_worker, receiver.url, db)
    h.confirm("mail/smtp", Status.DOWN)  # state change + outbox row, committed
    await receiver.changes.wait(lambda: receiver.requests)  # the request is in flight…
    first.send_signal(signal.SIGKILL)  # …when the process dies
    first.wait(5)
    assert entries(h)[0].status == "pending" and not receiver.accepted
    # the receiver acts on that first request after all; the answer reaches no one
    receiver.hold.set()
    await receiver.changes.wait(lambda: receiver.accepted)
    second = await asyncio.to_thread(start_worker, receiver.url, db)
    try:
        await delivered_by(second)
    finally:
        second.kill()
        second.wait(5)
    keys = {k for k, _ in receiver.requests}
    assert keys == {entries(h)[0].idempotency_key}  # the same key both times
    assert entries(h)[0].status == "delivered"
    assert len(receiver.accepted) == 1  # acted on once
    h.store.dispose()


async def test_sigkill_before_any_delivery_attempt_delivers_once_after_restart(tmp_path, receiver_factory):
    receiver = await receiver_factory()
    h, _ = harness_with(tmp_path, [("poster", Poster(receiver.url))])
    db = f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    # the state change is written by a process killed before its worker ever runs
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {os.getcwd()!r})
        from tests.monitor.test_outbox import kill_after_state_change
        kill_after_state_change({str(tmp_path)!r}, {receiver.url!r})
    """)
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script],
                                   capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert [e.status for e in entries(h)] == ["pending"] and not receiver.requests
    worker = await asyncio.to_thread(start_worker, receiver.url, db)
    try:
        await delivered_by(worker)
    finally:
        worker.kill()
        worker.wait(5)
    assert len(receiver.requests) == 1 and len(receiver.accepted) == 1
    assert entries(h)[0].status == "delivered"
    h.store.dispose()


def kill_after_state_change(tmp_path: str, url: str) -> None:
    """Run in a child process: open an incident (committed), then die by SIGKILL."""
    from pathlib import Path

    h, _ = harness_with(Path(tmp_path), [("poster", Poster(url))])
    h.confirm("mail/smtp", Status.DOWN)
    os.kill(os.getpid(), signal.SIGKILL)


async def test_system_alert_subscribers_get_rows_and_unknown_plugins_are_dead(tmp_path):
    h, worker = harness_with(tmp_path, [("sub", Subscriber())])
    from monitor.incidents.emit import emit_system_alert
    from monitor.notifications import SystemAlert

    alert = SystemAlert("outbox.backlog", "outbox.backlog:1", "warning", "t", "t", "m", "m", 1.0)
    with h.store.session() as s, s.begin():
        assert emit_system_alert(s, h.ctx, alert, at=1.0) == 1
        assert emit_system_alert(s, h.ctx, alert, at=1.0) == 0  # same key: once
        s.add(OutboxEntry(idempotency_key="x", hook="vigie_system_alert", plugin="gone",
                          stream="system:x", payload=to_json(alert),
                          status="pending", attempts=0, created_at=1.0, next_attempt_at=1.0))
    await worker.run_once()
    status = {e.plugin: (e.status, e.last_error) for e in entries(h)}
    assert status["sub"] == ("delivered", None)
    assert status["gone"][0] == "dead" and "not loaded" in status["gone"][1]
    h.store.dispose()


async def test_prune_removes_only_old_delivered_entries(tmp_path):
    h, worker = harness_with(tmp_path, [("sub", Subscriber())])
    h.confirm("mail/smtp", Status.DOWN)
    h.confirm("web/http", Status.DOWN)
    await drain(worker, lambda: all(e.status == "delivered" for e in entries(h)))
    with h.store.session() as s, s.begin():
        first = s.get(OutboxEntry, 1)
        first.delivered_at = 1.0
        s.get(OutboxEntry, 2).status = "dead"
        s.get(OutboxEntry, 2).delivered_at = None
    with h.store.session() as s, s.begin():
        assert prune(s, older_than=time.time() - 3600) == 1
    assert [e.id for e in entries(h)] == [2]
    h.store.dispose()


async def test_a_hung_plugin_times_out_and_does_not_block_the_others(tmp_path):
    delivered = []

    class Hung:
        @hookimpl
        async def vigie_incident_opened(self, event):
            await asyncio.sleep(60)  # hung peer: a plugin that never returns

    class Quick:
        @hookimpl
        def vigie_incident_opened(self, event):  # synchronous: run in a thread
            delivered.append(event.idempotency_key)

    h, worker = harness_with(tmp_path, [("hung", Hung()), ("quick", Quick())],
                             call_timeout=0.2)
    h.confirm("mail/smtp", Status.DOWN)
    await worker.run_once()
    # the call timeout ended the hung delivery (its error says so); the other went through
    status = {e.plugin: (e.status, e.attempts, e.last_error) for e in entries(h)}
    assert status["quick"][0] == "delivered" and delivered
    assert status["hung"] == ("pending", 1, "TimeoutError")
    h.store.dispose()


# Lanes: each plugin on its own --------------------------------------------------------------


def queue(h, plugin: str, streams: int, events: tuple[str, ...] = ("opened", "resolved")):
    """Write ``events`` for ``streams`` incidents, for ``plugin``, as the engine would."""
    from monitor.incidents.outbox import enqueue
    from monitor.notifications import IncidentEvent

    hooks = {"opened": "vigie_incident_opened", "resolved": "vigie_incident_resolved"}
    with h.store.session() as s, s.begin():
        for stream in range(1, streams + 1):
            for kind in events:
                key = f"{plugin}:{stream}:{kind}"
                event = IncidentEvent(kind, key, stream, f"INC-{stream}", "Panne", "Outage",
                                      "major_outage", "investigating", True, 1.0, 1.0)
                enqueue(s, hook=hooks[kind], plugin=plugin, key=key,
                        stream=f"incident:{stream}", payload=to_json(event), at=time.time())


class Gated:
    """Holds every call until :attr:`gate` opens; counts the calls in progress."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.active = 0
        self.most = 0
        self.calls: list[str] = []
        #: noted when a call starts
        self.changes = Changes()

    async def _call(self, event) -> None:
        self.active += 1
        self.most = max(self.most, self.active)
        self.changes.note()
        try:
            await self.gate.wait()
            self.calls.append(event.idempotency_key)
        finally:
            self.active -= 1

    @hookimpl
    async def vigie_incident_opened(self, event):
        await self._call(event)

    @hookimpl
    async def vigie_incident_resolved(self, event):
        await self._call(event)


@pytest.fixture
async def running():
    """Start ``worker.run()`` as a task; cancelled at the end."""
    tasks = []

    def start(worker: OutboxWorker) -> asyncio.Task:
        task = asyncio.create_task(worker.run())
        tasks.append(task)
        return task

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_lane_delivers_each_entry_once_in_stream_order_up_to_its_concurrency(
        tmp_path, running):
    wide, narrow = Gated(), Gated()
    h, worker = harness_with(tmp_path, [("wide", wide), ("narrow", narrow)], clock=time.time,
                             concurrency=3, plugin_concurrency={"narrow": 1})
    queue(h, "wide", streams=5)
    queue(h, "narrow", streams=2)
    running(worker)
    # three of wide's five incidents in flight at once, one of narrow's
    await wide.changes.wait(lambda: wide.active == 3)
    await narrow.changes.wait(lambda: narrow.active == 1)
    wide.gate.set()
    narrow.gate.set()
    await recorded(worker, lambda: sum(worker.stats.deliveries.values()) == 14)
    assert all(e.status == "delivered" for e in entries(h))
    assert (wide.most, narrow.most) == (3, 1)
    for gated, plugin, streams in ((wide, "wide", 5), (narrow, "narrow", 2)):
        assert sorted(gated.calls) == sorted(f"{plugin}:{s}:{k}" for s in range(1, streams + 1)
                                             for k in ("opened", "resolved"))  # each once
        for stream in range(1, streams + 1):  # and in order within an incident
            assert gated.calls.index(f"{plugin}:{stream}:opened") < gated.calls.index(
                f"{plugin}:{stream}:resolved")
    assert {e.attempts for e in entries(h)} == {1}
    h.store.dispose()


async def test_one_plugin_failing_and_retrying_never_delays_another(tmp_path, running):
    flaky, quick = Flaky(), Gated()
    quick.gate.set()
    h, worker = harness_with(tmp_path, [("flaky", flaky), ("quick", quick)], clock=time.time,
                             initial_backoff=0.001, max_backoff=0.002, max_attempts=1000)
    queue(h, "flaky", streams=3, events=("opened",))
    running(worker)
    await recorded(worker, lambda: len(flaky.calls) >= 30)  # failing, retried again and again…
    queue(h, "quick", streams=3)
    worker.wake()
    # …while the other plugin's entries all go through
    await recorded(worker, lambda: len(quick.calls) == 6)
    assert all(e.status == "pending" for e in entries(h) if e.plugin == "flaky")
    h.store.dispose()


async def test_a_hung_synchronous_plugin_holds_only_its_own_lanes_threads(tmp_path, running):
    import threading

    stuck = threading.Event()

    class Blocking:
        @hookimpl
        def vigie_incident_opened(self, event):  # blocking I/O that never returns
            stuck.wait()

    quick = Gated()
    quick.gate.set()
    h, worker = harness_with(tmp_path, [("blocking", Blocking()), ("quick", quick)],
                             clock=time.time, call_timeout=0.1, concurrency=2, max_attempts=1000,
                             initial_backoff=0.001, max_backoff=0.002)
    queue(h, "blocking", streams=6, events=("opened",))
    running(worker)
    try:
        await recorded(worker, lambda: worker.stats.deliveries[("blocking", "failed")] >= 12)
        threads = [t for t in threading.enumerate()
                   if t.name.startswith("vigie-outbox-blocking")]
        assert len(threads) == 2  # its concurrency, however many calls timed out
        queue(h, "quick", streams=4)
        worker.wake()
        await recorded(worker, lambda: len(quick.calls) == 8)
    finally:
        stuck.set()
    h.store.dispose()


async def test_a_write_wakes_the_lanes_without_waiting_for_the_next_poll(tmp_path, running):
    quick = Gated()
    quick.gate.set()
    looked = threading.Event()

    def clock() -> float:  # called by each look at the queue (in a thread)
        looked.set()
        return time.time()

    h, worker = harness_with(tmp_path, [("quick", quick)], poll_interval=3600, clock=clock)
    running(worker)
    # the lane starts, finds nothing, and would look again in an hour
    assert await asyncio.to_thread(looked.wait, 10)
    queue(h, "quick", streams=1, events=("opened",))
    worker.wake()  # what the engine's write does
    await recorded(worker, lambda: quick.calls == ["quick:1:opened"])
    h.store.dispose()


async def test_direct_alerts_reach_every_plugin_even_when_one_hangs():
    from monitor.incidents.watch import send_directly
    from monitor.notifications import SystemAlert as Alert

    got = []
    sent = threading.Event()

    class Hung:
        @hookimpl
        async def vigie_system_alert(self, alert):
            await asyncio.Event().wait()

    class Quick:
        @hookimpl
        def vigie_system_alert(self, alert):
            got.append(alert.code)
            sent.set()

    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("hung", Hung()), ("quick", Quick())])
    alert = Alert("store.unreachable", "k", "critical", "t", "t", "m", "m", 1.0)
    task = asyncio.create_task(send_directly(pm, alert, timeout=60))
    assert await asyncio.to_thread(sent.wait, 10)  # while the other still hangs
    assert got == ["store.unreachable"]
    assert not task.done()
    task.cancel()
