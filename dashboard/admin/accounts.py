"""Volunteers' accounts and API tokens: create, check, list, remove, revoke.

Passwords are hashed with argon2id (argon2-cffi's :class:`PasswordHasher`, its default
parameters, re-hashed on login when they change), each hash and check in one of the
process's few hashing slots (:mod:`dashboard.admin.hashslots`). API tokens are 32 random bytes shown
once (``vigie_…``), stored as their SHA-256. Every function takes a SQLAlchemy session
and leaves committing to the caller. Nothing here logs a password or a token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dashboard.admin import hashslots
from monitor.safetext import clean_line
from monitor.store.accounts import USERNAME_LENGTH, AdminSession, ApiToken, User

#: what a user name may be made of (lower-cased before use)
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
#: shortest password accepted (a pass phrase is easier to remember than a short password)
MIN_PASSWORD_LENGTH = 12
#: longest password accepted (argon2 handles any length; this bounds the work per request)
MAX_PASSWORD_LENGTH = 1024
#: every token starts with this, so a leaked one is easy to recognise (secret scanners)
TOKEN_PREFIX = "vigie_"
#: random bytes in a token
TOKEN_BYTES = 32
#: characters of the token kept in clear to tell tokens apart
SHOWN_PREFIX = 12
TOKEN_NAME_LENGTH = 100

_hasher = PasswordHasher()
_dummy: dict[str, str] = {}


def _dummy_hash() -> str:
    """A hash verified when the user does not exist, so that a wrong name takes as long
    as a wrong password (made on first use, with the current parameters)."""
    params = repr(_hasher)
    if params not in _dummy:
        _dummy[params] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy[params]


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Replace the password hasher (other argon2 parameters); returns the previous one.

    Stored hashes keep working whatever the parameters: each hash names its own, and a
    login re-hashes a password stored with other parameters.
    """
    global _hasher
    previous, _hasher = _hasher, hasher
    return previous


class AccountError(ValueError):
    """Bad input for an account or a token, with a message in French and English."""

    def __init__(self, fr: str, en: str) -> None:
        super().__init__(en)
        self.fr = fr
        self.en = en

    def message(self, lang: str) -> str:
        """The message in ``lang`` (French unless ``en``)."""
        return self.en if lang == "en" else self.fr


def normalize_username(username: str) -> str:
    """The user name as stored (trimmed, lower-case).

    :raises AccountError: empty, too long or with characters other than letters,
        digits, ``.``, ``_`` and ``-``.
    """
    name = (username or "").strip().lower()
    if not name:
        raise AccountError("Le nom d'utilisateur est vide.", "The user name is empty.")
    if len(name) > USERNAME_LENGTH or not USERNAME_PATTERN.fullmatch(name):
        raise AccountError(
            f"Nom d'utilisateur invalide : {USERNAME_LENGTH} caractères au plus, lettres "
            "minuscules, chiffres, « . », « _ » ou « - », commençant par une lettre ou un "
            "chiffre.",
            f"Invalid user name: at most {USERNAME_LENGTH} characters, lower-case letters, "
            "digits, '.', '_' or '-', starting with a letter or a digit.")
    return name


