"""Signing in and out of the admin area: argon2 passwords, the login rate limit, session
cookies, and every page behind the login."""

from __future__ import annotations

import dataclasses

import pytest

from dashboard.admin import accounts
from dashboard.admin.context import admin_state
from dashboard.admin.ratelimit import LoginLimiter
from monitor.config import ServerSettings
from tests.dashboard.admin.conftest import PASSWORD, QUICK, csrf_of, login


class FakeClock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_from(app, address: str):
    """A test client whose requests come from ``address``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


PAGES = ["/admin/", "/admin/notices", "/admin/maintenance", "/admin/incidents",
         "/admin/incidents/new", "/admin/outbox"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_signed_in_volunteer(admin_app, path):
    response = admin_app.test_client().get(path)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/login?next=")


def test_login_with_the_right_password_opens_a_session(admin_app, volunteer, store):
    client = admin_app.test_client()
    response = login(client, next="/admin/incidents")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/incidents"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # the listener is 127.0.0.1 and the request is plain HTTP: no Secure flag (see docs)
    assert "Secure" not in cookie
    page = client.get("/admin/").get_data(as_text=True)
    assert "camille" in page
    with store.session() as session:
        assert accounts.get_user(session, "camille").last_login_at is not None


def test_login_names_are_case_insensitive(admin_app, volunteer):
    assert login(admin_app.test_client(), username="  Camille ").status_code == 303


@pytest.mark.parametrize("username, password", [
    ("camille", "wrong password!"), ("nobody", PASSWORD), ("camille", ""),
])
def test_wrong_credentials_are_refused_with_one_message(admin_app, volunteer, username,
                                                        password):
    client = admin_app.test_client()
    response = login(client, username=username, password=password)
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "Nom d&#39;utilisateur ou mot de passe incorrect." in page
    assert client.get("/admin/").status_code == 303  # still signed out
    assert password not in page or not password


def test_next_never_leads_to_another_site(admin_app, volunteer):
    for target in ("https://evil.example/", "//evil.example/", "/lang/en", "/admin\\@evil"):
        response = login(admin_app.test_client(), next=target)
        assert response.headers["Location"] == "/admin/", target


def test_five_failures_lock_the_name_for_fifteen_minutes(admin_app, volunteer):
    clock = FakeClock()
    admin_state(admin_app).limiter = LoginLimiter(clock=clock)
    for _ in range(5):
        assert login(admin_app.test_client(), password="not the password").status_code == 401
    # even the right password is refused now, with a French message and Retry-After
    response = login(admin_app.test_client())
    assert response.status_code == 429
    assert "Trop de tentatives" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) == 15 * 60
    # from another address too: the name itself is locked
    other = admin_app.test_client()
    token = csrf_of(other.get("/admin/login").get_data(as_text=True))
    response = other.post("/admin/login", data={"username": "camille", "password": PASSWORD,
                                                "csrf_token": token},
                          environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert response.status_code == 429
    clock.now += 15 * 60 + 1
    assert login(admin_app.test_client()).status_code == 303


def test_failures_are_counted_per_address_too(admin_app, volunteer, store):
    with store.session() as session, session.begin():
        accounts.create_user(session, "dominique", PASSWORD, passwords=QUICK)
    client = client_from(admin_app, "198.51.100.4")
    for name in ("alix", "bao", "cyril", "dana", "eli"):  # guessing names from one address
        assert login(client, username=name, password="guess guess guess").status_code == 401
    assert login(client, username="dominique").status_code == 429
    # the same volunteer from another address signs in
    other = admin_app.test_client()
    token = csrf_of(other.get("/admin/login").get_data(as_text=True))
    response = other.post("/admin/login", data={"username": "dominique", "password": PASSWORD,
                                                "csrf_token": token},
                          environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 303


def proxied_app(admin_app, trusted_proxy):
    """``admin_app``'s configuration with ``server.trusted_proxy`` set."""
    state = admin_app.extensions["vigie"]
    server = ServerSettings(trusted_proxy=trusted_proxy)
    state.config = dataclasses.replace(
        state.config, file=state.config.file.model_copy(update={"server": server}))
    return admin_app


