"""The one order of statuses (monitor.status) and the readers that once had their own."""

from __future__ import annotations

import pytest

from monitor import availability
from monitor.incidents.lifecycle import worse
from monitor.status import CHECK_ORDER, SERVICE_ORDER, ServiceStatus as S, Status, worst


def test_the_order_best_to_worst():
    assert SERVICE_ORDER == (S.OPERATIONAL, S.UNKNOWN, S.MAINTENANCE, S.DEGRADED,
                             S.PARTIAL_OUTAGE, S.MAJOR_OUTAGE)
    assert CHECK_ORDER == (Status.UP, Status.UNKNOWN, Status.MAINTENANCE, Status.DEGRADED,
                           Status.DOWN)


def test_check_and_service_statuses_sit_on_one_scale():
    for status in Status:
        assert status.severity == status.on_service_scale.severity
        assert status.on_service_scale.label == (
            "major_outage" if status is Status.DOWN else
            "operational" if status is Status.UP else status.label)


def test_comparisons_follow_the_order_not_the_stored_integers():
    assert Status.UNKNOWN < Status.DOWN  # stored 3 > 2
    assert Status.MAINTENANCE < Status.DEGRADED  # stored 4 > 1
    assert Status.DOWN >= Status.DOWN and Status.DEGRADED > Status.UP
    assert S.PARTIAL_OUTAGE > S.DEGRADED >= S.DEGRADED > S.MAINTENANCE > S.UNKNOWN
    assert sorted([Status.DOWN, Status.UP, Status.MAINTENANCE]) == [
        Status.UP, Status.MAINTENANCE, Status.DOWN]
    # the contracts stay: metric values, database integers and codes
    assert [int(s) for s in (Status.UP, Status.DEGRADED, Status.DOWN, Status.UNKNOWN,
                             Status.MAINTENANCE)] == [0, 1, 2, 3, 4]
    assert Status.DOWN == 2 and Status(3) is Status.UNKNOWN
    assert [s.code for s in S] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(TypeError):
        assert Status.DOWN < S.MAJOR_OUTAGE  # two scales are not compared by accident


def test_worst():
    assert worst([S.DEGRADED, S.MAJOR_OUTAGE, S.UNKNOWN]) is S.MAJOR_OUTAGE
    assert worst([Status.UP, Status.UNKNOWN]) is Status.UNKNOWN
    assert worst([], default=S.OPERATIONAL) is S.OPERATIONAL
    with pytest.raises(ValueError):
        worst([])
    # keyed, the first one among equals
    first, second = (Status.DEGRADED, "slow"), (Status.DEGRADED, "lag")
    assert worst([(Status.UP, None), first, second], key=lambda v: v[0]) is first


def test_labels_parse_and_say_what_is_allowed():
    for status in Status:
        assert Status.from_label(status.label) is status
    for service_status in S:
        assert S.from_label(service_status.label) is service_status
    assert S.of("partial_outage") is S.PARTIAL_OUTAGE and S.of("broken") is None
    assert S.of(None) is None
    with pytest.raises(ValueError, match="up, degraded, down, unknown, maintenance"):
        Status.from_label("UP")
    with pytest.raises(ValueError, match="'partial'"):
        S.from_label("partial")


def test_an_incidents_worst_impact():
    assert worse("degraded", "major_outage") == "major_outage"
    assert worse("partial_outage", "degraded") == "partial_outage"


# The cases where two of the old tables disagreed ----------------------------------------

def test_a_day_of_maintenance_and_unknown_takes_the_maintenance_colour():
    # availability's table ranked unknown above maintenance, the status page's below it
    tally = availability.over_period(S.MAINTENANCE, [(50.0, S.UNKNOWN)], 0.0, 100.0)
    assert tally.worst is S.MAINTENANCE
    tally = availability.over_period(S.UNKNOWN, [(50.0, S.MAINTENANCE)], 0.0, 100.0)
    assert tally.worst is S.MAINTENANCE


def test_a_group_of_an_unknown_and_a_maintained_service_shows_maintenance():
    from dashboard.views import worst_status

    assert worst_status([S.UNKNOWN, S.MAINTENANCE, S.OPERATIONAL]) is S.MAINTENANCE
    assert worst_status([]) is S.OPERATIONAL


def test_unknown_no_longer_reaches_the_degraded_threshold_of_the_bridges():
    # the bridges' table put unknown level with degraded; it ranks below it
    from docs_bridge.settings import impact_reaches

    assert not impact_reaches("unknown", "degraded")
    assert not impact_reaches("maintenance", "degraded")
    assert not impact_reaches("not-a-status", "degraded")
    assert impact_reaches("degraded", "degraded")
    assert impact_reaches("major_outage", "partial_outage")
    assert not impact_reaches("degraded", "partial_outage")
