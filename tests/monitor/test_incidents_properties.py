"""Property-based tests (hypothesis) of the state machine and the incident engine together:
for any sequence of check results, maintenance changes and waits,

- at most one open incident per service;
- no incident opens (or reopens) for a service in maintenance;
- once everything is back up and out of maintenance for longer than the quiet period,
  every automatic incident is resolved.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from monitor.incidents.engine import IncidentEngine
from monitor.incidents.models import (
    Incident,
    IncidentLink,
    IncidentService,
    IncidentUpdate,
    MaintenanceWindow,
    OutboxEntry,
)
from monitor.probe import Status
from monitor.state import StateBook
from tests.monitor.test_incidents import T0, build_harness

CHECKS = ["web/http", "web/php", "mail/smtp"]
SERVICES = ["web", "mail"]

result = st.tuples(st.just("result"), st.sampled_from(CHECKS),
                   st.sampled_from([Status.UP, Status.DOWN, Status.DEGRADED, Status.UNKNOWN]))
maintenance = st.tuples(st.just("maintenance"), st.sampled_from(SERVICES), st.booleans())
wait = st.tuples(st.just("wait"), st.sampled_from([10.0, 30.0, 200.0, 400.0, 2000.0]))
steps = st.lists(st.one_of(result, result, maintenance, wait), max_size=40)


def reset(h) -> None:
    with h.store.session() as s, s.begin():
        for model in (OutboxEntry, IncidentLink, IncidentUpdate, IncidentService, Incident,
                      MaintenanceWindow):
            s.execute(delete(model))
    h.state = StateBook(h.config.services)
    h.engine = IncidentEngine(h.store.write_session, h.ctx)
    h.clock.now = T0


def open_by_service(h) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    with h.store.session() as s:
        for sid, iid in s.execute(select(IncidentService.service_id, Incident.id)
                                  .join(Incident).where(Incident.resolved_at.is_(None))):
            out.setdefault(sid, []).append(iid)
    return out


def test_incident_invariants_hold_for_any_sequence(tmp_path):
    h = build_harness(f"sqlite:///{tmp_path / 'p.sqlite'}", tmp_path)

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(steps)
    def run(sequence):
        reset(h)
        before = open_by_service(h)
        for step in sequence:
            if step[0] == "result":
                h.result(step[1], step[2])
                h.clock.now += 30
            elif step[0] == "maintenance":
                h.feed(h.state.set_maintenance(step[1], step[2], h.clock.now))
            else:
                h.clock.now += step[1]
            h.engine.tick(h.clock.now)
            now_open = open_by_service(h)
            for sid, ids in now_open.items():
                assert len(ids) == 1, f"{sid} has several open incidents: {ids}"
                if ids != before.get(sid):
                    # newly opened or reopened: never while the service is in maintenance
                    assert not h.state.services[sid].maintenance, (sid, sequence)
            before = now_open
        # everything back: out of maintenance, every check up, past the quiet period
        for sid in SERVICES:
            h.feed(h.state.set_maintenance(sid, False, h.clock.now))
        for key in CHECKS:
            h.result(key, Status.UP)
        h.clock.now += h.ctx.settings.quiet_period + 1
        h.engine.tick(h.clock.now)
        assert open_by_service(h) == {}, sequence
        with h.store.session() as s:
            phases = set(s.scalars(select(Incident.phase)))
        assert phases <= {"resolved"}

    run()
    h.store.dispose()


def test_no_incident_event_is_written_for_a_service_in_maintenance(tmp_path):
    h = build_harness(f"sqlite:///{tmp_path / 'p.sqlite'}", tmp_path)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.sampled_from([Status.UP, Status.DOWN, Status.DEGRADED]), max_size=20))
    def run(statuses):
        reset(h)
        h.feed(h.state.set_maintenance("mail", True, h.clock.now))
        for status in statuses:
            h.result("mail/smtp", status)
            h.clock.now += 45
            h.engine.tick(h.clock.now)
        assert h.outbox() == [] and h.incidents() == []
        h.feed(h.state.set_maintenance("mail", False, h.clock.now))
        # at the end of the window a failing service opens its incident at once
        failing = statuses and statuses[-1] != Status.UP
        assert len(h.open()) == (1 if failing else 0)

    run()
    h.store.dispose()
