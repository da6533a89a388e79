"""CSRF protection of every form of the admin area (Flask-WTF's signed tokens).

The token is random, kept in the signed session cookie and signed again in the form
(:func:`flask_wtf.csrf.generate_csrf`); every ``POST`` of the admin area (the login form
too) must send it back in the ``csrf_token`` field or the ``X-CSRFToken`` header, or it
is refused with 400 before the view runs. Only the admin blueprint is checked: the JSON
API authenticates with bearer tokens, which a browser never sends by itself.
"""

from __future__ import annotations

from flask import request
from flask_wtf.csrf import ValidationError, generate_csrf, validate_csrf
from werkzeug.exceptions import BadRequest

#: seconds a form stays valid (a long post-mortem takes a while to write)
TIME_LIMIT = 8 * 3600
FIELD = "csrf_token"
HEADER = "X-CSRFToken"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CSRFFailed(BadRequest):
    """The form came without a valid CSRF token (an old page, or another site)."""


def token() -> str:
    """The CSRF token to put in a form (``{{ csrf_token() }}`` in templates)."""
    return generate_csrf(token_key=FIELD)


def protect() -> None:
    """Refuse (400) an unsafe request whose CSRF token is missing, expired or wrong."""
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.form.get(FIELD) or request.headers.get(HEADER)
    try:
        validate_csrf(sent, time_limit=TIME_LIMIT, token_key=FIELD)
    except ValidationError as exc:
        raise CSRFFailed(str(exc)) from None
