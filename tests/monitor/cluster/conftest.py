"""Fixtures of the cluster tests: a migrated PostgreSQL schema of its own per test, and
the database clock replaced by a fixed time the test moves (``Clock.fixed``)."""

from __future__ import annotations

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
