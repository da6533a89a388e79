"""Storm control: several services down together give one grouped alert, really sent.

The events go through Vigie's real durable outbox (SQLite) and its worker, which delivers
one entry at a time; what the local ``json://`` receivers got is checked. Time is a
:class:`FakeClock` that moves only when a test moves it (the storm gate and the outbox
worker both read it); only the HTTP round trips to the local receiver take real time,
and they are awaited as conditions with a generous timeout.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from monitor.config_loader import load_config
from monitor.incidents.models import OutboxEntry
from monitor.incidents.outbox import OutboxWorker, enqueue
from monitor.notifications import RetryLater, to_json
from monitor.plugins import build_plugin_manager, config_sections
from monitor.probe import ProbeResult, Status
from monitor.startup import StartupContext
from monitor.state import StateBook
from monitor.store import Store
from plugins import notify_apprise
from tests.plugins.test_notify_apprise import T0, incident, receiver, registry, write_config  # noqa: F401 (fixtures)


class FakeClock:
    """A clock that moves only when :meth:`advance` is called; its scale is Unix time, so
    the outbox worker can read it too."""

    def __init__(self, start: float = T0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._order = itertools.count()

    def now(self) -> float:
        """The time the test has reached."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Return when the test has moved the clock ``seconds`` further."""
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), waiter))
        if seconds <= 0:
            self.advance(0)
        await waiter

    def advance(self, seconds: float) -> None:
        """Move the clock and wake whoever slept until then."""
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                waiter.set_result(None)


@pytest.fixture
def clock() -> FakeClock:
    """A clock at :data:`T0` (28 November 2026, 14:05 in Paris)."""
    return FakeClock()


@pytest.fixture
def store(tmp_path):
    """A migrated SQLite store holding the outbox."""
    store = Store(f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    store.upgrade()
    yield store
    store.dispose()


@dataclass
class Vigie:
    """The parts of a running Vigie these tests use."""

    worker: OutboxWorker
    #: the live states the notifier reads (``ctx.state``)
    state: StateBook
    plugin: notify_apprise.ApprisePlugin


@asynccontextmanager
async def vigie(tmp_path, registry, store, clock, **notifications):
    """The apprise plugin started on a configuration, and an outbox worker feeding it,
    both on ``clock``."""
    plugin = notify_apprise.ApprisePlugin()
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("apprise", plugin)])
    config = load_config(write_config(tmp_path, notifications), registry, config_sections(pm))
    ctx = StartupContext(config=config, state=StateBook(config.services))
    await pm.hook.vigie_startup(ctx=ctx, runtime=None)[0]
    plugin.notifier.storm.clock = clock
    worker = OutboxWorker(store.session, pm, initial_backoff=0.01, max_backoff=0.05,
                          clock=clock.now)
    try:
        yield Vigie(worker, ctx.state, plugin)
    finally:
        await pm.hook.vigie_shutdown(ctx=ctx, runtime=None)[0]


def write(store, clock, *events) -> None:
    """Queue one ``vigie_incident_opened`` delivery per event, as the incident engine does."""
    with store.session() as session, session.begin():
        for event in events:
            enqueue(session, hook="vigie_incident_opened", plugin="apprise",
                    key=event.idempotency_key, stream=f"incident-{event.incident_id}",
                    payload=to_json(event), at=clock.now())


def statuses(store) -> list[str]:
    with store.session() as session:
        return list(session.scalars(select(OutboxEntry.status).order_by(OutboxEntry.id)))


