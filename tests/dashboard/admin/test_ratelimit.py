"""The login limiter on its own: a sliding window per address and per name."""

from __future__ import annotations

from dashboard.admin.ratelimit import LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_sixth_attempt_waits_until_the_oldest_failure_expires():
    clock = Clock()
    limiter = LoginLimiter(limit=5, window=900, clock=clock)
    for second in range(5):
        assert limiter.retry_after("10.0.0.1", "camille") == 0
        clock.now = second * 10.0
        limiter.failed("10.0.0.1", "camille")
    assert limiter.retry_after("10.0.0.1", "camille") == 900 - 40
    clock.now = 900.5  # the first failure (at 0) has left the window
    assert limiter.retry_after("10.0.0.1", "camille") == 0


def test_the_address_and_the_name_are_counted_apart():
    clock = Clock()
    limiter = LoginLimiter(limit=3, window=60, clock=clock)
    for name in ("a", "b", "c"):
        limiter.failed("10.0.0.1", name)
    assert limiter.retry_after("10.0.0.1", "d") > 0      # the address guessed too much
    assert limiter.retry_after("10.0.0.2", "a") == 0     # one failure for "a" only
    for address in ("10.0.0.3", "10.0.0.4", "10.0.0.5"):
        limiter.failed(address, "e")
    assert limiter.retry_after("10.0.0.6", "E ") > 0     # the name, whatever the case


def test_a_success_clears_the_name_not_the_address():
    limiter = LoginLimiter(limit=2, window=60, clock=Clock())
    limiter.failed("10.0.0.1", "camille")
    limiter.failed("10.0.0.1", "other")
    limiter.succeeded("10.0.0.1", "camille")
    assert limiter.retry_after("10.0.0.2", "camille") == 0
    assert limiter.retry_after("10.0.0.1", "anyone") > 0


def test_without_an_address_only_the_name_counts():
    """None: the address is the reverse proxy's, shared by every visitor."""
    limiter = LoginLimiter(limit=3, window=60, clock=Clock())
    for name in ("a", "b", "c", "d"):
        limiter.failed(None, name)
    assert limiter.retry_after(None, "camille") == 0
    assert limiter.retry_after("10.0.0.1", "camille") == 0
    for _ in range(3):
        limiter.failed(None, "camille")
    assert limiter.retry_after(None, "camille") > 0
    limiter.succeeded(None, "camille")
    assert limiter.retry_after(None, "camille") == 0
