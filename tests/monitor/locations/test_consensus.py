"""The consensus rule of docs/locations.md, property by property: random votes, each
property checked against a plain count of what the votes say."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.locations.consensus import Vote, Verdict, decide
from monitor.probe import Status

STATUSES = [None, *Status]


@st.composite
def ballots(draw) -> tuple[list[Vote], int]:
    """1 to 7 locations, each with a status (or none yet) and reachable or not, and a
    quorum from 1 to their number."""
    count = draw(st.integers(1, 7))
    votes = [Vote(f"l{i}", draw(st.sampled_from(STATUSES)), draw(st.booleans()))
             for i in range(count)]
    return votes, draw(st.integers(1, count))


def reachable(votes: list[Vote], *statuses) -> int:
    return sum(1 for v in votes if v.reachable and v.status in statuses)


@settings(max_examples=500)
@given(ballots())
def test_down_exactly_when_a_quorum_of_reachable_locations_is_down(ballot):
    votes, quorum = ballot
    verdict = decide(votes, quorum)
    assert (verdict.status is Status.DOWN) == (reachable(votes, Status.DOWN) >= quorum)


@settings(max_examples=500)
@given(ballots())
def test_unreachable_locations_change_nothing(ballot):
    votes, quorum = ballot
    heard = [v for v in votes if v.reachable]
    with_silent, without = decide(votes, quorum), decide(heard, quorum)
    assert (with_silent.status, with_silent.deciding, with_silent.failing) == (
        without.status, without.deciding, without.failing)


@settings(max_examples=500)
@given(ballots(), st.data())
def test_a_location_going_silent_never_makes_the_check_down(ballot, data):
    votes, quorum = ballot
    before = decide(votes, quorum)
    index = data.draw(st.integers(0, len(votes) - 1))
    silenced = [Vote(v.location, v.status, False) if i == index else v
                for i, v in enumerate(votes)]
    after = decide(silenced, quorum)
    assert after.status is not Status.DOWN or before.status is Status.DOWN


@settings(max_examples=500)
@given(ballots())
def test_failures_below_the_quorum_leave_the_check_up_as_a_partial_failure(ballot):
    votes, quorum = ballot
    verdict = decide(votes, quorum)
    failing = reachable(votes, Status.DOWN, Status.DEGRADED)
    waiting = reachable(votes, None)
    if failing and failing + waiting < quorum and reachable(votes, Status.UP) and \
            reachable(votes, Status.MAINTENANCE) < quorum:
        assert verdict.status is Status.UP and verdict.partial
        assert len(verdict.failing) == failing
    if verdict.partial:
        assert verdict.status is Status.UP and 0 < len(verdict.failing) < quorum


@settings(max_examples=500)
@given(ballots())
def test_no_verdict_only_while_locations_not_judged_yet_could_make_a_quorum(ballot):
    votes, quorum = ballot
    verdict = decide(votes, quorum)
    if verdict.status is None:
        assert reachable(votes, None) > 0
        assert reachable(votes, Status.DOWN) < quorum


@settings(max_examples=500)
@given(ballots())
def test_unknown_when_nobody_reachable_says_up_and_no_quorum_either_way(ballot):
    votes, quorum = ballot
    verdict = decide(votes, quorum)
    if verdict.status is Status.UNKNOWN:
        assert reachable(votes, Status.UP) == 0 and reachable(votes, None) == 0
        assert reachable(votes, Status.DOWN, Status.DEGRADED) < quorum
    if not any(v.reachable for v in votes):
        assert verdict.status is Status.UNKNOWN


def votes_of(*statuses: Status | None) -> list[Vote]:
    return [Vote(f"l{i}", s) for i, s in enumerate(statuses)]


UP, DOWN, DEGRADED = Status.UP, Status.DOWN, Status.DEGRADED


def test_quorum_boundaries_of_three_locations():
    assert decide(votes_of(UP, UP, DOWN), 2).status is UP
    assert decide(votes_of(UP, UP, DOWN), 2).partial
    assert decide(votes_of(UP, DOWN, DOWN), 2).status is DOWN
    assert decide(votes_of(UP, DOWN, DOWN), 3).status is UP
    assert decide(votes_of(DOWN, DOWN, DOWN), 3).status is DOWN
    assert decide(votes_of(UP, UP, DOWN), 1).status is DOWN
    assert decide(votes_of(UP, DOWN, DEGRADED), 2).status is DEGRADED
    assert decide(votes_of(UP, UP, UP), 2) == Verdict(
        UP, 2, 3, ("l0", "l1", "l2"), (), (), ("l0", "l1", "l2"))


def test_not_judged_yet_waits_only_while_it_could_make_a_quorum():
    # just started: one location up, two not judged yet, quorum 2 (they may say down)
    assert decide(votes_of(UP, None, None), 2).status is None
    assert decide(votes_of(UP, UP, None), 2).status is UP
    assert decide(votes_of(DOWN, None, UP), 2).status is None
    assert decide(votes_of(DOWN, DOWN, None), 2).status is DOWN


def test_too_few_reachable_locations():
    silent = [Vote("a", DOWN), Vote("b", None, False), Vote("c", None, False)]
    verdict = decide(silent, 2)
    assert verdict.status is Status.UNKNOWN
    assert verdict.unreachable == ("b", "c") and verdict.judging == ("a",)
    assert decide([Vote("a", UP), Vote("b", DOWN, False), Vote("c", DOWN, False)],
                  2).status is UP
