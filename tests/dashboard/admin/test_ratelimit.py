"""The login limiter on its own: attempts per address (a visitor's, or the shared proxy's),
failures per address, per name and per known browser, each a sliding window."""

from __future__ import annotations

from dashboard.clients import Client
from dashboard.admin.ratelimit import Attempt, Budget, LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def visitor(address: str = "10.0.0.1", device: str | None = None) -> Attempt:
    return Attempt(Client(address, shared=False), device)


PROXY = Attempt(Client("127.0.0.1", shared=True))


def limiter(clock: Clock, **budgets: Budget) -> LoginLimiter:
    return LoginLimiter(clock, **budgets)


def test_the_sixth_failure_waits_until_the_oldest_failure_expires():
    clock = Clock()
    limits = limiter(clock, failures=Budget(5, 900))
    for second in range(5):
        clock.now = second * 10.0
        assert limits.admit(visitor(), "camille") == 0
        limits.failed(visitor(), "camille")
    assert limits.admit(visitor(), "camille") == 900 - 40
    clock.now = 900.5  # the first failure (at 0) has left the window
    assert limits.admit(visitor(), "camille") == 0


def test_the_address_and_the_name_are_counted_apart():
    clock = Clock()
    limits = limiter(clock, failures=Budget(3, 60))
    for name in ("a", "b", "c"):
        limits.failed(visitor("10.0.0.1"), name)
    assert limits.admit(visitor("10.0.0.1"), "d") > 0      # the address guessed too much
    assert limits.admit(visitor("10.0.0.2"), "a") == 0     # one failure for "a" only
    for address in ("10.0.0.3", "10.0.0.4", "10.0.0.5"):
        limits.failed(visitor(address), "e")
    assert limits.admit(visitor("10.0.0.6"), "E ") > 0     # the name, whatever the case


def test_a_success_clears_the_name_not_the_address():
    limits = limiter(Clock(), failures=Budget(2, 60))
    limits.failed(visitor("10.0.0.1"), "camille")
    limits.failed(visitor("10.0.0.1"), "other")
    limits.succeeded(visitor("10.0.0.1"), "camille")
    assert limits.admit(visitor("10.0.0.2"), "camille") == 0
    assert limits.admit(visitor("10.0.0.1"), "anyone") > 0


def test_failures_from_the_shared_address_count_against_the_names_only():
    limits = limiter(Clock(), failures=Budget(3, 60))
    for name in ("a", "b", "c", "d"):
        limits.failed(PROXY, name)
    assert limits.admit(PROXY, "camille") == 0
    for _ in range(3):
        limits.failed(PROXY, "camille")
    assert limits.admit(PROXY, "camille") > 0
    limits.succeeded(PROXY, "camille")
    assert limits.admit(PROXY, "camille") == 0


def test_every_attempt_counts_against_the_address_refused_ones_do_not():
    clock = Clock()
    limits = limiter(clock, visitor_attempts=Budget(3, 60), shared_attempts=Budget(5, 60))
    assert [limits.admit(visitor(), f"n{i}") == 0 for i in range(5)] == [True] * 3 + [False] * 2
    assert [limits.admit(PROXY, f"n{i}") == 0 for i in range(7)] == [True] * 5 + [False] * 2
    clock.now = 30.0
    assert limits.admit(PROXY, "x") == 30.0  # the oldest admitted attempt is 30 s old
    clock.now = 60.0  # refused attempts were not counted: the window is free again
    assert limits.admit(PROXY, "x") == 0
    assert limits.admit(visitor(), "x") == 0


def test_a_known_device_is_counted_apart_from_its_address_and_its_name():
    limits = limiter(Clock(), failures=Budget(2, 60), shared_attempts=Budget(2, 60))
    known = Attempt(PROXY.client, device="d1")
    for name in ("a", "b"):
        limits.admit(PROXY, name)
    for _ in range(2):
        limits.failed(PROXY, "camille")
    assert limits.admit(PROXY, "camille") > 0      # the address and the name are spent…
    assert limits.admit(known, "camille") == 0      # …the known browser is not
    limits.failed(known, "camille")
    limits.failed(known, "camille")
    assert limits.admit(known, "camille") > 0      # but it has its own failure limit
    assert limits.admit(Attempt(PROXY.client, device="d2"), "camille") == 0
