"""The state machine: damping, derived service statuses, maintenance, transitions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import Check, LocalizedText, Service
from monitor.probe import CheckRef, ProbeConfig, ProbeResult, Status, reason
from monitor.state import (
    CheckState,
    CheckTransition,
    ServiceStatus,
    ServiceTransition,
    StateBook,
    derive_service_status,
)

UP, DEGRADED, DOWN, UNKNOWN, MAINT = (Status.UP, Status.DEGRADED, Status.DOWN, Status.UNKNOWN,
                                      Status.MAINTENANCE)
FAILING = (DEGRADED, DOWN, UNKNOWN)


def make_check(check_id: str = "c", service_id: str = "svc", confirm: int = 2,
               enabled: bool = True) -> Check:
    """A check with distinct interval (300) and retry interval (30)."""
    return Check(ref=CheckRef(service_id, check_id, "demo"), name=LocalizedText(fr=check_id),
                 interval=300.0, timeout=10.0, confirm=confirm, retry_interval=30.0,
                 options=ProbeConfig(), enabled=enabled)


def make_service(service_id: str, *checks: Check) -> Service:
    """A service holding ``checks``."""
    return Service(service_id, LocalizedText(fr=service_id), None, None, checks)


def result(status: Status, at: float = 1000.0) -> ProbeResult:
    """A raw result started at ``at``."""
    why = None if status is UP else reason("test", "essai", "test")
    return ProbeResult(status, why, started_at=at)


def feed(state: CheckState, *statuses: Status) -> list:
    """Record raw results in order; return the confirmed-status changes."""
    return [change for s in statuses if (change := state.record(result(s))) is not None]


# Damping -----------------------------------------------------------------------------


def test_down_only_after_confirm_consecutive_failures():
    state = CheckState(make_check(confirm=3))
    assert feed(state, UP) == [(None, UP)]
    assert feed(state, DOWN, DOWN) == []
    assert state.status is UP and state.pending
    assert state.next_delay() == 30.0  # re-checked sooner while unconfirmed
    assert feed(state, DOWN) == [(UP, DOWN)]
    assert not state.pending and state.next_delay() == 300.0


def test_a_blip_raises_nothing_and_up_is_immediate():
    state = CheckState(make_check(confirm=2))
    feed(state, UP)
    assert feed(state, DOWN, UP, DOWN, UP) == []
    assert state.status is UP and not state.pending
    feed(state, DOWN, DOWN)
    assert state.status is DOWN
    assert feed(state, UP) == [(DOWN, UP)]


def test_confirm_one_takes_every_result_at_once():
    state = CheckState(make_check(confirm=1))
    assert feed(state, UP, DOWN, DEGRADED, UP) == [(None, UP), (UP, DOWN), (DOWN, DEGRADED),
                                                   (DEGRADED, UP)]


def test_first_results_after_start_need_confirmation_too():
    state = CheckState(make_check(confirm=2))
    assert feed(state, DOWN) == []
    assert state.status is None and state.pending
    assert feed(state, DOWN) == [(None, DOWN)]


def test_degraded_and_unknown_are_damped_and_the_last_failure_decides():
    state = CheckState(make_check(confirm=2))
    feed(state, UP)
    assert feed(state, DEGRADED) == []
    assert feed(state, UNKNOWN) == [(UP, UNKNOWN)]
    # already failing: moving between failure kinds needs no new confirmation
    assert feed(state, DOWN) == [(UNKNOWN, DOWN)]
    assert feed(state, DEGRADED) == [(DOWN, DEGRADED)]
    assert feed(state, DEGRADED) == []


def test_maintenance_announced_by_the_target_is_immediate():
    state = CheckState(make_check(confirm=2))
    feed(state, UP)
    assert feed(state, MAINT) == [(UP, MAINT)]
    assert feed(state, DOWN) == []  # leaving maintenance for a failure needs confirmation
    assert feed(state, MAINT, DOWN) == []
    assert state.status is MAINT
    assert feed(state, DOWN) == [(MAINT, DOWN)]


def test_since_is_the_start_of_the_confirming_run():
    state = CheckState(make_check(confirm=2))
    state.record(result(UP, at=10))
    state.record(result(DOWN, at=20))
    state.record(result(DOWN, at=30))
    assert (state.status, state.since) == (DOWN, 30)
    assert state.last.started_at == 30


# Service status -----------------------------------------------------------------------


@pytest.mark.parametrize("statuses, maintenance, expected", [
    ([UP, UP], False, ServiceStatus.OPERATIONAL),
    ([UP, DEGRADED], False, ServiceStatus.DEGRADED),
    ([UP, DOWN], False, ServiceStatus.PARTIAL_OUTAGE),
    ([DEGRADED, DOWN], False, ServiceStatus.PARTIAL_OUTAGE),
    ([DOWN, DOWN], False, ServiceStatus.MAJOR_OUTAGE),
    ([DOWN, UNKNOWN], False, ServiceStatus.MAJOR_OUTAGE),  # unknown is left out
    ([UP, UNKNOWN], False, ServiceStatus.OPERATIONAL),
    ([UNKNOWN, None], False, ServiceStatus.UNKNOWN),
    ([], False, ServiceStatus.UNKNOWN),
    ([MAINT, MAINT], False, ServiceStatus.MAINTENANCE),
    ([MAINT, UP], False, ServiceStatus.OPERATIONAL),
    ([DOWN, DOWN], True, ServiceStatus.MAINTENANCE),  # a window wins over everything
    ([None], True, ServiceStatus.MAINTENANCE),
])
def test_derived_service_status(statuses, maintenance, expected):
    assert derive_service_status(statuses, maintenance) is expected


def test_service_status_labels_and_codes_are_stable():
    assert [(s.label, s.code) for s in ServiceStatus] == [
        ("operational", 0), ("degraded", 1), ("partial_outage", 2), ("major_outage", 3),
        ("maintenance", 4), ("unknown", 5)]
    assert ServiceStatus.from_label("partial_outage") is ServiceStatus.PARTIAL_OUTAGE
    assert [s for s in ServiceStatus if s.is_outage] == [
        ServiceStatus.DEGRADED, ServiceStatus.PARTIAL_OUTAGE, ServiceStatus.MAJOR_OUTAGE]
    with pytest.raises(ValueError):
        ServiceStatus.from_label("on fire")


# StateBook ---------------------------------------------------------------------------


@pytest.fixture
def book() -> StateBook:
    """Web (two checks, one disabled check left out) and mail (one check)."""
    web = make_service("web", make_check("a", "web"), make_check("b", "web"),
                       make_check("off", "web", enabled=False))
    mail = make_service("mail", make_check("smtp", "mail", confirm=1))
    return StateBook([web, mail])


def test_book_leaves_disabled_checks_out(book):
    assert sorted(book.checks) == ["mail/smtp", "web/a", "web/b"]
    assert [c.ref.check_id for c in book.services["web"].checks] == ["a", "b"]


def test_apply_returns_check_then_service_transitions(book):
    first = book.apply("web/a", result(UP, at=1))
    assert [type(t) for t in first] == [CheckTransition, ServiceTransition]
    assert (first[0].previous, first[0].current) == (None, UP)
    assert first[0].result.started_at == 1
    assert (first[1].previous, first[1].current, first[1].at) == (
        None, ServiceStatus.OPERATIONAL, 1)

    # b's first verdict changes the check but not the service (already operational)
    assert [type(t) for t in book.apply("web/b", result(UP, at=2))] == [CheckTransition]
    assert book.apply("web/b", result(UP, at=2)) == []  # nothing changes: no transition
    assert book.apply("web/b", result(DOWN, at=3)) == []  # not confirmed yet
    changes = book.apply("web/b", result(DOWN, at=4))
    assert [(t.previous, t.current) for t in changes] == [
        (UP, DOWN), (ServiceStatus.OPERATIONAL, ServiceStatus.PARTIAL_OUTAGE)]
    assert book.services["web"].since == 4

    changes = book.apply("web/a", result(DEGRADED, at=5)) + book.apply(
        "web/a", result(DOWN, at=6))
    assert [(t.previous, t.current) for t in changes] == [
        (UP, DOWN), (ServiceStatus.PARTIAL_OUTAGE, ServiceStatus.MAJOR_OUTAGE)]


def test_check_change_without_service_change(book):
    book.apply("web/a", result(UP))
    book.apply("web/b", result(UP))
    book.apply("web/b", result(UNKNOWN))
    changes = book.apply("web/b", result(UNKNOWN))
    # b becomes unknown, which is left out: web stays operational on a alone
    assert [type(t) for t in changes] == [CheckTransition]
    assert book.services["web"].status is ServiceStatus.OPERATIONAL


def test_maintenance_overrides_and_returns_transitions(book):
    book.apply("mail/smtp", result(UP, at=1))
    assert book.set_maintenance("mail", True, at=10) == [
        ServiceTransition(book.services["mail"], ServiceStatus.OPERATIONAL,
                          ServiceStatus.MAINTENANCE, 10)]
    assert book.set_maintenance("mail", True, at=11) == []  # already on

    # during the window the check still changes, the service does not
    changes = book.apply("mail/smtp", result(DOWN, at=12))
    assert [type(t) for t in changes] == [CheckTransition]
    assert book.services["mail"].status is ServiceStatus.MAINTENANCE

    changes = book.set_maintenance("mail", False, at=20)
    assert [(t.previous, t.current, t.at) for t in changes] == [
        (ServiceStatus.MAINTENANCE, ServiceStatus.MAJOR_OUTAGE, 20)]
    assert book.set_maintenance("mail", False, at=21) == []


def test_restore_fires_nothing_and_seeds_damping(book):
    book.restore("web/a", DOWN, since=100)
    book.restore("web/b", UP, since=50)
    book.restore("gone/check", DOWN, since=1)  # a check no longer configured is ignored
    book.restore_services(at=200)
    web = book.services["web"]
    assert (web.status, web.since) == (ServiceStatus.PARTIAL_OUTAGE, 200)
    assert book.checks["web/a"].since == 100
    # the restored status is the baseline: a matching result changes nothing
    assert book.apply("web/a", result(DOWN, at=300)) == []
    # and a recovery is a real transition from the restored status
    changes = book.apply("web/a", result(UP, at=301))
    assert [(t.previous, t.current) for t in changes] == [
        (DOWN, UP), (ServiceStatus.PARTIAL_OUTAGE, ServiceStatus.OPERATIONAL)]


def test_unknown_keys_raise(book):
    with pytest.raises(KeyError):
        book.apply("web/nope", result(UP))
    with pytest.raises(KeyError):
        book.set_maintenance("nope", True, at=1)


# Properties --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(confirm=st.integers(min_value=1, max_value=4),
       raws=st.lists(st.sampled_from(list(Status)), max_size=40))
def test_damping_properties(confirm, raws):
    state = CheckState(make_check(confirm=confirm))
    seen: list[Status] = []
    for raw in raws:
        previous = state.status
        change = state.record(result(raw))
        seen.append(raw)
        last = seen[-confirm:]
        if state.status is DOWN:
            # never down unless the last `confirm` raw results were all failures
            assert len(last) == confirm and all(s in FAILING for s in last)
            assert raw is DOWN  # the last failure decides
        if raw in (UP, MAINT):
            assert state.status is raw and not state.pending
        # a change is reported exactly when the confirmed status moves
        assert (change is not None) == (state.status is not previous)
        if change is not None:
            assert change == (previous, state.status)
        # an unconfirmed failure asks for the retry interval
        assert state.next_delay() == (30.0 if state.pending else 300.0)
        assert not (state.pending and state.status in FAILING and state.status is raw)


@given(st.lists(st.sampled_from([None, *Status]), max_size=12), st.booleans())
def test_counted_derivation_matches_the_plain_one(statuses, maintenance):
    from collections import Counter

    from monitor.state import derive_from_counts, derive_service_status

    assert derive_from_counts(Counter(statuses), len(statuses), maintenance) == \
        derive_service_status(statuses, maintenance)
