"""Issue 12, point 9: sessions live on the server, so ending one ends it for every copy of
the cookie: logout, "sign out everywhere", a password change, removing the user, the idle
and the absolute timeouts. The cookie carries the session's random id, never who is
signed in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dashboard.admin import accounts, sessions
from monitor.store.accounts import AdminSession
from tests.dashboard.admin.conftest import PASSWORD, QUICK, csrf_of, login


class Clock:
    """The app's clock, moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(admin_app):
    """``admin_app`` on a clock the test moves (the real time at first)."""
    import time

    moved = Clock(time.time())
    admin_app.config["CLOCK"] = moved
    return moved


def signed_in(app, username: str = "camille"):
    client = app.test_client()
    assert login(client, username=username).status_code == 303
    return client


def copy_of(app, client):
    """Another browser holding a copy of ``client``'s session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def post(client, path: str):
    token = csrf_of(client.get("/admin/account").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token})


def is_signed_out(client) -> bool:
    response = client.get("/admin/")
    return response.status_code == 303 and response.headers["Location"].startswith(
        "/admin/login")


def test_a_copied_cookie_is_dead_after_logout(admin_app, volunteer):
    client = signed_in(admin_app)
    thief = copy_of(admin_app, client)
    assert thief.get("/admin/").status_code == 200  # a copy works while the session lives
    assert post(client, "/admin/logout").status_code == 303
    assert is_signed_out(client)
    assert is_signed_out(thief)


def test_the_cookie_holds_no_user_id(admin_app, volunteer):
    from flask.sessions import SecureCookieSessionInterface

    client = signed_in(admin_app)
    serializer = SecureCookieSessionInterface().get_signing_serializer(admin_app)
    data = serializer.loads(client.get_cookie("session").value)
    assert set(data) <= {"sid", "csrf_token", "_flashes"}
    assert "camille" not in str(data)


def test_a_new_session_at_each_login(admin_app, volunteer, store):
    first, second = signed_in(admin_app), signed_in(admin_app)
    assert first.get_cookie("session").value != second.get_cookie("session").value
    with store.session() as session:
        rows = session.scalars(select(AdminSession)).all()
    assert len(rows) == 2
    # the id itself is never stored, only its digest
    for row in rows:
        assert row.token_hash not in first.get_cookie("session").value


def test_sign_out_everywhere_ends_every_session_of_the_user_only(admin_app, volunteer, store):
    with store.session() as session, session.begin():
        accounts.create_user(session, "dominique", PASSWORD, passwords=QUICK)
    laptop, phone = signed_in(admin_app), signed_in(admin_app)
    other = signed_in(admin_app, "dominique")
    page = laptop.get("/admin/account").get_data(as_text=True)
    assert "Se déconnecter partout" in page
    response = post(laptop, "/admin/account/sessions/end")
    assert response.status_code == 303
    assert is_signed_out(laptop) and is_signed_out(phone)
    assert not is_signed_out(other)


def test_the_account_page_lists_the_open_sessions(admin_app, volunteer):
    client = signed_in(admin_app)
    signed_in(admin_app)
    page = client.get("/admin/account").get_data(as_text=True)
    assert page.count('class="session-row') == 2
    assert "cette session" in page


def test_changing_the_password_ends_every_copy(admin_app, volunteer, store):
    client = signed_in(admin_app)
    thief = copy_of(admin_app, client)
    with store.session() as session, session.begin():
        accounts.set_password(session, "camille", "another long pass phrase", passwords=QUICK)
    assert is_signed_out(client) and is_signed_out(thief)


def test_removing_the_user_ends_every_session(admin_app, volunteer, store):
    client = signed_in(admin_app)
    with store.session() as session, session.begin():
        accounts.remove_user(session, "camille")
    assert is_signed_out(client)
    with store.session() as session:
        assert session.scalars(select(AdminSession)).all() == []


def test_the_documented_timeouts():
    assert sessions.IDLE_TIMEOUT == 2 * 3600 and sessions.ABSOLUTE_TIMEOUT == 12 * 3600
    assert sessions.TOUCH_EVERY == 60 and sessions.KEEP == 30 * 86400


def last_seen(store) -> list[float]:
    with store.session() as session:
        return [row.last_seen_at for row in session.scalars(select(AdminSession))]


def test_last_seen_is_written_at_most_once_a_minute(admin_app, volunteer, clock, store):
    client = signed_in(admin_app)
    opened = last_seen(store)
    clock.now += 30
    assert client.get("/admin/").status_code == 200
    assert last_seen(store) == opened
    clock.now += 31
    assert client.get("/admin/").status_code == 200
    assert last_seen(store) == [clock.now]


def test_ended_sessions_are_deleted_after_thirty_days(admin_app, volunteer, clock, store):
    old = signed_in(admin_app)
    post(old, "/admin/logout")
    forgotten = signed_in(admin_app)  # never ended: expires
    assert forgotten.get("/admin/").status_code == 200
    assert len(last_seen(store)) == 2
    clock.now += sessions.KEEP + 1
    signed_in(admin_app)  # a login purges
    assert len(last_seen(store)) == 2  # the ended one is gone, the expired one not yet
    clock.now += sessions.ABSOLUTE_TIMEOUT
    signed_in(admin_app)
    assert len(last_seen(store)) == 2  # the expired one is gone too (two new ones)


def test_an_idle_session_ends(admin_app, volunteer, clock):
    client = signed_in(admin_app)
    clock.now += sessions.IDLE_TIMEOUT - 60
    assert client.get("/admin/").status_code == 200  # activity keeps it alive…
    clock.now += sessions.IDLE_TIMEOUT - 60
    assert client.get("/admin/").status_code == 200
    clock.now += sessions.IDLE_TIMEOUT + 1  # …idleness does not
    assert is_signed_out(client)


def test_a_session_ends_after_the_absolute_timeout_even_when_used(admin_app, volunteer,
                                                                  clock):
    client = signed_in(admin_app)
    step = sessions.IDLE_TIMEOUT / 2
    used = 0.0
    while used + step < sessions.ABSOLUTE_TIMEOUT:
        clock.now += step
        used += step
        assert client.get("/admin/").status_code == 200, used
    clock.now += sessions.ABSOLUTE_TIMEOUT - used + 1
    assert is_signed_out(client)


def test_an_ended_session_cannot_be_revived_by_logging_out_again(admin_app, volunteer):
    client = signed_in(admin_app)
    thief = copy_of(admin_app, client)
    post(client, "/admin/logout")
    # the thief's copy gets a login page, and its own "logout" changes nothing
    assert is_signed_out(thief)
    assert login(thief).status_code == 303  # a real login opens a new session
    assert is_signed_out(client)


CONTROLS = [chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_a_control_character_in_next_goes_to_the_overview(admin_app, volunteer, char):
    """Issue 12, point 14: a CR/LF in ``next`` gave a 500 (a header cannot hold it)."""
    client = admin_app.test_client()
    response = login(client, next=f"/admin/incidents{char}Set-Cookie: x=1")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    response = client.get("/admin/login", query_string={
        "next": f"/admin/notices{char}Location: https://evil.example/"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"


def test_the_login_form_carries_only_a_safe_next(admin_app, volunteer):
    """The hidden field holds a checked ``next``: an unsafe one is not carried (even
    cleaned) into the redirect after signing in."""
    import re

    client = admin_app.test_client()
    page = client.get("/admin/login", query_string={
        "next": "/admin/incidents\r\nSet-Cookie: x=1"}).get_data(as_text=True)
    carried = re.search(r'name="next" value="([^"]*)"', page).group(1)
    assert carried == "/admin/"
    page = client.get("/admin/login?next=/admin/incidents").get_data(as_text=True)
    assert 'name="next" value="/admin/incidents"' in page
    assert login(client, next="/admin/incidents here").headers["Location"] == "/admin/"
