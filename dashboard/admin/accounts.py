"""Volunteers' accounts: create, check, list, change the password or the role, remove;
end a volunteer's sessions. (API tokens: :mod:`dashboard.admin.tokens`.)

Passwords are hashed and checked by the caller's
:class:`~dashboard.admin.passwords.Passwords` (the application's, or the command's): the
operations that hash take it as ``passwords``. Every function takes a SQLAlchemy session
and leaves committing to the caller; the queries are the core's
(:mod:`monitor.accounts.store`), and users come back as its plain records. Nothing here
logs a password.

The changes are service-layer operations (:func:`monitor.guard.operation`): they take an
``actor`` keyword and are refused unless its role allows managing accounts (ending one's
own sessions is allowed to every role).
"""

from __future__ import annotations

import re
import time

from sqlalchemy.orm import Session

from dashboard.admin.passwords import MAX_PASSWORD_LENGTH, Passwords, Verified
from monitor.access import ROLE_NAMES, Actor, Permission, Role, parse_role
from monitor.guard import operation
from monitor.accounts import store
from monitor.accounts.store import USERNAME_LENGTH
from monitor.accounts.store import UserRecord as User
from monitor.words import Bilingual

#: what a user name may be made of (lower-cased before use)
USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
#: shortest password accepted (a pass phrase is easier to remember than a short password)
MIN_PASSWORD_LENGTH = 12


class AccountError(ValueError):
    """Bad input for an account or a token, with a message in French and English.

    :ivar words: the message (``str(exc)`` is the English).
    """

    def __init__(self, fr: str, en: str) -> None:
        super().__init__(en)
        self.words = Bilingual(fr, en)

    def message(self, lang: str) -> str:
        """The message in ``lang`` (French unless ``en``)."""
        return self.words.say(lang)


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


def get_user(session: Session, username: str) -> User | None:
    """The user with this name (any case), or None."""
    try:
        name = normalize_username(username)
    except AccountError:
        return None
    return store.find_user(session, name)


def role_of(value: str | None) -> Role:
    """The role named ``value``.

    :raises AccountError: not one of ``admin``, ``editor``, ``desk``.
    """
    role = parse_role(value)
    if role is None:
        known = ", ".join(r.value for r in Role)
        raise AccountError(f"Rôle inconnu : « {value} » (possibles : {known}).",
                           f"Unknown role: '{value}' (one of: {known}).")
    return role


def role_name(role: str, lang: str) -> str:
    """The role's name for people (``rédaction``, ``editor``…)."""
    known = parse_role(role)
    if known is None:
        return role
    return ROLE_NAMES[known].say(lang)


@operation(Permission.ACCOUNTS, "user.add")
def create_user(session: Session, username: str, password: str, role: str | None = None,
                now: float | None = None, *, passwords: Passwords) -> User:
    """Add a user with ``role`` (default: ``admin`` for the first account, so that
    someone can manage the others; ``editor`` afterwards), the password hashed by
    ``passwords``.

    :raises AccountError: bad name or role, weak password, or the name is taken.
    """
    name = normalize_username(username)
    chosen = role_of(role) if role is not None else (
        Role.ADMIN if count_users(session) == 0 else Role.EDITOR)
    check_password_strength(password)
    if get_user(session, name) is not None:
        raise AccountError(f"L'utilisateur « {name} » existe déjà.",
                           f"The user '{name}' already exists.")
    at = time.time() if now is None else now
    return store.add_user(session, username=name, password_hash=passwords.hash(password),
                          role=chosen.value, at=at)


def require_user(session: Session, username: str) -> User:
    """The user with this name.

    :raises AccountError: no such user.
    """
    user = get_user(session, username)
    if user is None:
        name = (username or "").strip()
        raise AccountError(f"Aucun utilisateur « {name} ».", f"No user '{name}'.")
    return user


