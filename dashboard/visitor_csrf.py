"""CSRF protection of the members' forms, for visitors who have no session.

A double submit, signed: the first page of a path (``/assistance``, ``/abonnement``…) a
browser opens sets a random value in that path's cookie (``HttpOnly``, ``SameSite=Lax``,
restricted to the path); every form carries that value signed with the site's secret key
and a time stamp (:meth:`VisitorCsrf.token`). A ``POST`` is accepted when the field's
signature is good, not older than ``max_age``, and its value is the cookie's
(:meth:`VisitorCsrf.problem`). Another site can make a browser post a form, but a
``SameSite=Lax`` cookie does not go with it, and it cannot read the value to sign it; a
browser's ``Origin`` naming another site is refused as well (:func:`foreign_origin`).

Each path has its own :class:`VisitorCsrf` (its cookie, path and salt), so that a value
signed for one path is worth nothing on another. The admin area has its own protection
(:mod:`dashboard.admin.csrf`, on the volunteers' session); members never get a session.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from dashboard.i18n import gettext

#: the form field carrying the signed value
FIELD = "csrf"
#: a form stays valid this long unless its path says otherwise (a member may write for a
#: while, or come back later)
MAX_AGE = 12 * 3600
_VALUE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


class ClockedSigner(TimestampSigner):
    """A time-stamped signature on the dashboard's clock (``CLOCK``: the tests move it)."""

    def get_timestamp(self) -> int:
        return int(current_app.config["CLOCK"]())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def foreign_origin() -> bool:
    """Whether the request's ``Origin`` header names another site than this one (its
    host, or ``site.public_url``); no header, or ``null``, is not foreign."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return False
    wanted = {_origin(request.host_url)}
    public = current_app.config.get("PUBLIC_URL")
    if public:
        wanted.add(_origin(public))
    return _origin(origin) not in wanted


def secure_cookies() -> bool:
    """Whether the members' cookies get the ``Secure`` flag: as
    ``dashboard.secure_cookies`` says, else when the request came over HTTPS."""
    state = current_app.extensions.get("vigie")
    explicit = getattr(getattr(state, "settings", None), "secure_cookies", None)
    return bool(explicit) if explicit is not None else request.is_secure


@dataclass(frozen=True)
class VisitorCsrf:
    """The CSRF protection of one path's forms (see the module).

    :param cookie: the cookie's name (``vigie_assistance``).
    :param path: the path it is sent to (``/assistance``).
    :param salt: the signature's salt, distinct per path.
    :param max_age: how long a signed form stays valid (seconds); the cookie lasts as long.
    """

    cookie: str
    path: str
    salt: str
    max_age: int = MAX_AGE

    @property
    def _slot(self) -> str:
        return f"visitor_csrf_{self.cookie}"

    def _signer(self) -> TimestampSigner:
        return ClockedSigner(current_app.secret_key, salt=self.salt)

    def _sent_cookie(self) -> str | None:
        value = request.cookies.get(self.cookie, "")
        return value if _VALUE.match(value) else None

    def cookie_value(self) -> str:
        """The browser's value (a new one when it has none), sent again with the response
        so that the cookie lasts as long as the form being made."""
        value = g.get(self._slot) or self._sent_cookie() or secrets.token_urlsafe(32)
        setattr(g, self._slot, value)
        return value

    def token(self) -> str:
        """The field every form of the path carries (:data:`FIELD`)."""
        return self._signer().sign(self.cookie_value()).decode()

    def problem(self, sent: str | None) -> str | None:
        """Why a ``POST`` whose form carried ``sent`` must be refused, or None.

        ``other_site`` (an ``Origin`` header names another site), ``no_cookie`` (the
        browser sent no cookie: refused by the browser, or the page came from elsewhere),
        ``expired`` (the page is older than ``max_age``) or ``invalid``.
        """
        if foreign_origin():
            return "other_site"
        cookie = self._sent_cookie()
        if cookie is None:
            return "no_cookie"
        try:
            value = self._signer().unsign(sent or "", max_age=self.max_age).decode()
        except SignatureExpired:
            return "expired"
        except BadSignature:
            return "invalid"
        return None if secrets.compare_digest(value, cookie) else "invalid"

    def send_cookie(self, response: Response) -> Response:
        """Set the cookie on ``response`` when this request signed a form with it."""
        value = g.get(self._slot)
        if value is not None:
            response.set_cookie(self.cookie, value, max_age=self.max_age, path=self.path,
                                httponly=True, samesite="Lax", secure=secure_cookies())
        return response


def status_of(problem: str) -> int:
    """The HTTP status of a form refused for ``problem``: 403 when it came from another
    site, 400 otherwise."""
    return 403 if problem == "other_site" else 400


def message(problem: str) -> str:
    """What to tell the member whose form failed the check (see
    :meth:`VisitorCsrf.problem`), in the page's language."""
    if problem == "no_cookie":
        return gettext("Your browser did not send back this site's cookie, which protects "
                       "this form. Allow cookies for this site (they only serve this form), "
                       "then send the form again.")
    if problem == "expired":
        return gettext("This page was opened too long ago. Check what you wrote and send it "
                       "again.")
    return gettext("This form did not come from this site, or it was changed on the way. "
                   "Check what you wrote and send it again.")
