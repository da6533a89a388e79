"""The incident engine against a real store (SQLite, and the machine's PostgreSQL): driven
by a real state book fed with probe results, maintenance from the real ticker.

The fixtures here (``harness``) are reused by the other incident test files.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.config_loader import load_config
from monitor.incidents.context import IncidentContext
from monitor.incidents.engine import IncidentEngine, StatusChange
from monitor.incidents.inputs import InvalidInput, NotFound
from monitor.incidents.maintenance import (
    MaintenanceTicker,
    apply_maintenance,
    sync_config_windows,
)
from monitor.incidents.models import Incident, IncidentUpdate, OutboxEntry
from monitor.incidents.service import Operations
from monitor.notifications import from_json
from monitor.plugins import ProbeRegistry, build_plugin_manager, hookimpl
from monitor.probe import Probe, ProbeConfig, ProbeResult, Status, reason
from monitor.reasonwords import public_words
from monitor.state import ServiceTransition, StateBook
from monitor.store import Store
from monitor.words import Bilingual

T0 = 1_780_000_000.0  # a fixed instant (2026-05-28), so tests never depend on the clock


class FakeProbe(Probe):
    """A probe kind for configurations of these tests (never run)."""

    kind = "fake"
    Config = ProbeConfig
    description = "test"

    async def check(self, config, ctx):  # pragma: no cover - never run
        return ProbeResult.up()


class FakeProbePlugin:
    @hookimpl
    def vigie_register_probes(self):
        return [FakeProbe]


class Subscriber:
    """A plugin subscribed to every durable hook (its deliveries are only written here)."""

    @hookimpl
    def vigie_incident_opened(self, event):
        pass

    @hookimpl
    def vigie_incident_updated(self, event):
        pass

    @hookimpl
    def vigie_incident_resolved(self, event):
        pass

    @hookimpl
    def vigie_maintenance_changed(self, event):
        pass

    @hookimpl
    def vigie_system_alert(self, alert):
        pass


CONFIG = """\
groups: [{id: hosting, name: Hébergement}]
incidents: {quiet_period: 5m, cooldown: 30m, reminder_every: 2h}
services:
  - id: web
    name: {fr: Hébergement web, en: Web hosting}
    group: hosting
    checks:
      - {id: http, kind: fake, confirm: 2}
      - {id: php, kind: fake, confirm: 2}
  - id: mail
    name: {fr: Courriel, en: Mail}
    checks:
      - {id: smtp, kind: fake, confirm: 1}
"""


def make_config(tmp_path: Path, extra: str = "", base: str = CONFIG):
    path = tmp_path / "vigie.yaml"
    path.write_text(base + textwrap.dedent(extra))
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[("fake", FakeProbePlugin())])
    return load_config(path, ProbeRegistry.from_plugin_manager(pm))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    """Store + state book + engine + ticker, with a hand-moved clock."""

    store: Store
    config: object
    ctx: IncidentContext
    clock: Clock
    state: StateBook = field(init=False)
    engine: IncidentEngine = field(init=False)
    ticker: MaintenanceTicker = field(init=False)
    ops: Operations = field(init=False)

    def __post_init__(self) -> None:
        self.state = StateBook(self.config.services)
        # write sessions, as IncidentSystem gives them (BEGIN IMMEDIATE on SQLite)
        self.engine = IncidentEngine(self.store.write_session, self.ctx)
        self.ticker = MaintenanceTicker(self.store.write_session, self.ctx)
        self.ops = Operations(self.ctx)
        with self.store.session() as s, s.begin():
            sync_config_windows(s, self.config, self.clock.now)

    def feed(self, transitions) -> None:
        for t in transitions:
            if isinstance(t, ServiceTransition):
                self.engine.on_change(StatusChange.from_transition(t))

    def result(self, check_key: str, status: Status, at: float | None = None) -> None:
        """One raw probe result at ``at`` (default: the clock)."""
        at = self.clock.now if at is None else at
        why = None if status == Status.UP else reason("test.fail", "Ça ne répond pas",
                                                      "It does not answer")
        self.feed(self.state.apply(check_key, ProbeResult(status, why, started_at=at)))

    def confirm(self, check_key: str, status: Status, step: float = 30.0) -> None:
        """Enough results for ``status`` to be confirmed, ``step`` seconds apart."""
        for _ in range(self.state.checks[check_key].check.confirm):
            self.result(check_key, status)
            self.clock.now += step

    def tick(self) -> None:
        """What the runtime's ticker does: maintenance, then the engine."""
        active = self.ticker.tick(self.clock.now).active
        self.feed(apply_maintenance(self.state, active, self.clock.now))
        self.engine.tick(self.clock.now)

    def incidents(self) -> list[Incident]:
        with self.store.session() as s:
            return list(s.scalars(select(Incident).order_by(Incident.id)))

    def open(self) -> list[Incident]:
        return [i for i in self.incidents() if i.resolved_at is None]

    def outbox(self) -> list[OutboxEntry]:
        with self.store.session() as s:
            return list(s.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))

    def events(self, hook: str | None = None) -> list:
        return [from_json(e.payload) for e in self.outbox() if hook is None or e.hook == hook]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


