"""Fixtures shared by the whole suite.

Tests that need an outside service (PostgreSQL, MariaDB, promtool, chromium, Debian's
monitoring-plugins…) call :func:`require` (or use the fixtures below): on a developer's
machine without the service they skip with the reason; when ``VIGIE_REQUIRE_SERVICES=1``
(set by ``.ci/run``) they fail instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid

import pytest

REQUIRED = os.environ.get("VIGIE_REQUIRE_SERVICES") == "1"

POSTGRES_URL = os.environ.get("VIGIE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "db": "test"}


def require(available: bool, reason: str) -> None:
    """Skip (or fail under VIGIE_REQUIRE_SERVICES=1) when a needed service is missing."""
    if available:
        return
    if REQUIRED:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def postgres_url() -> str:
    """URL of the machine's PostgreSQL ``test`` database (skips/fails when absent)."""
    require(port_open("127.0.0.1", 5432), "PostgreSQL is not running on 127.0.0.1:5432")
    return POSTGRES_URL


@pytest.fixture
def postgres_schema_url(postgres_url: str):
    """A PostgreSQL URL whose connections use a fresh schema, dropped afterwards.

    Lets tests that create tables run side by side without seeing each other.
    """
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def mariadb() -> dict:
    """Connection settings of the machine's MariaDB ``test`` database (skips/fails when absent)."""
    require(port_open("127.0.0.1", 3306), "MariaDB is not running on 127.0.0.1:3306")
    return dict(MARIADB)


def which_or_require(program: str, reason: str) -> str:
    """Path of ``program`` on PATH, or skip/fail with ``reason``."""
    path = shutil.which(program)
    require(path is not None, reason)
    return path  # type: ignore[return-value]  # required just above


@pytest.fixture(autouse=True, scope="session")
def _members_words_of_the_built_in_probes():
    """Every process that renders reasons builds the probe registry when it loads its
    configuration, which teaches ``monitor.reasonwords`` the built-in probes' words; do it
    once here, so a test's public text never depends on which test built one first."""
    from monitor.plugins import ProbeRegistry, build_plugin_manager

    ProbeRegistry.from_plugin_manager(build_plugin_manager())



class ProbeClock:
    """A monotonic clock the test moves, for :func:`monitor.runner.probe_context` and
    ``run_check(clock=…)``: a probe's ``ctx.remaining()`` changes only when the test
    calls :meth:`advance`. A ``spent`` clock reads ``now`` once (the runner setting the
    deadline), then a day later: the probe's time is up as soon as it looks, so a test
    sees which deadline fires without waiting for it."""

    def __init__(self, now: float = 1000.0, *, spent: bool = False) -> None:
        self.now = now
        self._spent = spent

    def __call__(self) -> float:
        now = self.now
        if self._spent:
            self.now += 86400.0
            self._spent = False
        return now

    def advance(self, seconds: float) -> None:
        """Move the time on by ``seconds``."""
        self.now += seconds
