"""API tokens of the JSON admin API: create, list, revoke, and find the one presented.

A token is ``vigie_`` and 32 random bytes, shown once and stored as its SHA-256 (with its
first characters, to tell tokens apart). It acts as its user, with the user's role or a
narrower one of its own (:func:`monitor.access.is_narrower`): its permissions are those
both roles have, so lowering the user's role lowers the token's too. Creating and
revoking are account operations (administrators only, see :mod:`monitor.access`).
The queries are the core's (:mod:`monitor.accounts.store`); tokens come back as its plain
records. Nothing here logs a token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from dashboard.admin.accounts import AccountError, require_user, role_of
from monitor.access import Actor, Permission, is_narrower
from monitor.guard import operation
from monitor.safetext import clean_line
from monitor.accounts import store
from monitor.accounts.store import TokenRecord as ApiToken

#: every token starts with this, so a leaked one is easy to recognise (secret scanners)
TOKEN_PREFIX = "vigie_"
#: random bytes in a token
TOKEN_BYTES = 32
#: characters of the token kept in clear to tell tokens apart
SHOWN_PREFIX = 12
TOKEN_NAME_LENGTH = 100


def token_digest(token: str) -> str:
    """Hex SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: ``secret`` is shown once and never stored."""

    token: ApiToken
    secret: str


@operation(Permission.ACCOUNTS, "token.add")
def create_token(session: Session, username: str, name: str, role: str | None = None,
                 now: float | None = None) -> NewToken:
    """Create an API token acting as ``username``, with their role or ``role`` when given
    (which must be narrower than or equal to theirs).

    :raises AccountError: unknown user or role, a role wider than the user's, or an
        empty or too long name.
    """
    user = require_user(session, username)
    label = clean_line(name, TOKEN_NAME_LENGTH * 4)
    if not label:
        raise AccountError("Donnez un nom au jeton (à quoi il sert : « sauvegarde », "
                           "« script de maintenance »…).",
                           "Give the token a name (what it is for: 'backup', "
                           "'maintenance script'…).")
    if len(label) > TOKEN_NAME_LENGTH:
        raise AccountError(f"Le nom du jeton dépasse {TOKEN_NAME_LENGTH} caractères.",
                           f"The token name is longer than {TOKEN_NAME_LENGTH} characters.")
    narrowed = None
    if role is not None:
        narrowed = role_of(role)
        if not is_narrower(narrowed, role_of(user.role)):
            raise AccountError(
                f"Un jeton ne peut pas avoir plus de droits que son utilisateur "
                f"(« {user.username} » a le rôle {user.role}).",
                f"A token cannot have more rights than its user ('{user.username}' has "
                f"the role {user.role}).")
        narrowed = None if narrowed.value == user.role else narrowed.value
    secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    token = store.add_token(session, user_id=user.id, name=label,
                            token_hash=token_digest(secret), prefix=secret[:SHOWN_PREFIX],
                            role=narrowed, at=time.time() if now is None else now)
    return NewToken(token, secret)


def list_tokens(session: Session, username: str | None = None,
                include_revoked: bool = False) -> list[ApiToken]:
    """Tokens (of ``username`` when given), oldest first."""
    name = require_user(session, username).username if username is not None else None
    return store.list_tokens(session, username=name, include_revoked=include_revoked)


@operation(Permission.ACCOUNTS, "token.revoke")
def revoke_token(session: Session, token_id: int, now: float | None = None) -> ApiToken:
    """Revoke a token by id (revoking twice is harmless).

    :raises AccountError: no such token.
    """
    token = store.token_by_id(session, token_id)
    if token is None:
        raise AccountError(f"Aucun jeton n° {token_id}.", f"No token #{token_id}.")
    if token.revoked_at is None:
        token = store.set_token_times(session, token_id,
                                      revoked_at=time.time() if now is None else now) or token
    return token


def use_token(session: Session, secret: str, now: float | None = None) -> ApiToken | None:
    """The active token presented as ``secret`` (its ``user`` loaded), noting its use;
    None when unknown, malformed or revoked.

    The lookup is by digest, so the comparison that matters (of secrets) never happens
    byte by byte on the secret; the digests are compared again in constant time anyway.
    """
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    digest = token_digest(secret)
    token = store.token_by_digest(session, digest)
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None:
        return None
    return store.set_token_times(session, token.id,
                                 last_used_at=time.time() if now is None else now)


def token_actor(token: ApiToken, address: str | None) -> Actor:
    """Who acts with ``token``: its user, with the permissions both roles allow."""
    return Actor.user(token.user.username, token.user.role, "api", token_role=token.role,
                      token_id=token.id, address=address)


__all__ = ["NewToken", "create_token", "list_tokens", "revoke_token", "token_actor",
           "token_digest", "use_token"]
