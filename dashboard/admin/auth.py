"""Signing in and out of the admin area, and who is signed in.

- Passwords are checked by the application's own hasher
  (:func:`dashboard.admin.context.passwords`, argon2) in one of the process's few hashing
  slots, outside any database transaction; when every slot is busy the login answers 503
  with ``Retry-After`` at once (:mod:`dashboard.admin.hashslots`).
- Attempts and failures are limited per address, per user name and per known browser
  (:mod:`dashboard.admin.ratelimit`, :mod:`dashboard.admin.devices`): over a budget the
  login answers 429 with ``Retry-After``.
- Sessions live on the server (:mod:`dashboard.admin.sessions`): the signed cookie holds
  a random session id (with the CSRF token and the flashed messages), never who is
  signed in. Logging out ends the session for every copy of the cookie. The cookie is
  ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` as decided by
  :func:`dashboard.admin.network.cookie_secure`.
- Nothing logs a password; a failed login logs the user name (cleaned) and the address.
"""

from __future__ import annotations

import logging
import math
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _

from dashboard.admin import accounts, devices, hashslots, sessions
from dashboard.admin.blueprint import bp
from dashboard.admin.context import admin_state, passwords, reading, transaction
from dashboard.admin.network import cookie_secure
from dashboard.clients import client_of
from dashboard.admin.ratelimit import Attempt
from dashboard.admin.roles import PUBLIC, declared, public, requires
from monitor.access import Permission
from monitor.logthrottle import left_out
from monitor.safetext import clean_line, is_clean_line

log = logging.getLogger(__name__)

#: the key of the session id in the signed cookie
SESSION_KEY = "sid"
#: longest ``next`` followed after signing in
NEXT_LENGTH = 2000


class AdminSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the ``Secure`` flag from :func:`cookie_secure`."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """See :func:`dashboard.admin.network.cookie_secure`."""
        return cookie_secure(app)


@bp.record_once
def _setup(state: Any) -> None:
    app = state.app
    app.session_interface = AdminSessionInterface()
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"


def _now() -> float:
    return current_app.config["CLOCK"]()


# Who is signed in ------------------------------------------------------------------------


def current_user() -> accounts.User | None:
    """The signed-in user of this request (None when nobody is)."""
    if "admin_user" in g:
        return g.admin_user
    g.admin_user = g.admin_session_id = None
    secret = session.get(SESSION_KEY)
    if secret is None:
        return None
    now = _now()
    with reading() as db:
        row = sessions.find(db, secret, now)
        if row is None:
            session.pop(SESSION_KEY, None)
            return None
        user, session_id, touch = row.user, row.id, sessions.needs_touch(row, now)
    if touch:
        with transaction(publish=False) as db:
            sessions.touch(db, session_id, now)
    g.admin_user, g.admin_session_id = user, session_id
    return user


def current_session_id() -> int | None:
    """The id (row) of this request's session, None when nobody is signed in."""
    current_user()
    return g.admin_session_id


def require_login():
    """Redirect to the login page unless someone is signed in (before every admin view)."""
    if request.endpoint is None or declared(request.endpoint) == PUBLIC:
        return None
    if current_user() is None:
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")), code=303)
    return None


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of the admin area, never another site, never
    a control character (a CR/LF cannot go into the ``Location`` header) nor a space."""
    if (not target or len(target) > NEXT_LENGTH or not is_clean_line(target, NEXT_LENGTH)
            or any(char.isspace() for char in target) or "\\" in target
            or not target.startswith("/admin")):
        return url_for("admin.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("admin.index")
    return target


# Views ----------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """The login form; on success, a fresh session and back to where the volunteer was."""
    if request.method == "GET":
        if current_user() is not None:
            return redirect(_safe_next(request.args.get("next")), code=303)
        return _login_page()
    username = clean_line(request.form.get("username"), 200)
    password = request.form.get("password") or ""
    address = request.remote_addr
    attempt = Attempt(client_of(current_app), devices.known_device(current_app, username))
    limiter = admin_state().limiter
    wait = limiter.admit(attempt, username)
    if wait > 0:
        if (skipped := admin_state().login_log.allow(("limit", address))) is not None:
            log.warning("login refused (too many attempts): user %r from %s%s",
                        username[:64], address, left_out(skipped))
        minutes = max(1, math.ceil(wait / 60))
        return _refused(429, wait, username, _(
            "Too many failed attempts. Wait %(minutes)d minutes before trying again.",
            minutes=minutes))
    with reading() as db:
        user = accounts.get_user(db, username)
        uid, stored = (user.id, user.password_hash) if user is not None else (None, None)
    try:
        verified = passwords().verify(stored, password)
    except hashslots.HashingBusy:
        if (skipped := admin_state().login_log.allow(("busy", address))) is not None:
            log.warning("login refused (every hashing slot busy): user %r from %s%s",
                        username[:64], address, left_out(skipped))
        return _refused(503, hashslots.RETRY_AFTER, username, _(
            "Too many sign-ins at the same moment. Try again in a few seconds."))
    now = _now()
    if verified is not None and uid is not None:
        with transaction(publish=False) as db:
            user = accounts.record_login(db, uid, verified, now)
            if user is not None:
                name = user.username
                secret = sessions.open_session(db, uid, now, address)
                sessions.purge(db, now)
    if verified is None or uid is None or user is None:
        limiter.failed(attempt, username)
        skipped = admin_state().login_log.allow(("failed", address, username.lower()))
        if skipped is not None:
            log.warning("failed login: user %r from %s%s", username[:64], address,
                        left_out(skipped))
        return _login_page(error=_("Wrong user name or password."), username=username,
                           status=401)
    limiter.succeeded(attempt, username)
    target = _safe_next(request.form.get("next"))
    session.clear()  # a new session: nothing from before the login carries over
    session[SESSION_KEY] = secret
    log.info("login: user %r from %s", name, address)
    response = redirect(target, code=303)
    devices.remember_device(current_app, response, name)
    return response


def _refused(status: int, wait: float, username: str, message: str):
    response = _login_page(error=message, username=username, status=status)
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def _login_page(error: str | None = None, username: str = "", status: int = 200):
    with reading() as db:
        no_user = accounts.count_users(db) == 0
    insecure = cookie_secure(current_app) and not request.is_secure
    wanted = request.values.get("next")
    body = render_template("admin/login.html", error=error, username=username,
                           next=_safe_next(wanted) if wanted else "", no_user=no_user,
                           insecure=insecure)
    return current_app.response_class(body, status=status)


@bp.route("/logout", methods=["POST"])
@requires(Permission.READ)
def logout():
    """End the session, for every copy of the cookie (a POST with the CSRF token, so
    another site cannot sign you out)."""
    user = current_user()
    with transaction(publish=False) as db:
        sessions.end(db, session.get(SESSION_KEY), _now())
    session.clear()
    if user is not None:
        log.info("logout: user %r", user.username)
    return redirect(url_for("admin.login", out=1), code=303)
