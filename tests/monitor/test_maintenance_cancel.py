"""A maintenance window cancelled: the ``cancelled`` event is written with the
cancellation (same transaction, one key per occurrence and plugin), for the occurrences
plugins were told of and, for a recurring window, the next one (the occurrence calendars
mark cancelled); only to plugins asking for it; a window cancelled while it runs still
just ends; and the ticker writes what a process without the plugins could not."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from monitor.incidents import queries
from monitor.incidents.context import IncidentContext
from monitor.incidents.emit import maintenance_key
from monitor.incidents.maintenance import MaintenanceTicker, sync_config_windows
from monitor.incidents.models import MaintenanceWindow, OutboxEntry
from monitor.incidents.service import Operations
from monitor.notifications import MaintenanceEvent, from_json
from monitor.plugins import build_plugin_manager
from monitor.store import Store
from tests.monitor.test_incidents import (  # noqa: F401 (store_url: a fixture)
    Clock,
    Harness,
    Subscriber,
    make_config,
    store_url,
)

HOUR = 3600.0
DAY = 24 * HOUR
HOOK = "vigie_maintenance_changed"


class Asker(Subscriber):
    """A plugin asking for every event, cancellations included."""

    def accepts_event(self, event) -> bool:
        return True


def build(url: str, tmp_path, extra: str = "") -> Harness:
    config = make_config(tmp_path, extra)
    store = Store(url)
    store.upgrade()
    store.sync_catalog(config)
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("sub", Subscriber()), ("asker", Asker())])
    clock = Clock()
    return Harness(store, config, IncidentContext.build(config, pm, clock=clock), clock)


@pytest.fixture
def h(tmp_path):
    harness = build(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    yield harness
    harness.store.dispose()


def plan(h: Harness, start: float | None, **more) -> int:
    values = dict(title_fr="Migration des listes", title_en="Lists migration",
                  message_fr="Les listes seront coupées.", message_en="Lists will be down.",
                  services=["web"], start=start, duration="2h")
    values.update(more)
    with h.store.session() as s, s.begin():
        return h.ops.create_maintenance(s, **values).id


def cancel(h: Harness, window_id: int, ops: Operations | None = None) -> None:
    with h.store.session() as s, s.begin():
        (ops or h.ops).cancel_maintenance(s, window_id)


def tick(h: Harness, at: float) -> None:
    h.clock.now = at
    h.tick()


def told(h: Harness, plugin: str) -> list[tuple[str, float]]:
    """``(kind, occurrence start)`` of the maintenance rows written for ``plugin``."""
    with h.store.session() as s:
        rows = s.scalars(select(OutboxEntry).where(OutboxEntry.hook == HOOK,
                                                   OutboxEntry.plugin == plugin)
                         .order_by(OutboxEntry.id))
        events = [from_json(r.payload) for r in rows]
    return [(e.kind, e.starts_at) for e in events]


def cancelled_rows(h: Harness) -> list[OutboxEntry]:
    with h.store.session() as s:
        return [r for r in s.scalars(select(OutboxEntry).order_by(OutboxEntry.id))
                if ":cancelled:" in r.idempotency_key]


def test_an_announced_window_cancelled_tells_the_plugins_asking_in_the_same_transaction(
        tmp_path, store_url):
    h = build(store_url, tmp_path)
    try:
        start = h.clock.now + 3 * DAY
        window = plan(h, start, announce_before="2d")
        tick(h, start - 2 * DAY + 60)
        assert told(h, "asker") == told(h, "sub") == [("announced", start)]
        h.clock.now += 600
        # the change and its events commit together: a failed transaction leaves neither
        with pytest.raises(RuntimeError), h.store.session() as s, s.begin():
            h.ops.cancel_maintenance(s, window)
            assert [r.plugin for r in s.scalars(select(OutboxEntry).where(
                OutboxEntry.idempotency_key.contains(":cancelled:")))] == ["asker"]
            raise RuntimeError("the transaction fails")
        assert cancelled_rows(h) == []
        cancel(h, window)
        [row] = cancelled_rows(h)
        assert row.plugin == "asker" and row.stream == f"maintenance:{window}"
        assert row.idempotency_key == maintenance_key(window, start, "cancelled", "asker")
        event = from_json(row.payload)
        assert isinstance(event, MaintenanceEvent)
        assert (event.kind, event.starts_at, event.ends_at, event.cancelled_at) == (
            "cancelled", start, start + 2 * HOUR, h.clock.now)
        assert event.title_en == "Lists migration" and [s.id for s in event.services] == ["web"]
        # the plugin without accepts_event never sees the new kind
        assert told(h, "sub") == [("announced", start)]
        # the ticker's passes (and a restarted one) write nothing more, and nothing starts
        tick(h, h.clock.now + 15)
        MaintenanceTicker(h.store.write_session, h.ctx).tick(h.clock.now + 30)
        tick(h, start + 60)
        tick(h, start + 3 * HOUR)
        assert told(h, "asker") == [("announced", start), ("cancelled", start)]
        assert told(h, "sub") == [("announced", start)]
    finally:
        h.store.dispose()


def test_a_window_nobody_was_told_of_is_cancelled_silently(h):
    start = h.clock.now + 3 * DAY
    window = plan(h, start)  # no announce_before: plugins would hear it start
    tick(h, h.clock.now + 60)
    cancel(h, window)
    tick(h, h.clock.now + 60)
    assert cancelled_rows(h) == []


def test_a_window_cancelled_while_it_runs_ends_and_is_not_cancelled(h):
    start = h.clock.now + 3 * DAY
    window = plan(h, start, announce_before="1d")
    tick(h, start - DAY + 60)
    tick(h, start + 60)
    h.clock.now = start + 600
    cancel(h, window)
    tick(h, start + 615)
    assert told(h, "asker") == [("announced", start), ("started", start),
                                ("ended", start)]
    with h.store.session() as s:
        [ended] = [from_json(r.payload) for r in s.scalars(select(OutboxEntry))
                   if ":ended:asker" in r.idempotency_key]
    assert ended.ends_at == start + 600  # it ended at the cancellation


def test_cancelled_at_its_start_before_anyone_heard_it_start_is_a_cancellation(h):
    start = h.clock.now + 3 * DAY
    window = plan(h, start, announce_before="1d")
    tick(h, start - DAY + 60)
    h.clock.now = start + 5  # the ticker has not said "started" yet
    cancel(h, window)
    tick(h, start + 15)
    assert told(h, "asker") == [("announced", start), ("cancelled", start)]


def calendar_cancelled(h: Harness, window_id: int) -> float:
    """The start of the occurrence the calendars mark cancelled."""
    with h.store.session() as s:
        [found] = [w for w in queries.calendar_windows(s, h.clock.now) if w.id == window_id]
    [(naive, instance)] = [o for o in found.recurrence.overrides if o[1].cancelled]
    assert naive.replace(tzinfo=ZoneInfo("Europe/Paris")).timestamp() == instance.start
    return instance.start


def test_a_recurring_window_cancels_its_next_occurrence_as_the_calendars_do(h):
    window = plan(h, None, weekly="sunday", at="02:00")
    tick(h, h.clock.now + 60)
    with h.store.session() as s:
        first = queries.upcoming_maintenance(s, h.clock.now, horizon=8 * DAY)[0].start
    tick(h, first + 60)
    tick(h, first + 2 * HOUR + 60)  # the first Sunday is over
    h.clock.now = first + 3 * DAY
    cancel(h, window)
    following = calendar_cancelled(h, window)
    assert following == first + 7 * DAY
    assert told(h, "asker") == [("started", first), ("ended", first),
                                ("cancelled", following)]
    assert told(h, "sub") == [("started", first), ("ended", first)]
    [row] = cancelled_rows(h)
    event = from_json(row.payload)
    assert event.ends_at - event.starts_at == 2 * HOUR
    assert datetime.fromtimestamp(event.starts_at, ZoneInfo("Europe/Paris")).strftime(
        "%A %H:%M") == "Sunday 02:00"


def test_a_recurring_window_cancelled_while_it_runs_ends_it_and_cancels_the_next(h):
    window = plan(h, None, daily=True, at="03:00", duration="1h")
    tick(h, h.clock.now + 60)
    with h.store.session() as s:
        first = queries.upcoming_maintenance(s, h.clock.now, horizon=2 * DAY)[0].start
    tick(h, first + 60)
    h.clock.now = first + 600
    cancel(h, window)
    tick(h, first + 615)
    # the running occurrence ends (never both for one occurrence); the next is cancelled
    assert told(h, "asker") == [("started", first), ("cancelled", first + DAY),
                                ("ended", first)]
    assert calendar_cancelled(h, window) == first + DAY


def test_the_ticker_writes_what_a_process_without_the_plugins_could_not(h):
    start = h.clock.now + 3 * DAY
    window = plan(h, start, announce_before="2d")
    tick(h, start - 2 * DAY + 60)
    # the command line: its context knows none of vigie run's plugins
    bare = Operations(dataclasses.replace(h.ctx, subscribers={}))
    h.clock.now += 60
    cancel(h, window, bare)
    assert cancelled_rows(h) == []
    tick(h, h.clock.now + 15)
    [row] = cancelled_rows(h)
    assert row.plugin == "asker"
    assert from_json(row.payload).cancelled_at == h.clock.now - 15
    tick(h, h.clock.now + 15)
    MaintenanceTicker(h.store.write_session, h.ctx).tick(h.clock.now + 15)  # a restart
    assert len(cancelled_rows(h)) == 1


def test_a_window_removed_from_the_configuration_file_is_cancelled_for_those_told(tmp_path):
    window = """\