def build_harness(store_url: str, tmp_path: Path, extra: str = "") -> Harness:
    config = make_config(tmp_path, extra)
    store = Store(store_url)
    store.upgrade()
    store.sync_catalog(config)
    clock = Clock()
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("sub", Subscriber())])
    ctx = IncidentContext.build(config, pm, clock=clock)
    return Harness(store, config, ctx, clock)


@pytest.fixture
def harness(store_url, tmp_path):
    h = build_harness(store_url, tmp_path)
    yield h
    h.store.dispose()


@pytest.fixture
def sqlite_harness(tmp_path):
    h = build_harness(f"sqlite:///{tmp_path / 'vigie.sqlite'}", tmp_path)
    yield h
    h.store.dispose()


# Automatic incidents -------------------------------------------------------------------


def test_an_outage_opens_one_incident_updates_it_and_resolves_after_the_quiet_period(harness):
    h = harness
    h.confirm("web/http", Status.UP)
    h.confirm("web/php", Status.UP)
    assert h.incidents() == []

    h.confirm("web/http", Status.DOWN)  # one check of two down: partial outage
    [incident] = h.open()
    assert incident.automatic and incident.impact == "partial_outage"
    assert incident.title_fr == "Hébergement web : panne partielle"
    assert incident.title_en == "Web hosting: partial outage"
    assert incident.reference.startswith("INC-2026-")
    [opened] = h.events("vigie_incident_opened")
    assert opened.kind == "opened" and opened.idempotency_key == f"{incident.id}:1:sub"
    assert opened.services[0].name_fr == "Hébergement web"
    assert [c.check_id for c in opened.checks] == ["http"]
    assert opened.checks[0].reason_en == "It does not answer"

    h.confirm("web/php", Status.DOWN)  # now everything is down: major outage, same incident
    [incident] = h.open()
    assert incident.impact == incident.worst_impact == "major_outage"
    assert incident.title_fr == "Hébergement web : panne majeure"
    [updated] = h.events("vigie_incident_updated")
    assert updated.impact == "major_outage" and updated.idempotency_key.endswith(":2:sub")

    h.confirm("web/http", Status.UP)
    h.confirm("web/php", Status.UP)  # back: monitoring, not resolved yet
    [incident] = h.open()
    assert incident.phase == "monitoring" and incident.recovered_at is not None
    h.clock.now += 200
    h.tick()
    assert len(h.open()) == 1  # 200 s + the steps < 5 min
    h.clock.now += 120
    h.tick()
    assert h.open() == []
    [resolved] = h.events("vigie_incident_resolved")
    assert resolved.phase == "resolved" and resolved.resolved_at is not None
    [incident] = h.incidents()
    assert incident.worst_impact == "major_outage"


def test_the_public_timeline_never_quotes_a_reason_marked_non_public(sqlite_harness):
    h = sqlite_harness
    h.confirm("mail/smtp", Status.UP)
    leak = reason("mail.greeting", "Le serveur refuse : « 554 mx2.interne bloqué »",
                  "The server refuses: “554 mx2.interne blocked”", public=False)
    h.feed(h.state.apply("mail/smtp", ProbeResult(Status.DOWN, leak, started_at=h.clock.now)))
    [incident] = h.open()
    with h.store.session() as s:
        [update] = s.scalars(select(IncidentUpdate)
                             .where(IncidentUpdate.incident_id == incident.id))
    assert "mx2.interne" not in update.message_fr + update.message_en
    member = public_words("mail.greeting", Status.DOWN)
    assert member.fr in update.message_fr and member.en in update.message_en
    assert "554" not in update.message_fr + update.message_en
    # alerts and tickets keep the detail, with the flag that keeps it off public places
    [opened] = h.events("vigie_incident_opened")
    assert opened.checks[0].reason_fr == leak.fr and opened.checks[0].reason_public is False
    assert opened.checks[0].reason_code == "mail.greeting"
    assert opened.checks[0].public_reason() == Bilingual(member.fr, member.en)


