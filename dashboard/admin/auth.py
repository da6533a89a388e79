"""Signing in and out of the admin area, and who is signed in.

- Passwords are checked by :func:`dashboard.admin.accounts.authenticate` (argon2).
- Failed logins are counted per client address and per user name
  (:class:`dashboard.admin.ratelimit.LoginLimiter`): after 5 within 15 minutes the login
  answers 429 until the oldest failure is 15 minutes old. The address of the reverse
  proxy is not counted (:func:`client_address`): when the proxy's ``X-Forwarded-For`` is
  not trusted every visitor shares it, and counting it would let anyone lock everybody
  out with five made-up names.
- The session (Flask's signed cookie) holds the user id, the time of the password it was
  opened with and the login time: changing the password or removing the user ends it, and
  it lasts :data:`SESSION_HOURS` at most. The cookie is ``HttpOnly``, ``SameSite=Lax``,
  and ``Secure`` as decided by :func:`cookie_secure`.
- Nothing logs a password; a failed login logs the user name and the address.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
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

from dashboard.admin import accounts
from dashboard.admin.blueprint import bp
from dashboard.admin.context import admin_state, reading, transaction

log = logging.getLogger(__name__)

#: a session ends this long after the login, whatever happens
SESSION_HOURS = 12
#: endpoints reachable without being signed in
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.static"})

_LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    # a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d
    return getattr(address, "ipv4_mapped", None) or address


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in _LOOPBACK_NAMES:
        return True
    address = _ip(host)
    return address is not None and address.is_loopback


def client_address(app: Flask) -> str | None:
    """The address failed logins of this request are counted against, or None when it is
    the reverse proxy's own.

    The proxy's address is a loopback address (nginx on the same machine) or
    ``server.trusted_proxy``. A request still carries it when the proxy's
    ``X-Forwarded-For`` is not trusted (or not sent): every visitor then shares it, so it
    is not counted; the per-name count still applies. With ``server.trusted_proxy`` set,
    waitress puts the visitor's own address there, which is counted.
    """
    address = request.remote_addr
    if not address or _is_loopback(address):
        return None
    state = app.extensions.get("vigie")
    config = getattr(state, "config", None)
    proxy = getattr(getattr(getattr(config, "file", None), "server", None),
                    "trusted_proxy", None)
    if proxy and proxy != "*" and _ip(address) is not None and _ip(address) == _ip(proxy):
        return None
    return address


def cookie_secure(app: Flask) -> bool:
    """Whether the session cookie gets the ``Secure`` flag (sent over HTTPS only).

    In order: the app setting ``ADMIN_SECURE_COOKIES`` (True/False), the configuration's
    ``dashboard.secure_cookies``; when neither is set, Secure unless the listener is a
    loopback address (``127.0.0.1:8080`` behind a reverse proxy, or a laptop) — and
    Secure anyway for a request that came over HTTPS.
    """
    explicit = app.config.get("ADMIN_SECURE_COOKIES")
    if explicit is None:
        state = app.extensions.get("vigie")
        explicit = getattr(getattr(state, "settings", None), "secure_cookies", None)
    if explicit is not None:
        return bool(explicit)
    if request and request.is_secure:
        return True
    state = app.extensions.get("vigie")
    listen_host = None
    if state is not None and getattr(state, "config", None) is not None:
        listen_host = state.config.file.server.host
    return not _is_loopback(listen_host)


class AdminSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the ``Secure`` flag from :func:`cookie_secure`."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """See :func:`cookie_secure`."""
        return cookie_secure(app)


@bp.record_once
def _setup(state: Any) -> None:
    app = state.app
    app.session_interface = AdminSessionInterface()
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"


# Who is signed in ------------------------------------------------------------------------


def current_user() -> accounts.User | None:
    """The signed-in user of this request (None when nobody is)."""
    if "admin_user" in g:
        return g.admin_user
    g.admin_user = None
    uid, stamp, since = (session.get("admin_uid"), session.get("admin_stamp"),
                         session.get("admin_since"))
    if uid is None:
        return None
    if since is None or time.time() - since > SESSION_HOURS * 3600:
        _forget()
        return None
    with reading() as db:
        user = db.get(accounts.User, uid)
        if user is None or stamp != user.password_changed_at:
            _forget()
            return None
        db.expunge(user)
    g.admin_user = user
    return user


def _forget() -> None:
    for key in ("admin_uid", "admin_stamp", "admin_since", "admin_name"):
        session.pop(key, None)


def require_login():
    """Redirect to the login page unless someone is signed in (before every admin view)."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if current_user() is None:
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")), code=303)
    return None


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of the admin area, never another site."""
    if not target:
        return url_for("admin.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/admin") or "\\" in target:
        return url_for("admin.index")
    return target


# Views ----------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; on success, a fresh session and back to where the volunteer was."""
    if request.method == "GET":
        if current_user() is not None:
            return redirect(_safe_next(request.args.get("next")), code=303)
        return _login_page()
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    address = request.remote_addr
    counted = client_address(current_app)
    limiter = admin_state().limiter
    wait = limiter.retry_after(counted, username)
    if wait > 0:
        log.warning("login refused (too many failures): user %r from %s", username[:64], address)
        minutes = max(1, math.ceil(wait / 60))
        response = _login_page(
            error=_("Too many failed attempts. Wait %(minutes)d minutes before trying again.",
                    minutes=minutes), username=username, status=429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    with transaction(publish=False) as db:
        user = accounts.authenticate(db, username, password)
        if user is not None:
            uid, name, stamp = user.id, user.username, user.password_changed_at
    if user is None:
        limiter.failed(counted, username)
        log.warning("failed login: user %r from %s", username[:64], address)
        return _login_page(error=_("Wrong user name or password."), username=username,
                           status=401)
    limiter.succeeded(counted, username)
    target = _safe_next(request.form.get("next"))
    session.clear()  # a new session: nothing from before the login carries over
    session.update(admin_uid=uid, admin_stamp=stamp, admin_since=time.time(), admin_name=name)
    log.info("login: user %r from %s", name, address)
    return redirect(target, code=303)


def _login_page(error: str | None = None, username: str = "", status: int = 200):
    with reading() as db:
        no_user = accounts.count_users(db) == 0
    insecure = cookie_secure(current_app) and not request.is_secure
    body = render_template("admin/login.html", error=error, username=username,
                           next=request.values.get("next", ""), no_user=no_user,
                           insecure=insecure)
    return current_app.response_class(body, status=status)


@bp.route("/logout", methods=["POST"])
def logout():
    """End the session (a POST with the CSRF token, so another site cannot log you out)."""
    name = session.get("admin_name")
    session.clear()
    if name:
        log.info("logout: user %r", name)
    return redirect(url_for("admin.login", out=1), code=303)
