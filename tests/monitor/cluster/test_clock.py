"""The cluster's clock: the database's, or a fixed time only a test moves."""

from __future__ import annotations

import pytest

from monitor.cluster.clock import DATABASE, Clock


def test_the_database_s_clock_is_no_parameter_and_cannot_be_moved():
    assert DATABASE.param is None and repr(DATABASE) == "Clock.database()"
    with pytest.raises(TypeError):
        Clock.database().advance(1)
    with pytest.raises(TypeError):
        Clock.database().set(1)


def test_a_fixed_clock_moves_only_when_told():
    clock = Clock.fixed(100)
    assert clock.param == 100.0
    clock.advance(2.5)
    assert clock.param == 102.5
    clock.set(7)
    assert clock.param == 7.0 and repr(clock) == "Clock.fixed(7.0)"