@operation(Permission.ACCOUNTS, "user.password")
def set_password(session: Session, username: str, password: str,
                 now: float | None = None, *, passwords: Passwords) -> User:
    """Change a user's password (hashed by ``passwords``); every session of the user ends.

    :raises AccountError: unknown user or weak password.
    """
    user = require_user(session, username)
    check_password_strength(password)
    at = time.time() if now is None else now
    changed = store.update_user(session, user.id, password_hash=passwords.hash(password),
                                password_changed_at=at)
    end_sessions(session, user.id, at)
    return changed or user


def end_sessions(session: Session, user_id: int, now: float | None = None) -> int:
    """End every open session of a user (every copy of their cookies stops working);
    how many were open. (A helper of the operations below, not an operation.)"""
    return store.end_user_sessions(session, user_id, time.time() if now is None else now)


@operation(Permission.ACCOUNTS, "user.signout")
def sign_out(session: Session, username: str, now: float | None = None) -> int:
    """End every session of ``username`` (a lost laptop); how many were open.

    :raises AccountError: unknown user.
    """
    return end_sessions(session, require_user(session, username).id, now)


@operation(Permission.READ, "session.signout")
def sign_out_everywhere(session: Session, *, actor: Actor, now: float | None = None) -> int:
    """End every session of the acting volunteer (any role may); how many were open."""
    user = get_user(session, actor.name)
    return end_sessions(session, user.id, now) if user is not None else 0


def _administrators(session: Session) -> int:
    return store.count_users(session, role=Role.ADMIN.value)


def _keep_an_administrator(session: Session, user: User) -> None:
    """Refuse to take away the last administrator while other accounts remain (nobody
    could manage them from the admin area any more)."""
    if user.role == Role.ADMIN.value and _administrators(session) <= 1 and (
            count_users(session) > 1):
        raise AccountError(
            f"« {user.username} » est la dernière personne de l'administration : donnez "
            "d'abord ce rôle à quelqu'un d'autre.",
            f"'{user.username}' is the last administrator: give someone else that role "
            "first.")


@operation(Permission.ACCOUNTS, "user.role")
def set_role(session: Session, username: str, role: str) -> User:
    """Change a user's role; their sessions and tokens follow at once (a token narrower
    than the new role keeps its own limits).

    :raises AccountError: unknown user or role, or the last administrator would go.
    """
    user = require_user(session, username)
    new = role_of(role)
    if new != Role.ADMIN:
        _keep_an_administrator(session, user)
    return store.update_user(session, user.id, role=new.value) or user


@operation(Permission.ACCOUNTS, "user.remove")
def remove_user(session: Session, username: str) -> None:
    """Delete a user, their tokens and their sessions.

    :raises AccountError: unknown user, or the last administrator while other accounts
        remain.
    """
    user = require_user(session, username)
    _keep_an_administrator(session, user)
    store.delete_user(session, user.id)


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return store.list_users(session)


def record_login(session: Session, user_id: int, verified: Verified,
                 now: float | None = None) -> User | None:
    """Note a successful login (time, new hash when needed); None when the user was
    removed meanwhile."""
    return store.update_user(session, user_id, password_hash=verified.rehash,
                             last_login_at=time.time() if now is None else now)


def authenticate(session: Session, username: str, password: str,
                 now: float | None = None, *, passwords: Passwords) -> User | None:
    """The user when ``password`` is theirs (checked by ``passwords``), else None (same
    work either way); on success, :func:`record_login`.

    The login page does the same in two transactions, so that no write lock is held
    while hashing; this one is for scripts and tests.
    """
    user = get_user(session, username)
    verified = passwords.verify(user.password_hash if user else None, password)
    if verified is None or user is None:
        return None
    return record_login(session, user.id, verified, now)


def count_users(session: Session) -> int:
    """How many users exist (the login page says so when there are none)."""
    return store.count_users(session)


__all__ = [
    "AccountError", "Passwords", "User", "Verified",
    "authenticate", "check_password_strength", "count_users", "create_user", "end_sessions",
    "get_user", "list_users", "normalize_username", "record_login",
    "remove_user", "require_user", "role_name", "role_of", "set_password", "set_role",
    "sign_out", "sign_out_everywhere",
]