@pytest.mark.parametrize(("proxy", "address"), [
    (None, "127.0.0.1"),          # nginx on the same machine, X-Forwarded-For not trusted
    (None, "::1"),
    (None, "::ffff:127.0.0.1"),   # an IPv4 peer seen by a dual-stack listener
    ("10.0.0.2", "10.0.0.2"),     # a proxy on another machine, as configured
])
def test_the_proxys_own_address_is_not_counted(admin_app, volunteer, proxy, address):
    """Behind a proxy whose X-Forwarded-For is not used, everybody shares its address:
    five made-up names must not lock the real volunteer out (the names still count)."""
    if proxy:
        proxied_app(admin_app, proxy)
    client = client_from(admin_app, address)
    for name in ("alix", "bao", "cyril", "dana", "eli", "fanny"):
        assert login(client, username=name, password="guess guess guess").status_code == 401
    assert login(client).status_code == 303
    other = client_from(admin_app, address)
    for _ in range(4):  # alix failed once above
        login(other, username="alix", password="guess guess guess")
    assert login(other, username="alix", password="guess guess guess").status_code == 429


def test_another_address_than_the_proxys_is_counted(admin_app, volunteer):
    proxied_app(admin_app, "10.0.0.2")
    client = client_from(admin_app, "10.0.0.3")
    for name in ("alix", "bao", "cyril", "dana", "eli"):
        assert login(client, username=name, password="guess guess guess").status_code == 401
    assert login(client).status_code == 429


def test_logout_ends_the_session(admin):
    assert admin.get("/admin/").status_code == 200
    response = admin.post("/admin/logout")
    assert response.status_code == 303
    assert admin.get("/admin/").status_code == 303


def test_logout_needs_the_csrf_token(admin):
    response = admin.client.post("/admin/logout")
    assert response.status_code == 400
    assert admin.get("/admin/").status_code == 200  # still signed in


def test_changing_the_password_ends_open_sessions(admin, store):
    with store.session() as session, session.begin():
        accounts.set_password(session, "camille", "another long pass phrase", passwords=QUICK)
    assert admin.get("/admin/").status_code == 303


def test_removing_the_user_ends_open_sessions(admin, store):
    with store.session() as session, session.begin():
        accounts.remove_user(session, "camille")
    assert admin.get("/admin/").status_code == 303


def test_the_login_page_says_how_to_create_the_first_account(admin_app):
    page = admin_app.test_client().get("/admin/login").get_data(as_text=True)
    assert "vigie user add" in page


def test_secure_cookies_when_asked(admin_app, volunteer):
    admin_app.config["ADMIN_SECURE_COOKIES"] = True
    client = admin_app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    # the volunteer is told why signing in over plain HTTP cannot work
    assert "HTTPS" in page
    response = login(client)
    assert "Secure" in response.headers["Set-Cookie"]


def test_secure_cookies_by_default_on_a_public_listener(admin_seeded, volunteer):
    import dataclasses

    from dashboard import create_app

    config, store, _ = admin_seeded
    server = config.file.server.model_copy(update={"listen": "0.0.0.0:8080"})
    public = dataclasses.replace(config, file=config.file.model_copy(update={"server": server}))
    app = create_app(public, {"TESTING": True}, store=store)
    client = app.test_client()
    response = client.get("/admin/login", base_url="https://status.example.coop")
    assert "Secure" in response.headers["Set-Cookie"]
    response = client.get("/admin/login")
    assert "Secure" in response.headers["Set-Cookie"]


def test_pages_of_the_admin_area_are_never_cached(admin):
    response = admin.get("/admin/")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_secure_cookies_from_the_configuration(admin_seeded, volunteer):
    import dataclasses

    from dashboard import create_app
    from dashboard.settings import DashboardSettings

    config, store, _ = admin_seeded
    sections = {**config.sections, "dashboard": DashboardSettings(
        secret_key="k", secure_cookies=True)}
    app = create_app(dataclasses.replace(config, sections=sections), {"TESTING": True},
                     store=store)
    assert "Secure" in app.test_client().get("/admin/login").headers["Set-Cookie"]
