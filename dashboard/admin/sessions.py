"""Server-side sessions of the admin area (table ``admin_sessions``).

The signed session cookie carries a random session id (32 bytes) and nothing about the
user; the table keeps the id's SHA-256, the user, when the session was opened and last
used, and when it ended. A session is live while it has not ended, was used within
:data:`IDLE_TIMEOUT`, and is younger than :data:`ABSOLUTE_TIMEOUT`. Ending it (logout,
"sign out everywhere", a password change — see
:func:`dashboard.admin.accounts.end_sessions`) ends it for every copy of the cookie.

Every function takes an ORM session and leaves committing to the caller.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from monitor.store.accounts import ADDRESS_LENGTH, AdminSession

#: a session nobody used for this long ends
IDLE_TIMEOUT = 2 * 3600.0
#: a session ends this long after the login, however much it is used
ABSOLUTE_TIMEOUT = 12 * 3600.0
#: "last seen" is written at most this often per session (not on every request)
TOUCH_EVERY = 60.0
#: ended or expired sessions are deleted after this long
KEEP = 30 * 86400.0


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def is_live(row: AdminSession, now: float) -> bool:
    """Whether ``row`` has not ended and neither timeout has passed."""
    return (row.ended_at is None and now - row.last_seen_at < IDLE_TIMEOUT
            and now - row.created_at < ABSOLUTE_TIMEOUT)


def open_session(db: Session, user_id: int, now: float, address: str | None) -> str:
    """Open a session for ``user_id``; returns the id to put in the cookie (stored only
    as its digest)."""
    secret = secrets.token_urlsafe(32)
    db.add(AdminSession(token_hash=_digest(secret), user_id=user_id, created_at=now,
                        last_seen_at=now, address=(address or None) and
                        address[:ADDRESS_LENGTH]))
    db.flush()
    return secret


def find(db: Session, secret: str | None, now: float) -> AdminSession | None:
    """The live session whose cookie holds ``secret``, with its user; None otherwise."""
    if not isinstance(secret, str) or not secret or len(secret) > 100:
        return None
    row = db.scalars(select(AdminSession)
                     .where(AdminSession.token_hash == _digest(secret))).first()
    return row if row is not None and is_live(row, now) else None


def needs_touch(row: AdminSession, now: float) -> bool:
    """Whether "last seen" is old enough to be written again."""
    return now - row.last_seen_at >= TOUCH_EVERY


def touch(db: Session, session_id: int, now: float) -> None:
    """Note that the session is used now (keeps it from the idle timeout)."""
    db.execute(update(AdminSession)
               .where(AdminSession.id == session_id, AdminSession.ended_at.is_(None))
               .values(last_seen_at=now))


def end(db: Session, secret: str | None, now: float) -> None:
    """End the session whose cookie holds ``secret`` (nothing when there is none)."""
    if isinstance(secret, str) and secret:
        db.execute(update(AdminSession)
                   .where(AdminSession.token_hash == _digest(secret),
                          AdminSession.ended_at.is_(None))
                   .values(ended_at=now))


def open_sessions(db: Session, user_id: int, now: float) -> list[AdminSession]:
    """The user's live sessions, most recently used first."""
    rows = db.scalars(select(AdminSession)
                      .where(AdminSession.user_id == user_id, AdminSession.ended_at.is_(None))
                      .order_by(AdminSession.last_seen_at.desc()))
    return [row for row in rows if is_live(row, now)]


def purge(db: Session, now: float) -> None:
    """Delete the sessions that ended (or expired) more than :data:`KEEP` ago."""
    db.execute(delete(AdminSession).where(or_(
        AdminSession.ended_at < now - KEEP,
        AdminSession.created_at < now - ABSOLUTE_TIMEOUT - KEEP)))
