"""Fixtures of the cluster tests: a migrated PostgreSQL schema of its own per test, and
the database clock replaced by a fixed time the test moves (``Clock.fixed``)."""

from __future__ import annotations

import threading

import pytest

from monitor.cluster.clock import Clock
from monitor.cluster.settings import ClusterSettings
from monitor.store import Store

#: the fixed clock's start (any time: the database's clock is not read)
T0 = 1_800_000_000.0


@pytest.fixture
def store(postgres_schema_url):
    """A migrated store in a fresh PostgreSQL schema."""
    store = Store(postgres_schema_url)
    store.upgrade()
    yield store
    store.dispose()


@pytest.fixture
def engine(store):
    return store.engine


@pytest.fixture
def clock() -> Clock:
    return Clock.fixed(T0)


@pytest.fixture
def settings() -> ClusterSettings:
    """heartbeat 5 s, dead after 3 (detection 15 s), lease 15 s."""
    return ClusterSettings(enabled=True, node="a", heartbeat=5, dead_after=3, lease=15)


def run_all(*targets) -> None:
    """Run the targets in threads of their own; raise the first failure of any."""
    failures: list[BaseException] = []

    def run(target) -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]


def race(*calls) -> list:
    """Call each of ``calls`` in a thread of its own, all released at once; what each
    returned, or the exception it raised, in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - returned for the test to judge
            results[i] = exc

    run_all(*(lambda i=i: run(i) for i in range(len(calls))))
    return results
