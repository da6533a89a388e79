"""Issue 12, point 7: a login flood must neither freeze the dashboard nor get through.

- Hashing is bounded: while every hashing slot is busy, a login is answered at once with
  503 and ``Retry-After`` instead of waiting for a slot (so the worker threads stay free
  for the status page, ``/healthz`` and ``/metrics``).
- A per-address attempt budget always applies, to the reverse proxy's shared address too:
  the flood of the issue (16 concurrent clients, names changed every 5 tries) is refused
  after the documented number of attempts, and a volunteer whose browser signed in before
  (a device cookie) still gets in during the flood.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher

from dashboard import create_app
from dashboard.admin import accounts, hashslots
from dashboard.admin.context import admin_state
from dashboard.admin.ratelimit import SHARED_ATTEMPTS, VISITOR_ATTEMPTS, LoginLimiter
from tests.dashboard.admin.conftest import PASSWORD, QUICK, csrf_of, login

GUESS = "guess guess guess"


class FrozenClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(admin_app):
    """The login limiter of ``admin_app`` on a clock the test controls."""
    frozen = FrozenClock()
    admin_state(admin_app).limiter = LoginLimiter(clock=frozen)
    return frozen


def client_from(app, address: str):
    """A test client whose requests come from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def flood(app, address: str, workers: int = 16, tries: int = 10) -> list[int]:
    """The issue's flood: ``workers`` clients at once, each changing the user name every
    5 tries; the statuses of every attempt."""
    def one_client(worker: int) -> list[int]:
        client = client_from(app, address)
        return [login(client, username=f"guess{worker}-{attempt // 5}",
                      password=GUESS).status_code for attempt in range(tries)]

    with ThreadPoolExecutor(workers) as pool:
        return [status for statuses in pool.map(one_client, range(workers))
                for status in statuses]


def test_the_flood_through_a_shared_proxy_address_is_refused_after_the_budget(
        admin_app, volunteer, clock):
    """No trusted proxy: every visitor comes from 127.0.0.1, which used to be counted
    against nothing (the names changed every 5 tries, so no name was locked either)."""
    statuses = flood(admin_app, "127.0.0.1")
    assert len(statuses) == 160
    # every attempt admitted costs a hash (or a "busy" answer); the others cost nothing
    admitted = [s for s in statuses if s in (401, 503)]
    assert len(admitted) == SHARED_ATTEMPTS.limit == 30
    assert statuses.count(429) == 160 - 30
    response = login(client_from(admin_app, "127.0.0.1"), username="guess0-9", password=GUESS)
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= SHARED_ATTEMPTS.window
    assert "Trop de tentatives" in response.get_data(as_text=True)
    # the budget is a sliding window: it comes back once the attempts are old enough
    clock.now += SHARED_ATTEMPTS.window + 1
    assert login(client_from(admin_app, "127.0.0.1")).status_code == 303


def test_a_visitors_own_address_has_a_smaller_budget(admin_app, volunteer, clock, store):
    """Attempts that succeed count too: each costs a hash."""
    statuses = [login(client_from(admin_app, "198.51.100.4")).status_code
                for _ in range(VISITOR_ATTEMPTS.limit + 2)]
    assert statuses == [303] * VISITOR_ATTEMPTS.limit + [429, 429]
    # another visitor is not affected
    assert login(client_from(admin_app, "198.51.100.5")).status_code == 303


def test_a_volunteer_who_signed_in_before_gets_in_during_the_flood(admin_app, volunteer,
                                                                   clock):
    """Her browser holds the device cookie of an earlier login: her attempts are counted
    against that device, not against the shared address the flood exhausted."""
    known = client_from(admin_app, "127.0.0.1")
    response = login(known)
    assert response.status_code == 303
    device = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("vigie_device=")]
    assert len(device) == 1
    assert "HttpOnly" in device[0] and "Path=/admin" in device[0]
    assert f"Max-Age={180 * 86400}" in device[0] and "SameSite=Lax" in device[0]
    known.post("/admin/logout", data={"csrf_token": csrf_of(
        known.get("/admin/").get_data(as_text=True))})
    flood(admin_app, "127.0.0.1")
    # a new browser shares the exhausted budget…
    assert login(client_from(admin_app, "127.0.0.1")).status_code == 429
    # …the known one does not
    assert login(known).status_code == 303
    known.delete_cookie("session")
    # the device cookie is for its user only: another name is counted as a stranger's
    assert login(known, username="dominique", password=GUESS).status_code == 429


