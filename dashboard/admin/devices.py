"""Device cookies: a browser that signed in before is known, so that the login limits
that strangers share cannot lock its volunteer out (see :mod:`dashboard.admin.ratelimit`).

After each successful login the browser gets ``vigie_device``, signed with the
dashboard's secret key: the user name and a random id, valid :data:`MAX_AGE`. An
attempt for that same user name carrying a valid cookie is counted against the device;
any other attempt (no cookie, a forged or expired one, another name) is a stranger's.
The cookie proves nothing by itself: the password is still checked, and the device has
its own failure limit. It holds no secret of the account (a stolen one only spares its
thief the shared address budget, for that one name, until five failures lock it).
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from dashboard.admin.network import cookie_secure

COOKIE = "vigie_device"
#: a browser stays known this long after its last login
MAX_AGE = 180 * 86400
_SALT = "vigie-admin-device"


def _serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.secret_key, salt=_SALT)


def known_device(app: Flask, username: str) -> str | None:
    """The id of the request's device cookie when it is valid and for ``username``."""
    value = request.cookies.get(COOKIE)
    if not value or len(value) > 512:
        return None
    try:
        data = _serializer(app).loads(value, max_age=MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != (username or "").strip().lower():
        return None
    device = data.get("d")
    return device if isinstance(device, str) else None


def remember_device(app: Flask, response: Response, username: str) -> None:
    """Give the browser a new device cookie for ``username`` (after a good password)."""
    value = _serializer(app).dumps({"u": username, "d": secrets.token_urlsafe(12)})
    response.set_cookie(COOKIE, value, max_age=MAX_AGE, path="/admin", httponly=True,
                        samesite="Lax", secure=cookie_secure(app))