def test_a_blip_raises_nothing_and_a_flap_within_the_cooldown_reopens(harness):
    h = harness
    h.confirm("web/http", Status.UP)
    h.confirm("web/php", Status.UP)
    h.result("web/http", Status.DOWN)  # one failure, not confirmed
    h.clock.now += 30
    h.result("web/http", Status.UP)
    assert h.incidents() == []

    h.confirm("mail/smtp", Status.DOWN)
    h.confirm("mail/smtp", Status.UP)
    h.clock.now += 400
    h.tick()
    [first] = h.incidents()
    assert first.resolved_at is not None

    h.clock.now += 600  # 10 min later, within the 30 min cool-down
    h.confirm("mail/smtp", Status.DOWN)
    [again] = h.incidents()
    assert again.id == first.id and again.resolved_at is None and again.phase == "investigating"
    with h.store.session() as s:
        kinds = list(s.scalars(select(IncidentUpdate.kind).where(
            IncidentUpdate.incident_id == first.id).order_by(IncidentUpdate.id)))
    assert kinds == ["opened", "recovered", "resolved", "reopened"]
    assert [e.kind for e in h.events()] == ["opened", "resolved", "updated"]

    h.confirm("mail/smtp", Status.UP)
    h.clock.now += 400
    h.tick()
    h.clock.now += 3600  # past the cool-down: a new incident
    h.confirm("mail/smtp", Status.DOWN)
    assert [i.id == first.id for i in h.incidents()] == [True, False]


def test_reminders_while_an_incident_stays_open(sqlite_harness):
    h = sqlite_harness
    h.confirm("mail/smtp", Status.DOWN)
    h.clock.now += 3600
    h.tick()
    assert [e.kind for e in h.events()] == ["opened"]
    h.clock.now += 3601
    h.tick()
    h.tick()  # the next one is 2 h after this reminder, not at every tick
    assert [e.kind for e in h.events()] == ["opened", "reminder"]
    [reminder] = h.events("vigie_incident_updated")
    assert "toujours ouvert" in reminder.message_fr


def test_maintenance_suppresses_incidents_and_a_service_still_down_at_the_end_opens_one(harness):
    h = harness
    h.confirm("mail/smtp", Status.UP)
    end = h.clock.now + 3600
    with h.store.session() as s, s.begin():
        h.ops.create_maintenance(s, title_fr="Migration du serveur", services=["mail"],
                                 start=h.clock.now + 60, end=end)
    h.tick()
    assert h.state.services["mail"].maintenance is False
    h.clock.now += 61
    h.tick()
    assert h.state.services["mail"].status.label == "maintenance"
    h.confirm("mail/smtp", Status.DOWN)  # the work takes the service down: no incident
    h.clock.now += 1800
    h.tick()
    assert h.incidents() == []
    maintenance = [e.kind for e in h.events("vigie_maintenance_changed")]
    assert maintenance == ["started"]

    h.clock.now = end + 1  # the window ends, the service is still down
    h.tick()
    [incident] = h.open()
    assert incident.impact == "major_outage"
    assert [e.kind for e in h.events("vigie_maintenance_changed")] == ["started", "ended"]


def test_maintenance_over_an_open_incident_keeps_it_silent_then_resolves_normally(sqlite_harness):
    h = sqlite_harness
    h.confirm("mail/smtp", Status.DOWN)
    with h.store.session() as s, s.begin():
        h.ops.create_maintenance(s, title_fr="Réparation", services=["mail"],
                                 start=h.clock.now, duration="1h")
    h.tick()
    h.clock.now += 3 * 3600  # in maintenance for an hour: no reminder then
    h.confirm("mail/smtp", Status.UP)
    h.tick()
    [incident] = h.incidents()
    assert incident.recovered_at is not None  # came back operational after the window
    h.clock.now += 301
    h.tick()
    assert h.open() == []


def test_restore_opens_for_a_service_already_failing_and_settles_a_recovered_one(sqlite_harness):
    h = sqlite_harness
    h.confirm("mail/smtp", Status.DOWN)
    assert len(h.open()) == 1
    # a new process: a fresh engine, the state restored from the store
    engine = IncidentEngine(h.store.session, h.ctx)
    state = StateBook(h.config.services)
    state.restore("mail/smtp", Status.UP, h.clock.now)
    state.restore("web/http", Status.DOWN, h.clock.now)
    state.restore("web/php", Status.DOWN, h.clock.now)
    state.restore_services(h.clock.now)
    engine.restore(StatusChange.of(s, None, s.status, h.clock.now)
                   for s in state.services.values())
    opened = {i.service_ids[0]: i for i in h.open()}
    assert set(opened) == {"web", "mail"}
    assert opened["mail"].recovered_at is not None  # mail came back while stopped
    h.clock.now += 301
    engine.tick(h.clock.now)
    assert [i.service_ids for i in h.open()] == [["web"]]
    engine.restore([StatusChange.of(state.services["web"], None, state.services["web"].status,
                                    h.clock.now)])
    assert len(h.open()) == 1  # restoring twice opens nothing more


