"""Tables of the volunteers' accounts: users of the admin area, their API tokens and
their sessions.

The tables live in the core (migrations ``0003_accounts`` and ``0006_admin_sessions``
create them, ``0007_roles`` adds the roles, and the models/migration comparison needs
them on the same ``Base``), and so do the queries (:mod:`monitor.accounts.store`);
hashing, checking and the commands are the dashboard's (``dashboard.admin.accounts``,
``dashboard.admin.sessions``). No secret is stored in clear: passwords as argon2 hashes,
tokens and session ids as their SHA-256.
"""

from __future__ import annotations

from sqlalchemy import Double, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from monitor.store.models import Base, BigId

#: longest user name (letters, digits, ``.``, ``_``, ``-``)
USERNAME_LENGTH = 64
#: longest client address kept (an IPv6 address with a zone fits)
ADDRESS_LENGTH = 64
#: longest role name
ROLE_LENGTH = 16


class User(Base):
    """A volunteer who may sign in to the admin area.

    Changing the password ends every session of the user; removing the user deletes them
    (and the tokens).
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_LENGTH), unique=True)
    #: argon2 (PHC string, ``$argon2id$…``)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[float] = mapped_column(Double)
    password_changed_at: Mapped[float] = mapped_column(Double)
    last_login_at: Mapped[float | None] = mapped_column(Double)
    #: ``admin``, ``editor`` or ``desk`` (:class:`monitor.access.Role`); accounts made
    #: before roles existed became administrators (migration ``0007_roles``)
    role: Mapped[str] = mapped_column(String(ROLE_LENGTH), server_default="admin")

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True)
    sessions: Mapped[list[AdminSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True)


class ApiToken(Base):
    """A bearer token of the JSON admin API; acts as its user, with the user's role or a
    narrower one.

    ``token_hash`` is the hex SHA-256 of the whole token (the token itself is shown once
    at creation); ``prefix`` is its first characters, to tell tokens apart in lists.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (Index(None, "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Double)
    last_used_at: Mapped[float | None] = mapped_column(Double)
    revoked_at: Mapped[float | None] = mapped_column(Double)
    #: a role narrower than the user's, or None: the token acts with its user's role
    role: Mapped[str | None] = mapped_column(String(ROLE_LENGTH))

    user: Mapped[User] = relationship(back_populates="tokens", lazy="joined")

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None


class AdminSession(Base):
    """A signed-in browser: the cookie holds a random id, the table its SHA-256.

    A session is live while ``ended_at`` is empty and neither timeout has passed (see
    ``dashboard.admin.sessions``); ending it (logout, "sign out everywhere", a password
    change) sets ``ended_at``, so every copy of the cookie stops working at once.
    """

    __tablename__ = "admin_sessions"
    __table_args__ = (Index(None, "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[float] = mapped_column(Double)
    last_seen_at: Mapped[float] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double)
    #: the address the login came from (shown to the volunteer with their sessions)
    address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))

    user: Mapped[User] = relationship(back_populates="sessions", lazy="joined")


__all__ = ["ADDRESS_LENGTH", "ROLE_LENGTH", "USERNAME_LENGTH", "AdminSession", "ApiToken", "User"]
