"""CSRF protection of the members' assistance forms: :mod:`dashboard.visitor_csrf` on the
``vigie_assistance`` cookie, path ``/assistance``.

A form stays valid :data:`MAX_AGE` (a member may write for a while, or come back later);
the signed form state (:mod:`dashboard.assistance.formstate`) and the proof of work
(:mod:`dashboard.assistance.pow`) use the same clocked signature and cookie settings.
"""

from __future__ import annotations

from dashboard.visitor_csrf import FIELD, ClockedSigner, VisitorCsrf, secure_cookies

__all__ = ["COOKIE", "COOKIE_AGE", "FIELD", "GUARD", "MAX_AGE", "PATH", "ClockedSigner",
           "cookie_value", "problem", "secure_cookies", "send_cookie", "token"]

COOKIE = "vigie_assistance"
#: a form stays valid this long (a member may write for a while, or come back later)
MAX_AGE = 12 * 3600
#: the cookie lasts as long as the forms it signs
COOKIE_AGE = MAX_AGE
PATH = "/assistance"
#: the assistance path's protection
GUARD = VisitorCsrf(cookie=COOKIE, path=PATH, salt="vigie.assistance.csrf", max_age=MAX_AGE)

cookie_value = GUARD.cookie_value
token = GUARD.token
problem = GUARD.problem
send_cookie = GUARD.send_cookie
