"""What the assistance form carries from one step to the next, signed, and which proposed
guides the member opened.

Nothing is kept on the server before a request is sent: each page hands the next one a
signed ``state`` field (:class:`FormState`: the idempotency token, the category, the
suggestions proposed at step 2), so a member can take the steps without JavaScript and
without a session, and nobody can forge the suggestions a request will say were proposed.

A suggestion is opened through ``/assistance/ouvrir/<link>`` (:func:`open_link`): a signed
link that redirects to the guide or thread (only to the addresses signed here: never an
open redirect) and records its index in the ``vigie_assistance_opened`` cookie, bound to the
form's token (:func:`opened`); the request then tells the volunteers which ones the member
read.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from dashboard.assistance.csrf import COOKIE_AGE, PATH, ClockedSigner, secure_cookies
from monitor.assistance.request import Suggestion
from monitor.safetext import clean_line

#: a form's state is accepted this long after its page was made
MAX_AGE = 24 * 3600
OPENED_COOKIE = "vigie_assistance_opened"
#: suggestions carried (the service gives at most 5 per kind)
MAX_SUGGESTIONS = 12


@dataclass(frozen=True, slots=True)
class FormState:
    """The signed part of an assistance form."""

    #: the idempotency token: the same request, however many times it is sent
    token: str
    #: a service id or a category id
    category: str
    #: what step 2 proposed (``opened`` is never signed in: see :func:`opened`)
    suggestions: tuple[Suggestion, ...] = ()

    def with_opened(self, indexes: set[int]) -> FormState:
        """The same state, each suggestion marked opened when its index is in ``indexes``."""
        return replace(self, suggestions=tuple(
            replace(s, opened=i in indexes) for i, s in enumerate(self.suggestions)))


def new_token() -> str:
    """A fresh idempotency token (one per request form)."""
    return secrets.token_urlsafe(18)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="vigie.assistance.form",
                                  signer=ClockedSigner)


def dumps(state: FormState) -> str:
    """The ``state`` field of a form."""
    return _serializer().dumps({
        "t": state.token, "c": state.category,
        "s": [[s.kind, s.title, s.url, s.excerpt, s.plugin] for s in state.suggestions]})


def loads(text: str | None) -> tuple[FormState | None, bool]:
    """``(state, expired)`` from a form's ``state`` field: ``(None, False)`` when it is
    missing or was not signed here, ``(None, True)`` when it is older than :data:`MAX_AGE`."""
    if not text:
        return None, False
    try:
        raw: Any = _serializer().loads(text, max_age=MAX_AGE)
    except BadSignature as exc:  # SignatureExpired is one: tell it apart
        return None, type(exc).__name__ == "SignatureExpired"
    try:
        suggestions = tuple(
            Suggestion(kind=str(k), title=str(t), url=str(u), excerpt=str(e), plugin=str(p))
            for k, t, u, e, p in raw["s"][:MAX_SUGGESTIONS])
        return FormState(str(raw["t"]), str(raw["c"]), suggestions), False
    except (KeyError, TypeError, ValueError):
        return None, False


def suggestions_of(found: list[Suggestion]) -> tuple[Suggestion, ...]:
    """What a form may carry of the suggestions found: web addresses only, one line each."""
    kept = []
    for s in found:
        if not str(s.url).startswith(("https://", "http://", "/")) or str(s.url).startswith("//"):
            continue
        kept.append(Suggestion(kind=clean_line(s.kind, 20), title=clean_line(s.title, 200),
                               url=clean_line(s.url, 1000), excerpt=clean_line(s.excerpt, 300),
                               plugin=clean_line(s.plugin, 60)))
    return tuple(kept[:MAX_SUGGESTIONS])


# Opened suggestions --------------------------------------------------------------------------


def _links() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="vigie.assistance.open")


def open_link(state: FormState, index: int) -> str:
    """The signed part of ``/assistance/ouvrir/<…>`` for suggestion ``index``."""
    return _links().dumps([state.token, index, state.suggestions[index].url])


def follow(link: str) -> tuple[str, int, str] | None:
    """``(token, index, url)`` of a link made by :func:`open_link`, or None."""
    try:
        token, index, url = _links().loads(link)
    except (BadSignature, ValueError, TypeError):
        return None
    return str(token), int(index), str(url)


def _opened_cookie() -> tuple[str, set[int]]:
    try:
        token, indexes = _links().loads(request.cookies.get(OPENED_COOKIE, ""))
        return str(token), {int(i) for i in indexes}
    except (BadSignature, ValueError, TypeError):
        return "", set()


def opened(token: str) -> set[int]:
    """Indexes of the suggestions the member opened from the form ``token``."""
    found, indexes = _opened_cookie()
    return indexes if found and secrets.compare_digest(found, token) else set()


def record_opened(response: Response, token: str, index: int) -> Response:
    """Add ``index`` to the opened suggestions of form ``token`` (the cookie only keeps the
    latest form's)."""
    indexes = opened(token) | {index}
    value = _links().dumps([token, sorted(i for i in indexes if 0 <= i < MAX_SUGGESTIONS)])
    response.set_cookie(OPENED_COOKIE, value, max_age=COOKIE_AGE, path=PATH, httponly=True,
                        samesite="Lax", secure=secure_cookies())
    return response