def check_password_strength(password: str) -> None:
    """Refuse passwords that are too short or absurdly long.

    :raises AccountError: with the rule that is not met.
    """
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"Le mot de passe doit faire au moins {MIN_PASSWORD_LENGTH} caractères "
            "(une phrase de passe convient très bien).",
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long "
            "(a pass phrase is fine).")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(
            f"Le mot de passe dépasse {MAX_PASSWORD_LENGTH} caractères.",
            f"The password is longer than {MAX_PASSWORD_LENGTH} characters.")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (PHC string), made in a hashing slot.

    :raises dashboard.admin.hashslots.HashingBusy: every hashing slot is taken.
    """
    with hashslots.SLOTS.slot():
        return _hasher.hash(password)


def get_user(session: Session, username: str) -> User | None:
    """The user with this name (any case), or None."""
    try:
        name = normalize_username(username)
    except AccountError:
        return None
    return session.scalars(select(User).where(User.username == name)).first()


def create_user(session: Session, username: str, password: str,
                now: float | None = None) -> User:
    """Add a user.

    :raises AccountError: bad name, weak password, or the name is taken.
    """
    name = normalize_username(username)
    check_password_strength(password)
    if get_user(session, name) is not None:
        raise AccountError(f"L'utilisateur « {name} » existe déjà.",
                           f"The user '{name}' already exists.")
    at = time.time() if now is None else now
    user = User(username=name, password_hash=hash_password(password), created_at=at,
                password_changed_at=at)
    session.add(user)
    session.flush()
    return user


def _require_user(session: Session, username: str) -> User:
    user = get_user(session, username)
    if user is None:
        name = (username or "").strip()
        raise AccountError(f"Aucun utilisateur « {name} ».", f"No user '{name}'.")
    return user


def set_password(session: Session, username: str, password: str,
                 now: float | None = None) -> User:
    """Change a user's password; every session of the user ends.

    :raises AccountError: unknown user or weak password.
    """
    user = _require_user(session, username)
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.password_changed_at = time.time() if now is None else now
    end_sessions(session, user.id, user.password_changed_at)
    session.flush()
    return user


def end_sessions(session: Session, user_id: int, now: float | None = None) -> int:
    """End every open session of a user (every copy of their cookies stops working);
    how many were open."""
    result = session.execute(
        update(AdminSession)
        .where(AdminSession.user_id == user_id, AdminSession.ended_at.is_(None))
        .values(ended_at=time.time() if now is None else now))
    return result.rowcount or 0


def remove_user(session: Session, username: str) -> None:
    """Delete a user, their tokens and their sessions.

    :raises AccountError: unknown user.
    """
    user = _require_user(session, username)
    session.delete(user)
    session.flush()


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


@dataclass(frozen=True, slots=True)
class Verified:
    """A password that matched; ``rehash`` is its new hash when the stored one was made
    with other argon2 parameters (to store at the login), else None."""

    rehash: str | None = None


def verify_password(stored_hash: str | None, password: str) -> Verified | None:
    """Whether ``password`` matches ``stored_hash`` (None: no such user, a dummy hash is
    checked so that the answer takes as long), holding a hashing slot.

    Call it outside any write transaction: it takes tens of milliseconds.

    :raises dashboard.admin.hashslots.HashingBusy: every hashing slot is taken.
    """
    if password is None or len(password) > MAX_PASSWORD_LENGTH:
        password = ""
    with hashslots.SLOTS.slot():
        try:
            _hasher.verify(stored_hash or _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        if stored_hash is None:  # the dummy hash's password is random: cannot happen
            return None
        if _hasher.check_needs_rehash(stored_hash):
            return Verified(_hasher.hash(password))
    return Verified()


def record_login(session: Session, user_id: int, verified: Verified,
                 now: float | None = None) -> User | None:
    """Note a successful login (time, new hash when needed); None when the user was
    removed meanwhile."""
    user = session.get(User, user_id)
    if user is None:
        return None
    if verified.rehash is not None:
        user.password_hash = verified.rehash
    user.last_login_at = time.time() if now is None else now
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str,
                 now: float | None = None) -> User | None:
    """The user when ``password`` is theirs, else None (same work either way); on
    success, :func:`record_login`.

    The login page does the same in two transactions, so that no write lock is held
    while hashing; this one is for scripts and tests.
    """
    user = get_user(session, username)
    verified = verify_password(user.password_hash if user else None, password)
    if verified is None or user is None:
        return None
    return record_login(session, user.id, verified, now)


# API tokens ---------------------------------------------------------------------------


def token_digest(token: str) -> str:
    """Hex SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: ``secret`` is shown once and never stored."""

    token: ApiToken
    secret: str


def create_token(session: Session, username: str, name: str,
                 now: float | None = None) -> NewToken:
    """Create an API token acting as ``username``.

    :raises AccountError: unknown user, or an empty or too long name.
    """
    user = _require_user(session, username)
    label = clean_line(name, TOKEN_NAME_LENGTH * 4)
    if not label:
        raise AccountError("Donnez un nom au jeton (à quoi il sert : « sauvegarde », "
                           "« script de maintenance »…).",
                           "Give the token a name (what it is for: 'backup', "
                           "'maintenance script'…).")
    if len(label) > TOKEN_NAME_LENGTH:
        raise AccountError(f"Le nom du jeton dépasse {TOKEN_NAME_LENGTH} caractères.",
                           f"The token name is longer than {TOKEN_NAME_LENGTH} characters.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken(user=user, name=label, token_hash=token_digest(secret),
                     prefix=secret[:SHOWN_PREFIX], created_at=time.time() if now is None
                     else now)
    session.add(token)
    session.flush()
    return NewToken(token, secret)


def list_tokens(session: Session, username: str | None = None,
                include_revoked: bool = False) -> list[ApiToken]:
    """Tokens (of ``username`` when given), oldest first."""
    stmt = select(ApiToken).join(User).order_by(ApiToken.id)
    if username is not None:
        stmt = stmt.where(User.username == _require_user(session, username).username)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(stmt))


def revoke_token(session: Session, token_id: int, now: float | None = None) -> ApiToken:
    """Revoke a token by id (revoking twice is harmless).

    :raises AccountError: no such token.
    """
    token = session.get(ApiToken, token_id)
    if token is None:
        raise AccountError(f"Aucun jeton n° {token_id}.", f"No token #{token_id}.")
    if token.revoked_at is None:
        token.revoked_at = time.time() if now is None else now
        session.flush()
    return token


def user_for_token(session: Session, secret: str, now: float | None = None) -> User | None:
    """The user a presented token acts as, or None (unknown, malformed or revoked).

    The lookup is by digest, so the comparison that matters (of secrets) never happens
    byte by byte on the secret; the digests are compared again in constant time anyway.
    """
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    digest = token_digest(secret)
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None:
        return None
    token.last_used_at = time.time() if now is None else now
    session.flush()
    return token.user


def count_users(session: Session) -> int:
    """How many users exist (the login page says so when there are none)."""
    return session.scalar(select(func.count()).select_from(User)) or 0


__all__ = [
    "AccountError", "ApiToken", "NewToken", "User", "Verified",
    "authenticate", "check_password_strength", "count_users", "create_token", "create_user",
    "end_sessions", "get_user", "hash_password", "list_tokens", "list_users",
    "normalize_username", "record_login", "remove_user", "revoke_token", "set_password",
    "token_digest", "user_for_token", "verify_password",
]