maintenance:
  - id: lists
    title: {fr: Mise à jour des listes, en: Lists upgrade}
    services: [mail]
    start: 2026-06-07 02:00
    duration: 1h
    announce_before: 3d
"""
    h = build(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path, window)
    try:
        with h.store.session() as s:
            [row] = s.scalars(select(MaintenanceWindow))
            start = row.starts_at
        tick(h, start - 2 * DAY)
        assert told(h, "asker") == [("announced", start)]
        with h.store.session() as s, s.begin():  # started again without it
            sync_config_windows(s, make_config(tmp_path), h.clock.now)
        tick(h, h.clock.now + 15)
        assert told(h, "asker") == [("announced", start), ("cancelled", start)]
    finally:
        h.store.dispose()


def test_only_a_plugin_that_asks_is_written_a_cancellation():
    event = MaintenanceEvent("cancelled", "", 1, "T", "T", 0.0, 1.0)
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("sub", Subscriber()), ("asker", Asker())])
    ctx = IncidentContext(plugins=pm)
    assert not ctx.wants("sub", event) and ctx.wants("asker", event)
    started = dataclasses.replace(event, kind="started")
    assert ctx.wants("sub", started) and ctx.wants("asker", started)


def test_among_the_built_in_plugins_the_volunteers_alerts_ask_and_the_bridges_hear_nothing(
        tmp_path):
    """The volunteers' alerts (Apprise) word a cancellation; the forum and the helpdesk
    bridges open no topic or ticket for a window, so there is nothing to answer on them."""
    config = make_config(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'v.sqlite'}")
    store.upgrade()
    store.sync_catalog(config)
    pm = build_plugin_manager()  # the entry points: every built-in plugin
    clock = Clock()
    h = Harness(store, config, IncidentContext.build(config, pm, clock=clock), clock)
    try:
        assert {"forum", "tickets"} <= set(h.ctx.subscribers["vigie_incident_opened"])
        assert set(h.ctx.subscribers[HOOK]) == {"apprise"}
        start = h.clock.now + 3 * DAY
        window = plan(h, start, announce_before="2d")
        tick(h, start - DAY)
        cancel(h, window)
        assert told(h, "apprise") == [("announced", start), ("cancelled", start)]
    finally:
        store.dispose()
