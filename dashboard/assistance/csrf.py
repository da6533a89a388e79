"""CSRF protection of the members' assistance forms, for visitors who have no session.

A double submit, signed: the first assistance page a browser opens sets a random value in
the ``vigie_assistance`` cookie (``HttpOnly``, ``SameSite=Lax``, path ``/assistance``);
every form carries that value signed with the site's secret key and a time stamp
(:func:`token`). A ``POST`` is accepted when the field's signature is good, not older than
:data:`MAX_AGE`, and its value is the cookie's (:func:`problem`). Another site can make a
browser post a form, but a ``SameSite=Lax`` cookie does not go with it, and it cannot read
the value to sign it; a browser's ``Origin`` naming another site is refused as well.

The admin area has its own protection (:mod:`dashboard.admin.csrf`, on the volunteers'
session); members never get a session.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

COOKIE = "vigie_assistance"
FIELD = "csrf"
#: a form stays valid this long (a member may write for a while, or come back later)
MAX_AGE = 12 * 3600
#: the cookie lasts as long as the forms it signs
COOKIE_AGE = MAX_AGE
PATH = "/assistance"
_VALUE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


class ClockedSigner(TimestampSigner):
    """A time-stamped signature on the dashboard's clock (``CLOCK``: the tests move it)."""

    def get_timestamp(self) -> int:
        return int(current_app.config["CLOCK"]())


def _signer() -> TimestampSigner:
    return ClockedSigner(current_app.secret_key, salt="vigie.assistance.csrf")


def _cookie() -> str | None:
    value = request.cookies.get(COOKIE, "")
    return value if _VALUE.match(value) else None


def cookie_value() -> str:
    """The browser's value (a new one when it has none), sent again with the response so
    that the cookie lasts as long as the form being made."""
    value = g.get("assistance_cookie") or _cookie() or secrets.token_urlsafe(32)
    g.assistance_cookie = value
    return value


def token() -> str:
    """The field every form of the assistance pages carries (``{{ csrf_token() }}``)."""
    return _signer().sign(cookie_value()).decode()


def _same_site(origin: str) -> bool:
    wanted = {_origin(request.host_url)}
    public = current_app.config.get("PUBLIC_URL")
    if public:
        wanted.add(_origin(public))
    return _origin(origin) in wanted


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def problem(sent: str | None) -> str | None:
    """Why a ``POST`` whose form carried ``sent`` must be refused, or None.

    ``other_site`` (an ``Origin`` header names another site), ``no_cookie`` (the browser
    sent no cookie: refused by the browser, or the page came from elsewhere), ``expired``
    (the page is older than :data:`MAX_AGE`) or ``invalid``.
    """
    origin = request.headers.get("Origin")
    if origin and origin != "null" and not _same_site(origin):
        return "other_site"
    cookie = _cookie()
    if cookie is None:
        return "no_cookie"
    try:
        value = _signer().unsign(sent or "", max_age=MAX_AGE).decode()
    except SignatureExpired:
        return "expired"
    except BadSignature:
        return "invalid"
    return None if secrets.compare_digest(value, cookie) else "invalid"


def secure_cookies() -> bool:
    """Whether the assistance cookies get the ``Secure`` flag: as
    ``dashboard.secure_cookies`` says, else when the request came over HTTPS."""
    state = current_app.extensions.get("vigie")
    explicit = getattr(getattr(state, "settings", None), "secure_cookies", None)
    return bool(explicit) if explicit is not None else request.is_secure


def send_cookie(response: Response) -> Response:
    """Set the cookie on ``response`` when this request signed a form with it."""
    value = g.get("assistance_cookie")
    if value is not None:
        response.set_cookie(COOKIE, value, max_age=COOKIE_AGE, path=PATH, httponly=True,
                            samesite="Lax", secure=secure_cookies())
    return response
