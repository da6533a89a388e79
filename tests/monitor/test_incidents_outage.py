"""No outage is lost while the database is away (issue 12, point 2).

The database really goes away: PostgreSQL is reached through a local TCP proxy that the
test cuts (connections dropped, new ones refused) and restores. Time is the harness's
hand-moved clock.

- a service down 25 s and back while the database was unreachable gets its incident,
  opened and resolved, with the real times ("down from 22:14 to 22:15");
- for any sequence of results, maintenance changes, waits and database cuts, the
  incidents, timelines and events are those the engine writes when the database stays up
  (a property test: SQLite up all along against PostgreSQL cut and restored);
- the changes kept in memory are bounded: beyond the limit the oldest are dropped,
  counted and logged; a change the database refuses (not an outage) is logged and
  skipped instead of holding the others back forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from monitor.config_loader import load_config
from monitor.incidents.engine import IncidentEngine, StatusChange
from monitor.incidents.models import Incident, IncidentUpdate, OutboxEntry
from monitor.notifications import from_json
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import Status
from monitor.runtime import Runtime
from monitor.store import Store
from monitor.words import Bilingual
from tests.conftest import free_port
from tests.monitor.test_incidents import T0, build_harness
from tests.monitor.test_incidents_properties import maintenance, reset, result, wait
from tests.monitor.test_incidents_runtime import Switch, SwitchPlugin
from tests.monitor.test_store_writer import proxied_postgres  # noqa: F401 (fixture)
from tests.peers import Changes

PARIS = ZoneInfo("Europe/Paris")


def local(hhmm: str, seconds: float = 0.0) -> float:
    """28 May 2026 at ``hh:mm`` in Paris (the harness's site time zone), plus seconds."""
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(2026, 5, 28, hours, minutes, tzinfo=PARIS).timestamp() + seconds


def timeline(h, incident_id: int) -> list[IncidentUpdate]:
    with h.store.session() as s:
        return list(s.scalars(select(IncidentUpdate).where(
            IncidentUpdate.incident_id == incident_id).order_by(IncidentUpdate.id)))


def tick_while_away(h) -> None:
    """The ticker's pass while the database is away: it can do nothing, and may say so."""
    with contextlib.suppress(DBAPIError):
        h.engine.tick(h.clock.now)


def test_a_short_outage_while_postgres_is_away_is_recorded_with_its_real_times(
        proxied_postgres, tmp_path):
    url, proxy = proxied_postgres
    h = build_harness(url, tmp_path)
    try:
        h.result("mail/smtp", Status.UP, at=local("22:00"))
        proxy.cut()
        h.result("mail/smtp", Status.DOWN, at=local("22:14", 40))  # confirm: 1
        h.clock.now = local("22:14", 50)
        tick_while_away(h)
        h.result("mail/smtp", Status.UP, at=local("22:15", 5))  # back 25 s later
        for minutes in range(1, 20):
            h.clock.now = local("22:15", 60 * minutes)
            tick_while_away(h)

        proxy.restore()
        h.clock.now = local("22:40")
        h.engine.tick(h.clock.now)
        [incident] = h.incidents()
        assert incident.opened_at == local("22:14", 40)
        # resolved once quiet for the quiet period (5 min) after the recovery, not when
        # the database came back
        assert incident.resolved_at == local("22:15", 5) + 300
        assert incident.impact == incident.worst_impact == "major_outage"
        opened, recovered, resolved = timeline(h, incident.id)
        assert (opened.kind, opened.at) == ("opened", local("22:14", 40))
        assert "à 22:14" in opened.message_fr and "enregistrée à 22:40" in opened.message_fr
        assert "at 22:14" in opened.message_en and "recorded at 22:40" in opened.message_en
        assert (recovered.kind, recovered.at) == ("recovered", local("22:15", 5))
        assert "Courriel a été en panne de 22:14 à 22:15" in recovered.message_fr
        assert "Mail was down from 22:14 to 22:15" in recovered.message_en
        assert (resolved.kind, resolved.at) == ("resolved", local("22:20", 5))
        events = h.events()
        assert [(e.kind, e.at) for e in events] == [
            ("opened", local("22:14", 40)), ("resolved", local("22:20", 5))]
        assert events[1].resolved_at == local("22:20", 5)
        assert h.engine.pending == 0
    finally:
        h.store.dispose()


def test_the_changes_kept_are_bounded_the_oldest_dropped_counted_and_logged(tmp_path, caplog):
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    h.engine = IncidentEngine(h.store.write_session, h.ctx, limit=3)
    caplog.set_level(logging.INFO, logger="monitor.incidents.engine")
    # no session can be opened: the database file's folder is gone
    h.engine.sessions = lambda: _unreachable()
    changes = []
    for i, status in enumerate(["operational", "major_outage"] * 3):
        change = StatusChange("mail", Bilingual("Courriel", "Mail"), None, status, T0 + 60 * i)
        changes.append(change)
        h.engine.on_change(change)
    assert h.engine.pending == 3 and h.engine.dropped == 3
    overflow = [r for r in caplog.records if "oldest dropped" in r.getMessage()]
    assert len(overflow) == 1  # once per overflow, not once per change
    assert "incidents.buffer_limit" in overflow[0].getMessage()

    h.engine.sessions = h.store.write_session
    h.engine.tick(T0 + 3600)
    # the three newest changes were recorded: down at +180 s, up at +240 s, down at +300 s
    [incident] = h.incidents()
    assert incident.opened_at == T0 + 180 and incident.resolved_at is None
    assert [(u.kind, u.at) for u in timeline(h, incident.id)] == [
        ("opened", T0 + 180), ("recovered", T0 + 240), ("status", T0 + 300)]
    # (the first outage, +60 s to +120 s, was dropped: logged and counted, never silent)
    assert any("3 status changes were dropped" in r.getMessage() for r in caplog.records)
    h.store.dispose()


def _unreachable():
    from sqlalchemy.exc import OperationalError

    raise OperationalError("connect", {}, ConnectionRefusedError("connection refused"))


def test_a_change_the_database_refuses_is_logged_and_skipped_not_retried_forever(
        tmp_path, caplog):
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    caplog.set_level(logging.ERROR, logger="monitor.incidents.engine")
    # a service the catalog does not know: the foreign key refuses the incident row
    h.engine.on_change(StatusChange("ghost", Bilingual("Fantôme", "Ghost"), None, "major_outage", T0))
    h.confirm("mail/smtp", Status.DOWN)
    assert h.engine.pending == 0 and h.engine.refused == 1
    assert [i.service_ids for i in h.incidents()] == [["mail"]]
    [error] = [r for r in caplog.records if "refused" in r.getMessage()]
    assert "ghost" in error.getMessage()
    h.store.dispose()


# "Database up all along" against "database cut, then back" --------------------------------

database = st.tuples(st.just("database"), st.booleans())
steps = st.lists(st.one_of(result, result, result, maintenance, wait, database), max_size=40)


def history(h) -> tuple[list, list, list]:
    """What the engine wrote, without ids, messages and reminders (the reminders due
    while the database was away are not sent late: at most one, when it is back)."""
    with h.store.session() as s:
        incidents = [(i.service_ids, i.opened_at, i.resolved_at, i.recovered_at, i.impact,
                      i.worst_impact, i.phase, i.title_fr, i.title_en)
                     for i in s.scalars(select(Incident).order_by(Incident.id))]
        updates = [(u.incident_id, u.kind, u.at, u.impact, u.phase)
                   for u in s.scalars(select(IncidentUpdate).order_by(
                       IncidentUpdate.incident_id, IncidentUpdate.id))]
        first = min((i for i in s.scalars(select(Incident.id))), default=0)
        events = []
        for e in s.scalars(select(OutboxEntry).order_by(OutboxEntry.incident_id,
                                                        OutboxEntry.id)):
            event = from_json(e.payload)
            if event.kind != "reminder":
                events.append((e.incident_id, e.hook, event.kind, event.at, event.impact,
                               event.phase, event.resolved_at, event.opened_at))
    # ids start where each database's sequence is: compare them relative to the first
    updates = [(iid - first, *rest) for iid, *rest in updates]
    events = [(iid - first, *rest) for iid, *rest in events]
    return incidents, updates, events


def test_a_database_outage_changes_no_incident_for_any_sequence(
        proxied_postgres, tmp_path):
    url, proxy = proxied_postgres
    (tmp_path / "up").mkdir()
    (tmp_path / "cut").mkdir()
    steady = build_harness(f"sqlite:///{tmp_path / 'up' / 'v.sqlite'}", tmp_path / "up")
    cut = build_harness(url, tmp_path / "cut")

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(steps)
    # an outage, its recovery, a quiet period and a second outage, all while away: the
    # first incident resolves (then reopens) exactly as with the database up
    @example([("database", True), ("result", "mail/smtp", Status.DOWN),
              ("result", "mail/smtp", Status.UP), ("wait", 400.0),
              ("result", "mail/smtp", Status.DOWN), ("database", False)])
    # recovering, then maintenance past the quiet period, then back: resolved on leaving
    @example([("result", "mail/smtp", Status.DOWN), ("database", True),
              ("result", "mail/smtp", Status.UP), ("maintenance", "mail", True),
              ("wait", 400.0), ("maintenance", "mail", False),
              ("result", "mail/smtp", Status.DOWN), ("database", False)])
    def run(sequence):
        if not proxy._listening.is_set():  # an earlier example failed while cut
            proxy.restore()
        for h in (steady, cut):
            reset(h)
        away = False
        for step in sequence:
            if step[0] == "database":
                if step[1] and not away:
                    proxy.cut()
                elif not step[1] and away:
                    proxy.restore()
                away = step[1]
                continue
            for h in (steady, cut):
                if step[0] == "result":
                    h.result(step[1], step[2])
                    h.clock.now += 30
                elif step[0] == "maintenance":
                    h.feed(h.state.set_maintenance(step[1], step[2], h.clock.now))
                else:
                    h.clock.now += step[1]
                if h is cut and away:
                    tick_while_away(h)
                else:
                    h.engine.tick(h.clock.now)
        if away:
            proxy.restore()
        for h in (steady, cut):
            h.engine.tick(h.clock.now)
        assert history(cut) == history(steady), sequence
        assert cut.engine.pending == 0

    try:
        run()
    finally:
        steady.store.dispose()
        cut.store.dispose()


# Inside `vigie run`: told directly during the outage, recorded when the database is back ----


class Told:
    """Gets system alerts (some sent directly), incident events (through the outbox) and
    the services' status changes; notes each (the test waits on :attr:`changes`)."""

    def __init__(self) -> None:
        self.alerts: list = []
        self.events: list = []
        self.status: dict[str, str] = {}
        self.changes = Changes()

    @hookimpl
    async def vigie_system_alert(self, alert):
        self.alerts.append(alert)
        self.changes.note()

    @hookimpl
    async def vigie_incident_opened(self, event):
        self.events.append(event)
        self.changes.note()

    @hookimpl
    async def vigie_incident_resolved(self, event):
        self.events.append(event)
        self.changes.note()

    @hookimpl
    async def vigie_service_status_changed(self, service, previous, current, at):
        self.status[service.id] = current.label
        self.changes.note()


async def test_volunteers_are_told_directly_then_the_incident_is_recorded_when_back(
        proxied_postgres, tmp_path, monkeypatch):
    url, proxy = proxied_postgres
    monkeypatch.setattr("monitor.incidents.system.TICK_EVERY", 0.2)
    store = Store(url)
    store.upgrade()
    store.dispose()
    Switch.failing, Switch.first_failure_at = False, None
    told = Told()
    path = tmp_path / "vigie.yaml"
    path.write_text(f"""\
data_dir: data
server: {{listen: '127.0.0.1:{free_port()}'}}
scheduler: {{spread_first_runs: false}}
store: {{url: "{url}", flush_interval: 0.1s}}
incidents: {{quiet_period: 1s}}
services:
  - id: files
    name: {{fr: Fichiers, en: Files}}
    checks:
      - {{id: sw, kind: switch, interval: 1s, retry_interval: 0.2s, confirm: 2}}
""")
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("switch", SwitchPlugin()), ("told", told)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(path, registry), pm, registry)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await told.changes.wait(lambda: told.status.get("files") == "operational")
        assert runtime.incidents.ready  # prepared at start, before the first run
        proxy.cut()
        Switch.failing = True
        await told.changes.wait(lambda: [a.code for a in told.alerts] == ["unrecorded.down"])
        down = told.alerts[0]
        assert down.service_id == "files" and down.severity == "critical"
        assert down.title_fr == "Fichiers : panne majeure (incident pas encore enregistré)"
        since = datetime.fromtimestamp(down.at, PARIS).strftime("%H:%M")
        assert f"depuis {since}" in down.message_fr and f"since {since}" in down.message_en
        assert "injoignable" in down.message_fr and "unreachable" in down.message_en
        Switch.failing = False
        await told.changes.wait(lambda: [a.code for a in told.alerts][-1:] == ["unrecorded.up"])
        assert told.events == []  # nothing could go through the outbox

        proxy.restore()
        await told.changes.wait(lambda: [e.kind for e in told.events] == ["opened", "resolved"],
                                within=30)
        opened, resolved = told.events
        assert opened.opened_at == down.at
        assert "enregistrée à" in opened.message_fr and "recorded at" in opened.message_en
        assert resolved.resolved_at is not None
        # the direct alerts were sent once each: no other system alert
        assert [a.code for a in told.alerts] == ["unrecorded.down", "unrecorded.up"]
    finally:
        Switch.failing = False
        if not proxy._listening.is_set():
            proxy.restore()
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_an_outage_while_the_database_was_never_reached_is_told_then_recorded(
        proxied_postgres, tmp_path, monkeypatch):
    """Unreachable at start: the engine is not started yet, the changes wait all the same."""
    url, proxy = proxied_postgres
    monkeypatch.setattr("monitor.incidents.system.TICK_EVERY", 0.2)
    monkeypatch.setattr("monitor.runtime_store.STORE_RETRY_MAX", 0.5)
    store = Store(url)
    store.upgrade()
    store.dispose()
    proxy.cut()
    Switch.failing, Switch.first_failure_at = False, None
    told = Told()
    path = tmp_path / "vigie.yaml"
    path.write_text(f"""\
data_dir: data
server: {{listen: '127.0.0.1:{free_port()}'}}
scheduler: {{spread_first_runs: false}}
store: {{url: "{url}", flush_interval: 0.1s}}
incidents: {{quiet_period: 1s}}
services:
  - id: files
    name: {{fr: Fichiers, en: Files}}
    checks:
      - {{id: sw, kind: switch, interval: 1s, retry_interval: 0.2s, confirm: 2}}
""")
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[
        ("switch", SwitchPlugin()), ("told", told)])
    registry = ProbeRegistry.from_plugin_manager(pm)
    runtime = Runtime(load_config(path, registry), pm, registry)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await told.changes.wait(lambda: told.status.get("files") == "operational")
        assert not runtime.incidents.ready
        Switch.failing = True
        await told.changes.wait(lambda: [a.code for a in told.alerts] == ["unrecorded.down"])
        Switch.failing = False
        await told.changes.wait(lambda: [a.code for a in told.alerts][-1:] == ["unrecorded.up"])
        down_at = told.alerts[0].at

        proxy.restore()
        await told.changes.wait(lambda: [e.kind for e in told.events] == ["opened", "resolved"],
                                within=30)
        assert told.events[0].opened_at == down_at
        assert "enregistrée à" in told.events[0].message_fr
        assert runtime.incidents.engine.pending == 0
    finally:
        Switch.failing = False
        if not proxy._listening.is_set():
            proxy.restore()
        stop.set()
        await asyncio.wait_for(task, 30)


def test_reminders_due_while_away_are_not_sent_late_one_is_sent_when_back(
        proxied_postgres, tmp_path):
    url, proxy = proxied_postgres
    h = build_harness(url, tmp_path)  # reminder_every: 2h
    try:
        h.result("mail/smtp", Status.DOWN, at=local("10:00"))
        proxy.cut()
        h.result("mail/smtp", Status.DEGRADED, at=local("10:30"))
        for hours in range(1, 8):  # seven hours away: three reminders would have gone
            h.clock.now = local("10:30") + 3600 * hours
            tick_while_away(h)
        proxy.restore()
        h.clock.now = local("18:00")
        h.engine.tick(h.clock.now)
        h.engine.tick(h.clock.now + 60)
        assert [(e.kind, e.at) for e in h.events()] == [
            ("opened", local("10:00")), ("updated", local("10:30")), ("reminder", local("18:00"))]
    finally:
        h.store.dispose()
