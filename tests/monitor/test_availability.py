"""Availability, defined once (monitor/availability.py): degraded counts as available, a
partial outage is weighted, maintenance and unknown time are left out of the count."""

from __future__ import annotations

import pytest

from monitor import availability
from monitor.availability import Tally, over_period
from monitor.probe import Status
from monitor.state import ServiceStatus as S


def test_the_weights():
    assert availability.weight(S.OPERATIONAL) == 1.0
    assert availability.weight(S.DEGRADED) == 1.0  # slow, but members can use it
    assert availability.weight(S.PARTIAL_OUTAGE) == availability.PARTIAL_OUTAGE_WEIGHT == 0.7
    assert availability.weight(S.MAJOR_OUTAGE) == 0.0
    assert availability.weight(S.MAINTENANCE) is None  # planned: not counted
    assert availability.weight(S.UNKNOWN) is None  # not observed
    assert availability.run_weight(Status.UP) == availability.run_weight(Status.DEGRADED) == 1
    assert availability.run_weight(Status.DOWN) == 0.0
    assert availability.run_weight(Status.MAINTENANCE) is None
    assert availability.run_weight(Status.UNKNOWN) is None


def test_a_day_only_slow_is_fully_available():
    tally = over_period(S.OPERATIONAL, [(100.0, S.DEGRADED)], 0.0, 1000.0)
    assert tally.ratio == 1.0 and tally.observed == 1000.0 and tally.worst == S.DEGRADED


def test_time_not_changes_and_every_rule_at_once():
    tally = over_period(None, [
        (10.0, S.OPERATIONAL),      # nothing known before: 10 s not observed
        (40.0, S.DEGRADED),         # 30 s available
        (70.0, S.PARTIAL_OUTAGE),   # 30 s slow: available
        (80.0, S.MAINTENANCE),      # 10 s at 70 %
        (90.0, S.MAJOR_OUTAGE),     # 10 s of maintenance: left out
        (95.0, S.UNKNOWN),          # 5 s down
    ], 0.0, 100.0)                  # 5 s unknown: left out
    assert tally.observed == pytest.approx(30 + 30 + 10 + 5)
    assert tally.available == pytest.approx(30 + 30 + 7)
    assert tally.ratio == pytest.approx(67 / 75)
    assert tally.worst == S.MAJOR_OUTAGE
    assert over_period(None, [], 0.0, 100.0) == Tally(0.0, 0.0, None)
    assert Tally(0.0, 0.0, None).ratio is None


def test_a_maintenance_day_has_no_ratio_but_a_colour():
    tally = over_period(S.MAINTENANCE, [], 0.0, 100.0)
    assert tally.ratio is None and tally.worst == S.MAINTENANCE


def test_periods_add_up_weighted_by_observed_time():
    total = availability.combine([Tally(100.0, 100.0, S.OPERATIONAL),
                                  Tally(0.0, 50.0, S.MAJOR_OUTAGE), Tally(0.0, 0.0, None)])
    assert total.ratio == pytest.approx(100 / 150) and total.worst == S.MAJOR_OUTAGE
    assert availability.combine([]).ratio is None
    # a stored day (ratio, observed) gives its tally back
    assert Tally.of(0.5, 20.0, S.DEGRADED) == Tally(10.0, 20.0, S.DEGRADED)
    assert Tally.of(None, 0.0, None) == Tally(0.0, 0.0, None)
