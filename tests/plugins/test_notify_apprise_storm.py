"""Storm control: several services down together give one grouped alert, really sent.

The events go through Vigie's real durable outbox (SQLite) and its worker, which delivers
one entry at a time; what the local ``json://`` receivers got is checked.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from monitor.config_loader import load_config
from monitor.incidents.models import OutboxEntry
from monitor.incidents.outbox import OutboxWorker, enqueue
from monitor.notifications import RetryLater, to_json
from monitor.plugins import build_plugin_manager, config_sections
from monitor.store import Store
from plugins import notify_apprise
from tests.plugins.test_notify_apprise import incident, receiver, registry, write_config  # noqa: F401 (fixtures)


@pytest.fixture
def store(tmp_path):
    """A migrated SQLite store holding the outbox."""
    store = Store(f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    store.upgrade()
    yield store
    store.dispose()


@asynccontextmanager
async def vigie(tmp_path, registry, store, **notifications):
    """The apprise plugin started on a configuration, and an outbox worker feeding it."""
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("apprise", notify_apprise)])
    config = load_config(write_config(tmp_path, notifications), registry, config_sections(pm))
    runtime = SimpleNamespace(config=config)
    await pm.hook.vigie_startup(runtime=runtime)[0]
    worker = OutboxWorker(store.session, pm, initial_backoff=0.01, max_backoff=0.05)
    try:
        yield worker
    finally:
        await pm.hook.vigie_shutdown(runtime=runtime)[0]


def write(store, *events) -> None:
    """Queue one ``vigie_incident_opened`` delivery per event, as the incident engine does."""
    with store.session() as session, session.begin():
        for event in events:
            enqueue(session, hook="vigie_incident_opened", plugin="apprise",
                    key=event.idempotency_key, stream=f"incident-{event.incident_id}",
                    payload=to_json(event), at=time.time())


def statuses(store) -> list[str]:
    with store.session() as session:
        return list(session.scalars(select(OutboxEntry.status).order_by(OutboxEntry.id)))


async def drain(worker, store, timeout: float = 8.0) -> None:
    """Run the worker until every entry is delivered."""
    deadline = time.monotonic() + timeout
    while any(s != "delivered" for s in statuses(store)):
        assert time.monotonic() < deadline, f"still pending: {statuses(store)}"
        if not await worker.run_once():
            await asyncio.sleep(0.02)


def four_services():
    return [incident("nextcloud", incident_id=1), incident("mysql", incident_id=2),
            incident("web", incident_id=3, impact="partial_outage"),
            incident("mail", incident_id=4)]


async def test_four_services_down_give_the_first_alert_then_one_grouped_alert(
        tmp_path, registry, receiver, store):
    async with vigie(tmp_path, registry, store, urls=[{"url": receiver.url("a")}],
                     storm={"window": "1s", "threshold": 2}) as worker:
        write(store, *four_services())

        await worker.run_once()
        # the first went out at once; the others wait in the outbox, which is not stalled
        assert [p["title"] for p in receiver.received["a"]] == ["🔴 Nextcloud : panne majeure"]
        assert statuses(store) == ["delivered", "pending", "pending", "pending"]
        assert worker.stats.deliveries[("apprise", "retry_later")] == 3

        await drain(worker, store)

    _, grouped = receiver.received["a"]
    assert grouped["title"] == "🔴 4 services en panne en même temps"
    assert grouped["type"] == "failure"
    body = grouped["message"]
    assert "4 services sont tombés en panne en moins de 1 min ;" in body
    assert "- Nextcloud : panne majeure, depuis 14 h 05 (28/11) — INC-1 (déjà signalé)" in body
    assert "- Bases MySQL : panne majeure, depuis 14 h 05 (28/11) — INC-2\n" in body
    assert "- Hébergement web : panne partielle" in body
    assert "- Messagerie : panne majeure" in body
    assert "Page de l'incident : https://etat.example.org/incidents/4" in body
    assert "Guide « Se connecter à Messagerie » : https://guides.example.org/mail" in body
    assert body.count("Le serveur a répondu 503") == 4
    assert worker.stats.deliveries[("apprise", "failed")] == 0


async def test_below_the_threshold_nothing_is_held(tmp_path, registry, receiver, store):
    async with vigie(tmp_path, registry, store, urls=[{"url": receiver.url("a")}],
                     storm={"window": "30s", "threshold": 3}) as worker:
        write(store, *four_services()[:2])
        await worker.run_once()

        assert statuses(store) == ["delivered", "delivered"]
    assert [p["title"] for p in receiver.received["a"]] == [
        "🔴 Nextcloud : panne majeure", "🔴 Bases MySQL : panne majeure"]


async def test_with_a_threshold_of_three_the_first_two_go_out_alone(tmp_path, registry,
                                                                    receiver, store):
    async with vigie(tmp_path, registry, store, urls=[{"url": receiver.url("a")}],
                     storm={"window": "0.6s", "threshold": 3}) as worker:
        write(store, *four_services())
        await drain(worker, store)

    titles = [p["title"] for p in receiver.received["a"]]
    assert titles == ["🔴 Nextcloud : panne majeure", "🔴 Bases MySQL : panne majeure",
                      "🔴 4 services en panne en même temps"]
    assert receiver.received["a"][2]["message"].count("(déjà signalé)") == 2


async def test_each_receiver_gets_the_storm_routed_to_it(tmp_path, registry, receiver, store):
    urls = [{"url": receiver.url("dba"), "tags": ["dba"]},
            {"url": receiver.url("web"), "tags": ["web"]}]
    routes = [{"groups": ["databases"], "tags": ["dba"]}, {"groups": ["web"], "tags": ["web"]}]
    async with vigie(tmp_path, registry, store, urls=urls, routes=routes,
                     storm={"window": "0.6s", "threshold": 2}) as worker:
        write(store, incident("mysql", incident_id=1), incident("postgresql", incident_id=2),
              incident("web", incident_id=3))
        await drain(worker, store)

    dba = [p["title"] for p in receiver.received["dba"]]
    assert dba == ["🔴 Bases MySQL : panne majeure", "🔴 2 services en panne en même temps"]
    assert "Hébergement web" not in receiver.received["dba"][1]["message"]
    # only one of the storm's incidents concerns the web team: its full alert, alone
    assert [p["title"] for p in receiver.received["web"]] == [
        "🔴 Hébergement web : panne majeure"]


async def test_what_a_failed_grouped_alert_missed_goes_out_on_the_retries(
        tmp_path, registry, receiver, store):
    urls = [{"url": receiver.url("a")}, {"url": receiver.url("b"), "name": "salon"}]
    async with vigie(tmp_path, registry, store, urls=urls,
                     storm={"window": "0.6s", "threshold": 2}) as worker:
        write(store, *four_services()[:3])
        await worker.run_once()
        receiver.reply("b", 500)
        async with asyncio.timeout(5):
            while len(receiver.received["a"]) < 2:  # the grouped alert, sent by a timer
                await asyncio.sleep(0.02)
        receiver.reply("b", 200)
        await drain(worker, store)

    assert [p["title"] for p in receiver.received["a"]] == [
        "🔴 Nextcloud : panne majeure", "🔴 3 services en panne en même temps"]
    assert [p["title"] for p in receiver.received["b"]] == [
        "🔴 Nextcloud : panne majeure", "🔴 Bases MySQL : panne majeure",
        "🟠 Hébergement web : panne partielle"]


async def test_a_storm_open_at_shutdown_is_not_lost(tmp_path, registry, receiver, store):
    settings = {"urls": [{"url": receiver.url("a")}],
                "storm": {"window": "0.6s", "threshold": 2}}
    async with vigie(tmp_path, registry, store, **settings) as worker:
        write(store, *four_services()[:3])
        await worker.run_once()
    # stopped before the window closed: nothing more was sent, the outbox still has them
    assert len(receiver.received["a"]) == 1
    assert statuses(store) == ["delivered", "pending", "pending"]

    with store.session() as session, session.begin():  # time passes while Vigie is down
        session.execute(update(OutboxEntry).values(next_attempt_at=time.time()))
    async with vigie(tmp_path, registry, store, **settings) as worker:
        await drain(worker, store)

    assert [p["title"] for p in receiver.received["a"]] == [
        "🔴 Nextcloud : panne majeure", "🔴 Bases MySQL : panne majeure",
        "🔴 2 services en panne en même temps"]
    assert "Hébergement web" in receiver.received["a"][2]["message"]


async def test_a_held_opening_asked_again_too_early_is_held_again(tmp_path, registry,
                                                                   receiver, store):
    async with vigie(tmp_path, registry, store, urls=[{"url": receiver.url("a")}],
                     storm={"window": "10s", "threshold": 2}):
        notifier = notify_apprise.current()
        await notifier.deliver(incident("nextcloud", incident_id=1))
        with pytest.raises(RetryLater) as first:
            await notifier.deliver(incident("mysql", incident_id=2))
        await asyncio.sleep(0.1)
        with pytest.raises(RetryLater) as again:
            await notifier.deliver(incident("mysql", incident_id=2))

    assert 10 < first.value.seconds <= 11
    assert again.value.seconds < first.value.seconds
    assert "held for a grouped alert" in str(first.value)
    assert len(receiver.received["a"]) == 1
