"""Agent tokens: ``vga_`` and 32 random bytes (URL-safe base64), stored as their hex
SHA-256 only.

A token is found by looking its digest up (:func:`find`): the database compares digests,
never the token, so the time a lookup takes says nothing about how close a guess was.
The token is shown once, when it is made, and never logged.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.agents.models import AgentToken

#: every agent token starts with this (so a leaked one is recognisable in a scan)
PREFIX = "vga_"
#: the shape of a token (``vga_`` + the URL-safe base64 of 32 bytes, 43 characters)
SHAPE = re.compile(r"^vga_[A-Za-z0-9_-]{43}$")


def new_token() -> str:
    """A fresh token."""
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """The hex SHA-256 under which ``token`` is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def find(session: Session, token: str) -> AgentToken | None:
    """The row of ``token`` (revoked or not), or None. A value that cannot be a token is
    not looked up."""
    token = token.strip()
    if not SHAPE.match(token):
        return None
    return session.scalars(select(AgentToken).where(AgentToken.token_hash == digest(token))
                           ).first()


__all__ = ["PREFIX", "SHAPE", "digest", "find", "new_token"]
