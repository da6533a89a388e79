"""One log line per key and period; the lines left out are counted."""

from monitor.logthrottle import LogThrottle, left_out


def test_one_line_per_key_and_period_with_the_count_left_out():
    now = [0.0]
    throttle = LogThrottle(60.0, clock=lambda: now[0], max_keys=2)
    assert throttle.allow("a") == 0
    assert [throttle.allow("a") for _ in range(3)] == [None] * 3
    assert throttle.allow("b") == 0  # another key has its own line
    now[0] = 61.0
    assert throttle.allow("a") == 3
    assert left_out(3) == " (3 more since the last line)" and left_out(0) == ""


def test_keys_are_bounded():
    throttle = LogThrottle(60.0, clock=lambda: 0.0, max_keys=2)
    for key in range(5):
        throttle.allow(key)
    assert len(throttle._keys) == 2