async def until(receiver, condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` on what ``receiver`` got (a real HTTP round trip), checked
    at each post it answers."""
    await receiver.changes.wait(condition)


async def drain(vigie: Vigie, store, clock: FakeClock, timeout: float = 10.0) -> None:
    """Run the worker, moving the clock on whenever nothing is due, until every entry is
    delivered."""
    async with asyncio.timeout(timeout):
        while any(s != "delivered" for s in statuses(store)):
            if not await vigie.worker.run_once():
                clock.advance(1.0)
                # one turn: a storm whose hold is now over starts its grouped alert, which
                # the next round's held openings wait for
                await asyncio.sleep(0)


def titles(receiver, name: str = "a") -> list[str]:
    return [p["title"] for p in receiver.received[name]]


def down(state: StateBook, *services: str) -> None:
    """Every check of ``services`` confirmed down since :data:`T0` (as the state machine
    had it when the incidents opened)."""
    for sid in services:
        for key, check in state.checks.items():
            if check.service_id == sid:
                state.restore(key, Status.DOWN, T0 - 120)
    state.restore_services(T0 - 60)


def four_services():
    return [incident("nextcloud", incident_id=1), incident("mysql", incident_id=2),
            incident("web", incident_id=3, impact="partial_outage"),
            incident("mail", incident_id=4)]


async def test_four_services_down_give_the_first_alert_then_one_grouped_alert(
        tmp_path, registry, receiver, store, clock):
    async with vigie(tmp_path, registry, store, clock, urls=[{"url": receiver.url("a")}],
                     storm={"window": "1m", "threshold": 2}) as v:
        write(store, clock, *four_services())

        await v.worker.run_once()
        # the first went out at once; the others wait in the outbox, which is not stalled
        assert titles(receiver) == ["🔴 Nextcloud : panne majeure"]
        assert statuses(store) == ["delivered", "pending", "pending", "pending"]
        assert v.worker.stats.deliveries[("apprise", "retry_later")] == 3

        await drain(v, store, clock)

    _, grouped = receiver.received["a"]
    assert grouped["title"] == "🔴 4 services en panne en même temps"
    assert grouped["type"] == "failure"
    body = grouped["message"]
    assert "4 services sont tombés en panne en moins de 1 minute ;" in body
    assert "- Nextcloud : panne majeure, depuis 14 h 05 UTC+1 (28/11) — INC-1 (déjà signalé)" \
        in body
    assert "- Bases MySQL : panne majeure, depuis 14 h 05 UTC+1 (28/11) — INC-2\n" in body
    assert "- Hébergement web : panne partielle" in body
    assert "- Messagerie : panne majeure" in body
    assert "Page de l'incident : https://etat.example.org/incidents/4" in body
    assert "Guide « Se connecter à Messagerie » : https://guides.example.org/mail" in body
    assert body.count("Le serveur a répondu 503") == 4
    assert v.worker.stats.deliveries[("apprise", "failed")] == 0


async def test_below_the_threshold_nothing_is_held(tmp_path, registry, receiver, store, clock):
    async with vigie(tmp_path, registry, store, clock, urls=[{"url": receiver.url("a")}],
                     storm={"window": "30s", "threshold": 3}) as v:
        write(store, clock, *four_services()[:2])
        await v.worker.run_once()

        assert statuses(store) == ["delivered", "delivered"]
    assert titles(receiver) == ["🔴 Nextcloud : panne majeure", "🔴 Bases MySQL : panne majeure"]


async def test_with_a_threshold_of_three_the_first_two_go_out_alone(tmp_path, registry,
                                                                    receiver, store, clock):
    async with vigie(tmp_path, registry, store, clock, urls=[{"url": receiver.url("a")}],
                     storm={"window": "1m", "threshold": 3}) as v:
        write(store, clock, *four_services())
        await drain(v, store, clock)

    assert titles(receiver) == ["🔴 Nextcloud : panne majeure", "🔴 Bases MySQL : panne majeure",
                                "🔴 4 services en panne en même temps"]
    assert receiver.received["a"][2]["message"].count("(déjà signalé)") == 2


async def test_each_receiver_gets_the_storm_routed_to_it(tmp_path, registry, receiver, store,
                                                         clock):
    urls = [{"url": receiver.url("dba"), "tags": ["dba"]},
            {"url": receiver.url("web"), "tags": ["web"]}]
    routes = [{"groups": ["databases"], "tags": ["dba"]}, {"groups": ["web"], "tags": ["web"]}]
    async with vigie(tmp_path, registry, store, clock, urls=urls, routes=routes,
                     storm={"window": "1m", "threshold": 2}) as v:
        write(store, clock, incident("mysql", incident_id=1),
              incident("postgresql", incident_id=2), incident("web", incident_id=3))
        await drain(v, store, clock)

    assert titles(receiver, "dba") == ["🔴 Bases MySQL : panne majeure",
                                       "🔴 2 services en panne en même temps"]
    assert "Hébergement web" not in receiver.received["dba"][1]["message"]
    # only one of the storm's incidents concerns the web team: its full alert, alone
    assert titles(receiver, "web") == ["🔴 Hébergement web : panne majeure"]


async def test_what_a_failed_grouped_alert_missed_goes_out_on_the_retries(
        tmp_path, registry, receiver, store, clock):
    urls = [{"url": receiver.url("a")}, {"url": receiver.url("b"), "name": "salon"}]
    async with vigie(tmp_path, registry, store, clock, urls=urls,
                     storm={"window": "1m", "threshold": 2}) as v:
        write(store, clock, *four_services()[:3])
        await v.worker.run_once()
        receiver.reply("b", 500)
        clock.advance(60)
        # the grouped alert, sent by a timer: taken by a, refused by b
        await until(receiver, lambda: len(receiver.received["a"]) == 2 and ("b", 500) in receiver.answered)
        receiver.reply("b", 200)
        await drain(v, store, clock)

    assert titles(receiver) == ["🔴 Nextcloud : panne majeure",
                                "🔴 3 services en panne en même temps"]
    assert titles(receiver, "b") == [
        "🔴 Nextcloud : panne majeure", "🔴 Bases MySQL : panne majeure",
        "🟠 Hébergement web : panne partielle"]


async def test_a_storm_open_at_shutdown_is_not_lost(tmp_path, registry, receiver, store, clock):
    settings = {"urls": [{"url": receiver.url("a")}], "storm": {"window": "1m", "threshold": 2}}
    async with vigie(tmp_path, registry, store, clock, **settings) as v:
        write(store, clock, *four_services()[:3])
        await v.worker.run_once()
    # stopped before the window closed: nothing more was sent, the outbox still has them
    assert len(receiver.received["a"]) == 1
    assert statuses(store) == ["delivered", "pending", "pending"]

    clock.advance(600)  # time passes while Vigie is down
    async with vigie(tmp_path, registry, store, clock, **settings) as v:
        await drain(v, store, clock)

    assert titles(receiver) == [
        "🔴 Nextcloud : panne majeure", "🔴 Bases MySQL : panne majeure",
        "🔴 2 services en panne en même temps"]
    assert "Hébergement web" in receiver.received["a"][2]["message"]


async def test_a_held_opening_asked_again_too_early_is_held_again(tmp_path, registry,
                                                                   receiver, store, clock):
    async with vigie(tmp_path, registry, store, clock, urls=[{"url": receiver.url("a")}],
                     storm={"window": "1m", "threshold": 2, "hold": "10s"}) as running:
        notifier = running.plugin.notifier
        await notifier.deliver(incident("nextcloud", incident_id=1))
        with pytest.raises(RetryLater) as first:
            await notifier.deliver(incident("mysql", incident_id=2))
        clock.advance(4)
        with pytest.raises(RetryLater) as again:
            await notifier.deliver(incident("mysql", incident_id=2))

    assert 10 <= first.value.seconds <= 11
    assert 6 <= again.value.seconds <= 7
    assert "held for a grouped alert" in str(first.value)
    assert len(receiver.received["a"]) == 1


# The first alert of a storm is not late, and a late alert tells the state now -------------


@pytest.mark.parametrize(("storm", "hold"), [({}, 20), ({"hold": "5s"}, 5)],
                         ids=["default hold", "configured hold"])
async def test_the_first_alert_of_a_storm_leaves_within_the_hold(
        tmp_path, registry, receiver, store, clock, storm, hold):
    # the story: Nextcloud and MySQL fall, then the forum; the forum's alert was held 2 min
    async with vigie(tmp_path, registry, store, clock, urls=[{"url": receiver.url("a")}],
                     storm=storm) as v:
        write(store, clock, incident("nextcloud", incident_id=1),
              incident("mysql", incident_id=2), incident("forum", incident_id=3))
        await v.worker.run_once()
        assert titles(receiver) == ["🔴 Nextcloud : panne majeure",
                                    "🔴 Bases MySQL : panne majeure"]
        assert statuses(store) == ["delivered", "delivered", "pending"]  # the forum, held

        clock.advance(hold)
        await until(receiver, lambda: len(receiver.received["a"]) == 3)
        await drain(v, store, clock)

    assert titles(receiver)[2] == "🔴 3 services en panne en même temps"
    assert "- Forum : panne majeure, depuis" in receiver.received["a"][2]["message"]
    assert len(receiver.received["a"]) == 3  # the forum's own entry sent nothing more


async def test_a_grouped_alert_made_after_a_recovery_says_recovered(tmp_path, registry,
                                                                   receiver, store, clock):
    async with vigie(tmp_path, registry, store, clock, urls=[{"url": receiver.url("a")}],
                     languages=["fr", "en"], storm={"hold": "20s"}) as v:
        down(v.state, "nextcloud", "mysql", "forum")
        write(store, clock, incident("nextcloud", incident_id=1),
              incident("mysql", incident_id=2), incident("forum", incident_id=3))
        await v.worker.run_once()

        clock.advance(12)  # 14:05:12: the forum answers again
        v.state.apply("forum/port", ProbeResult.up(started_at=clock.now()))
        clock.advance(8)
        await until(receiver, lambda: len(receiver.received["a"]) == 3)
        await drain(v, store, clock)

    grouped = receiver.received["a"][2]
    body = grouped["message"]
    assert grouped["title"] == "🔴 3 services en panne en même temps, 1 déjà rétabli"
    assert "- Forum : rétabli depuis 14 h 05 UTC+1 (28/11) ; c'était : panne majeure — INC-3" \
        in body
    assert "- Forum: back to normal since 14:05 UTC+1 (28 Nov); was: major outage — INC-3" \
        in body
    assert "- Nextcloud : panne majeure, depuis 14 h 05 UTC+1 (28/11) — INC-1 (déjà signalé)" \
        in body
    assert "Forum : panne majeure" not in body


async def test_a_lone_held_alert_sent_after_a_recovery_says_recovered(tmp_path, registry,
                                                                      receiver, store, clock):
    urls = [{"url": receiver.url("a"), "tags": ["all"]},
            {"url": receiver.url("forum"), "tags": ["forum"]}]
    async with vigie(tmp_path, registry, store, clock, urls=urls,
                     routes=[{"services": ["forum"], "tags": ["forum"]}],
                     storm={"threshold": 2}) as v:
        down(v.state, "nextcloud", "forum")
        write(store, clock, incident("nextcloud", incident_id=1),
              incident("forum", incident_id=3))
        await v.worker.run_once()
        clock.advance(12)
        v.state.apply("forum/port", ProbeResult.up(started_at=clock.now()))
        await drain(v, store, clock)

    [alert] = receiver.received["forum"]
    assert alert["title"] == "✅ Forum : panne majeure, déjà rétabli"
    assert alert["type"] == "success"
    assert "État : rétabli depuis 14 h 05 UTC+1 (28/11) ; c'était : panne majeure" \
        in alert["message"]
    assert "Ce qui échouait :" in alert["message"]


async def test_an_alert_retried_after_a_recovery_says_recovered(tmp_path, registry,
                                                                receiver, store, clock):
    urls = [{"url": receiver.url("a"), "tags": ["urgent"]},
            {"url": receiver.url("ops"), "tags": ["all"]}]
    async with vigie(tmp_path, registry, store, clock, urls=urls,
                     routes=[{"severities": ["critical"], "tags": ["urgent"]}],
                     storm={"enabled": False}) as v:
        down(v.state, "forum")
        receiver.reply("a", 500)
        write(store, clock, incident("forum", incident_id=3))
        await v.worker.run_once()
        assert statuses(store) == ["pending"]  # failed, retried later
        clock.advance(30)
        v.state.apply("forum/port", ProbeResult.up(started_at=clock.now()))
        receiver.reply("a", 200)
        await drain(v, store, clock)

    # routed as its event was (a major outage: on call), told as it is now
    assert titles(receiver) == ["✅ Forum : panne majeure, déjà rétabli"]
    assert receiver.received["ops"] == []


async def test_a_storm_that_goes_on_sends_each_group_within_the_hold(tmp_path, registry,
                                                                    receiver, store, clock):
    async with vigie(tmp_path, registry, store, clock, urls=[{"url": receiver.url("a")}],
                     storm={"window": "2m", "threshold": 2, "hold": "5s"}) as v:
        write(store, clock, incident("nextcloud", incident_id=1),
              incident("mysql", incident_id=2))
        await v.worker.run_once()
        clock.advance(5)
        await until(receiver, lambda: len(receiver.received["a"]) == 2)

        clock.advance(25)  # 30 s later the storm goes on: the next opening is held too
        write(store, clock, incident("forum", incident_id=3))
        await v.worker.run_once()
        assert len(receiver.received["a"]) == 2
        clock.advance(5)
        await until(receiver, lambda: len(receiver.received["a"]) == 3)
        await drain(v, store, clock)

    assert titles(receiver) == ["🔴 Nextcloud : panne majeure",
                                "🔴 2 services en panne en même temps",
                                "🔴 3 services en panne en même temps"]
    last = receiver.received["a"][2]["message"]
    assert last.count("(déjà signalé)") == 2 and "- Forum : panne majeure, depuis" in last