def test_a_device_cookie_is_locked_after_five_failures(admin_app, volunteer, clock):
    known = client_from(admin_app, "198.51.100.9")
    assert login(known).status_code == 303
    known.delete_cookie("session")  # signed out; the device cookie stays
    statuses = [login(known, password=GUESS).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def test_a_forged_device_cookie_counts_for_nothing(admin_app, volunteer, clock):
    client = client_from(admin_app, "127.0.0.1")
    client.set_cookie("vigie_device", "camille.forged", path="/admin")
    flood(admin_app, "127.0.0.1", workers=4, tries=10)
    assert login(client).status_code == 429


class HeldHasher(PasswordHasher):
    """Cheap argon2 whose ``verify`` waits until the test releases it, so the test can
    hold every hashing slot as long as it needs."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def verify(self, hash, password):  # noqa: A002 (argon2's own parameter name)
        self.entered.release()
        self.release.wait(60)
        return super().verify(hash, password)


def test_while_every_hashing_slot_is_busy_a_login_is_refused_at_once(admin_seeded, volunteer):
    hasher = HeldHasher()  # this app's own: the other apps of the process hash as before
    config, store, _ = admin_seeded
    app = create_app(config, {"TESTING": True, "PASSWORD_HASHER": hasher}, store=store)
    slots = hashslots.SLOTS.size
    assert slots == 2  # as docs/admin.md says
    pool = ThreadPoolExecutor(slots + 1)
    try:
        holders = [pool.submit(login, client_from(app, f"192.0.2.{i}"))
                   for i in range(slots)]
        for _ in range(slots):  # every slot is taken by a login waiting in verify()
            assert hasher.entered.acquire(timeout=30), "the holding logins never hashed"
        late = pool.submit(login, client_from(app, "192.0.2.200"))
        # a generous bound that only fails when the login waits for a slot
        response = late.result(timeout=30)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        page = response.get_data(as_text=True)
        assert "Trop de connexions en même temps" in page
        assert hasher.entered.acquire(timeout=0) is False  # it did not hash
    finally:
        hasher.release.set()
        pool.shutdown(wait=True)
    assert [h.result().status_code for h in holders] == [303] * slots
    # the slots are free again
    assert login(client_from(app, "192.0.2.201")).status_code == 303


def test_the_busy_answer_is_in_english_too(admin_app, volunteer, clock):
    with hashslots.SLOTS.hold_all():
        client = client_from(admin_app, "192.0.2.50")
        token = csrf_of(client.get("/admin/login").get_data(as_text=True))
        response = client.post("/admin/login", data={
            "username": "camille", "password": PASSWORD, "csrf_token": token},
            headers={"Accept-Language": "en"})
    assert response.status_code == 503
    assert "Too many sign-ins at the same moment" in response.get_data(as_text=True)


def test_creating_a_user_waits_for_no_slot_either(store):
    with hashslots.SLOTS.hold_all(), store.session() as session, session.begin(), \
            pytest.raises(hashslots.HashingBusy):
        accounts.create_user(session, "dominique", PASSWORD, passwords=QUICK)


def test_the_flood_writes_a_line_per_address_and_minute_not_per_attempt(
        admin_app, volunteer, clock, caplog):
    """The soak benchmark's flood wrote 9,000 log lines in ten minutes, one per refused
    attempt: the log is not the attacker's to fill."""
    import logging

    from dashboard.admin.context import admin_state
    from monitor.logthrottle import LogThrottle

    log_clock = FrozenClock()  # the log's minute, apart from the limiter's window
    admin_state(admin_app).login_log = LogThrottle(60.0, clock=log_clock)
    with caplog.at_level(logging.WARNING, logger="dashboard.admin.auth"):
        statuses = flood(admin_app, "127.0.0.1")
    refused = [r for r in caplog.records if "login refused (too many attempts)" in r.getMessage()]
    assert statuses.count(429) == 130 and len(refused) == 1
    caplog.clear()
    log_clock.now += 61
    with caplog.at_level(logging.WARNING, logger="dashboard.admin.auth"):
        assert login(client_from(admin_app, "127.0.0.1"), username="guess0-9",
                     password=GUESS).status_code == 429
    assert [r.getMessage().endswith("(129 more since the last line)")
            for r in caplog.records] == [True]
