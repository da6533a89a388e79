"""Every query on the account tables (``users``, ``api_tokens``, ``admin_sessions``).

Each function takes an ORM session, leaves committing to the caller and returns plain
frozen records, safe to keep once the session is closed. Names and secrets arrive here
already checked and hashed (the admin area's ``accounts``, ``tokens`` and ``sessions``
modules do that): this module only stores and finds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from monitor.store.accounts import (
    ADDRESS_LENGTH,
    ROLE_LENGTH,
    USERNAME_LENGTH,
    AdminSession,
    ApiToken,
    User,
)


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A volunteer who may sign in (``password_hash`` is an argon2 PHC string)."""

    id: int
    username: str
    role: str
    password_hash: str
    created_at: float
    password_changed_at: float
    last_login_at: float | None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token (its digest and shown prefix, never the secret) with its user."""

    id: int
    user: UserRecord
    name: str
    token_hash: str
    prefix: str
    role: str | None
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @property
    def user_id(self) -> int:
        """The id of the token's user."""
        return self.user.id

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A signed-in browser (the digest of its cookie's id) with its user."""

    id: int
    user: UserRecord
    token_hash: str
    created_at: float
    last_seen_at: float
    ended_at: float | None
    address: str | None

    @property
    def user_id(self) -> int:
        """The id of the session's user."""
        return self.user.id


def _user(row: User) -> UserRecord:
    return UserRecord(row.id, row.username, row.role, row.password_hash, row.created_at,
                      row.password_changed_at, row.last_login_at)


def _token(row: ApiToken) -> TokenRecord:
    return TokenRecord(row.id, _user(row.user), row.name, row.token_hash, row.prefix,
                       row.role, row.created_at, row.last_used_at, row.revoked_at)


def _session(row: AdminSession) -> SessionRecord:
    return SessionRecord(row.id, _user(row.user), row.token_hash, row.created_at,
                         row.last_seen_at, row.ended_at, row.address)


# Users ----------------------------------------------------------------------------------


def find_user(db: Session, username: str) -> UserRecord | None:
    """The user named exactly ``username`` (as stored: normalised), or None."""
    row = db.scalars(select(User).where(User.username == username)).first()
    return _user(row) if row is not None else None


def user_by_id(db: Session, user_id: int) -> UserRecord | None:
    """The user with this id, or None (removed meanwhile)."""
    row = db.get(User, user_id)
    return _user(row) if row is not None else None


def add_user(db: Session, *, username: str, password_hash: str, role: str,
             at: float) -> UserRecord:
    """Store a new user (name and role already checked)."""
    row = User(username=username, password_hash=password_hash, created_at=at,
               password_changed_at=at, role=role)
    db.add(row)
    db.flush()
    return _user(row)


def _set_given(db: Session, row: Any, **fields: Any) -> None:
    """Set the ``fields`` given (not None) on ``row`` and flush: None means unchanged."""
    for name, value in fields.items():
        if value is not None:
            setattr(row, name, value)
    db.flush()


def update_user(db: Session, user_id: int, *, password_hash: str | None = None,
                password_changed_at: float | None = None, role: str | None = None,
                last_login_at: float | None = None) -> UserRecord | None:
    """Change the given fields of a user (None: unchanged); the user after, or None when
    there is no such user."""
    row = db.get(User, user_id)
    if row is None:
        return None
    _set_given(db, row, password_hash=password_hash, password_changed_at=password_changed_at,
               role=role, last_login_at=last_login_at)
    return _user(row)


def delete_user(db: Session, user_id: int) -> None:
    """Delete a user with their tokens and sessions (nothing when there is none)."""
    row = db.get(User, user_id)
    if row is not None:
        db.delete(row)
        db.flush()


def count_users(db: Session, *, role: str | None = None) -> int:
    """How many users exist (with ``role``, when given)."""
    stmt = select(func.count()).select_from(User)
    if role is not None:
        stmt = stmt.where(User.role == role)
    return db.scalar(stmt) or 0


def list_users(db: Session) -> list[UserRecord]:
    """Every user, by name."""
    return [_user(row) for row in db.scalars(select(User).order_by(User.username))]


# Sessions -------------------------------------------------------------------------------


def add_session(db: Session, *, token_hash: str, user_id: int, at: float,
                address: str | None) -> int:
    """Store a new session (its cookie id as a digest); its row id. The address is cut
    to what the table keeps."""
    row = AdminSession(token_hash=token_hash, user_id=user_id, created_at=at,
                       last_seen_at=at, address=(address or None) and address[:ADDRESS_LENGTH])
    db.add(row)
    db.flush()
    return row.id


def session_by_digest(db: Session, token_hash: str) -> SessionRecord | None:
    """The session whose cookie id has this digest, ended or not, or None."""
    row = db.scalars(select(AdminSession).where(AdminSession.token_hash == token_hash)).first()
    return _session(row) if row is not None else None


def touch_session(db: Session, session_id: int, at: float) -> None:
    """Set "last seen" of a session that has not ended."""
    db.execute(update(AdminSession)
               .where(AdminSession.id == session_id, AdminSession.ended_at.is_(None))
               .values(last_seen_at=at))


def end_session(db: Session, token_hash: str, at: float) -> None:
    """End the session whose cookie id has this digest (if it has not ended)."""
    db.execute(update(AdminSession)
               .where(AdminSession.token_hash == token_hash, AdminSession.ended_at.is_(None))
               .values(ended_at=at))


def end_user_sessions(db: Session, user_id: int, at: float) -> int:
    """End every session of a user that has not ended; how many there were."""
    result = db.execute(update(AdminSession)
                        .where(AdminSession.user_id == user_id,
                               AdminSession.ended_at.is_(None))
                        .values(ended_at=at))
    return result.rowcount or 0


def unended_sessions(db: Session, user_id: int) -> list[SessionRecord]:
    """The user's sessions that have not ended (timeouts not applied), most recently
    used first."""
    rows = db.scalars(select(AdminSession)
                      .where(AdminSession.user_id == user_id, AdminSession.ended_at.is_(None))
                      .order_by(AdminSession.last_seen_at.desc()))
    return [_session(row) for row in rows]


def open_session_counts(db: Session, *, seen_after: float,
                        created_after: float) -> dict[int, int]:
    """``{user id: sessions}`` not ended, seen after ``seen_after`` and opened after
    ``created_after`` (users without any are absent)."""
    rows = db.execute(select(AdminSession.user_id, func.count())
                      .where(AdminSession.ended_at.is_(None),
                             AdminSession.last_seen_at > seen_after,
                             AdminSession.created_at > created_after)
                      .group_by(AdminSession.user_id))
    return {user_id: count for user_id, count in rows}


def purge_sessions(db: Session, *, ended_before: float, created_before: float) -> None:
    """Delete the sessions that ended before ``ended_before`` or were opened before
    ``created_before``."""
    db.execute(delete(AdminSession).where(or_(AdminSession.ended_at < ended_before,
                                              AdminSession.created_at < created_before)))


# API tokens -----------------------------------------------------------------------------


def add_token(db: Session, *, user_id: int, name: str, token_hash: str, prefix: str,
              role: str | None, at: float) -> TokenRecord:
    """Store a new token of ``user_id`` (its digest and prefix, never the secret)."""
    row = ApiToken(user_id=user_id, name=name, token_hash=token_hash, prefix=prefix,
                   role=role, created_at=at)
    db.add(row)
    db.flush()
    db.refresh(row)
    return _token(row)


def list_tokens(db: Session, *, username: str | None = None,
                include_revoked: bool = False) -> list[TokenRecord]:
    """Tokens (of the user named exactly ``username`` when given), oldest first."""
    stmt = select(ApiToken).join(User).order_by(ApiToken.id)
    if username is not None:
        stmt = stmt.where(User.username == username)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return [_token(row) for row in db.scalars(stmt)]


def token_by_id(db: Session, token_id: int) -> TokenRecord | None:
    """The token with this id (revoked or not), or None."""
    row = db.get(ApiToken, token_id)
    return _token(row) if row is not None else None


def token_by_digest(db: Session, token_hash: str) -> TokenRecord | None:
    """The token whose secret has this digest (revoked or not), or None."""
    row = db.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()
    return _token(row) if row is not None else None


def set_token_times(db: Session, token_id: int, *, revoked_at: float | None = None,
                    last_used_at: float | None = None) -> TokenRecord | None:
    """Note a token's revocation or use (None: unchanged); the token after, or None."""
    row = db.get(ApiToken, token_id)
    if row is None:
        return None
    _set_given(db, row, revoked_at=revoked_at, last_used_at=last_used_at)
    return _token(row)


__all__ = [
    "ADDRESS_LENGTH", "ROLE_LENGTH", "USERNAME_LENGTH",
    "SessionRecord", "TokenRecord", "UserRecord",
    "add_session", "add_token", "add_user", "count_users", "delete_user", "end_session",
    "end_user_sessions", "find_user", "list_tokens", "list_users", "open_session_counts",
    "purge_sessions", "session_by_digest", "set_token_times", "token_by_digest",
    "token_by_id", "touch_session", "unended_sessions", "update_user", "user_by_id",
]
