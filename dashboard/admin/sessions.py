"""Server-side sessions of the admin area (table ``admin_sessions``).

The signed session cookie carries a random session id (32 bytes) and nothing about the
user; the table keeps the id's SHA-256, the user, when the session was opened and last
used, and when it ended. A session is live while it has not ended, was used within
:data:`IDLE_TIMEOUT`, and is younger than :data:`ABSOLUTE_TIMEOUT`. Ending it (logout,
"sign out everywhere", a password change — see
:func:`dashboard.admin.accounts.end_sessions`) ends it for every copy of the cookie.

Every function takes an ORM session and leaves committing to the caller; the queries are
the core's (:mod:`monitor.accounts.store`), sessions come back as its plain records.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.orm import Session

from monitor.accounts import store
from monitor.accounts.store import SessionRecord as AdminSession

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
    store.add_session(db, token_hash=_digest(secret), user_id=user_id, at=now,
                      address=address)
    return secret


def find(db: Session, secret: str | None, now: float) -> AdminSession | None:
    """The live session whose cookie holds ``secret``, with its user; None otherwise."""
    if not isinstance(secret, str) or not secret or len(secret) > 100:
        return None
    row = store.session_by_digest(db, _digest(secret))
    return row if row is not None and is_live(row, now) else None


def needs_touch(row: AdminSession, now: float) -> bool:
    """Whether "last seen" is old enough to be written again."""
    return now - row.last_seen_at >= TOUCH_EVERY


def touch(db: Session, session_id: int, now: float) -> None:
    """Note that the session is used now (keeps it from the idle timeout)."""
    store.touch_session(db, session_id, now)


def end(db: Session, secret: str | None, now: float) -> None:
    """End the session whose cookie holds ``secret`` (nothing when there is none)."""
    if isinstance(secret, str) and secret:
        store.end_session(db, _digest(secret), now)


def open_sessions(db: Session, user_id: int, now: float) -> list[AdminSession]:
    """The user's live sessions, most recently used first."""
    return [row for row in store.unended_sessions(db, user_id) if is_live(row, now)]


def purge(db: Session, now: float) -> None:
    """Delete the sessions that ended (or expired) more than :data:`KEEP` ago."""
    store.purge_sessions(db, ended_before=now - KEEP,
                         created_before=now - ABSOLUTE_TIMEOUT - KEEP)


def open_counts(db: Session, now: float) -> dict[int, int]:
    """``{user id: live sessions}`` (users without any are absent)."""
    return store.open_session_counts(db, seen_after=now - IDLE_TIMEOUT,
                                     created_after=now - ABSOLUTE_TIMEOUT)