def test_a_change_kept_while_the_database_is_away_is_recorded_on_the_next_tick(tmp_path):
    """(The real database cut and restored: tests/monitor/test_incidents_outage.py.)"""
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    real = h.engine.sessions
    broken = {"on": True}

    def sessions():
        if broken["on"]:
            raise OSError("database away")
        return real()

    h.engine.sessions = sessions
    h.confirm("mail/smtp", Status.DOWN)
    assert h.engine.pending == 1
    broken["on"] = False
    h.engine.tick(h.clock.now)
    assert len(h.open()) == 1 and h.engine.pending == 0
    h.store.dispose()


# Volunteers' operations ----------------------------------------------------------------


def test_manual_incident_through_its_phases_with_a_postmortem(harness):
    h = harness
    with h.store.session() as s, s.begin():
        incident = h.ops.open_incident(
            s, services=["web", "mail"], title_fr="Lenteurs générales", impact="degraded",
            message_fr="Nous regardons.", author="camille")
        iid = incident.id
    with h.store.session() as s, s.begin():
        h.ops.post_update(s, iid, phase="identified", message_fr="Un disque est plein.")
        h.ops.post_update(s, iid, phase="identified", message_fr="Note interne", public=False)
        h.ops.change_impact(s, iid, "partial_outage")
        h.ops.post_update(s, iid, phase="monitoring", message_fr="Place libérée.")
    h.confirm("mail/smtp", Status.DOWN)  # the checks agree: no second incident
    assert [i.id for i in h.open()] == [iid]
    h.confirm("mail/smtp", Status.UP)
    h.clock.now += 3600
    h.tick()
    assert [i.id for i in h.open()] == [iid]  # a manual incident is never auto-resolved
    with h.store.session() as s, s.begin():
        h.ops.resolve_incident(s, iid, message_fr="Tout est rentré dans l'ordre.")
        h.ops.set_postmortem(s, iid, text_fr="Cause : journal non purgé.", text_en="Cause: log")
    [incident] = h.incidents()
    assert incident.phase == "resolved" and incident.impact == "partial_outage"
    assert incident.postmortem_fr.startswith("Cause") and not incident.automatic
    assert incident.created_by == "camille"
    kinds = [e.kind for e in h.events()]
    assert kinds == ["opened", "updated", "updated", "updated", "resolved", "updated"]
    assert len({e.idempotency_key for e in h.events()}) == len(kinds)


def test_operations_refuse_bad_input_with_a_message(sqlite_harness):
    h = sqlite_harness
    with h.store.session() as s, s.begin():
        with pytest.raises(InvalidInput) as exc:
            h.ops.open_incident(s, services=["nope"], title_fr="X", message_fr="Y")
        assert exc.value.field == "services" and "nope" in exc.value.message_fr
        with pytest.raises(InvalidInput) as exc:
            h.ops.open_incident(s, services=["web"], title_fr=" ", message_fr="Y")
        assert exc.value.field == "title_fr"
        with pytest.raises(InvalidInput) as exc:
            h.ops.open_incident(s, services=["web"], title_fr="X", message_fr="Y",
                                impact="apocalypse")
        assert exc.value.field == "impact" and "major_outage" in exc.value.message_en
        with pytest.raises(NotFound):
            h.ops.post_update(s, 999, phase="identified", message_fr="x")
        incident = h.ops.open_incident(s, services=["web"], title_fr="X", message_fr="Y")
        with pytest.raises(InvalidInput) as exc:
            h.ops.post_update(s, incident.id, phase="fixed", message_fr="x")
        assert exc.value.field == "phase"
        h.ops.resolve_incident(s, incident.reference)
        with pytest.raises(InvalidInput, match="already resolved"):
            h.ops.post_update(s, incident.id, phase="identified", message_fr="x")
    with h.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == 1


def test_changes_held_during_a_start_log_no_database_outage(sqlite_harness, caplog):
    """A start holds the first changes until the store is prepared: that is not the
    database coming back, and the log must not say it was away (it said so at every
    `make run`)."""
    import logging

    h = sqlite_harness
    change = StatusChange("mail", Bilingual("Messagerie", "Mail"), None, "major_outage", 1000.0)
    with caplog.at_level(logging.INFO, logger="monitor.incidents.engine"):
        h.engine.hold(change)
        h.engine.tick(1001.0)
    assert h.engine.pending == 0
    assert "reachable again" not in caplog.text
    assert "cannot record" not in caplog.text
