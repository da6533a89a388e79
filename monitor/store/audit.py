"""The audit log's table: one row per change a person or a token made (``audit_log``).

Rows are only ever added (``monitor.audit``): no route or command edits or deletes them,
and triggers refuse ``UPDATE`` and ``DELETE`` on both engines (and ``TRUNCATE`` on
PostgreSQL), see migration ``0008_audit_log``. No foreign key: an entry outlives the
user, token, incident or notice it is about.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Double, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import Base, BigId


class AuditEntry(Base):
    """Who changed what, when, from where, and the target before and after (JSON, no
    secret: no password hash, no token)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "at"), Index(None, "actor"), Index(None, "action"),
                      Index(None, "target_type", "target_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[float] = mapped_column(Double)
    #: a user name; the Unix login of the server operator; ``system`` for Vigie itself
    actor: Mapped[str] = mapped_column(String(64))
    #: the role acted with (``admin``, ``editor``, ``desk``, ``admin/desk``, ``operator``…)
    role: Mapped[str] = mapped_column(String(40))
    #: ``web``, ``api``, ``cli`` or ``system``
    via: Mapped[str] = mapped_column(String(8))
    token_id: Mapped[int | None] = mapped_column(BigInteger)
    #: the client's address, or ``login@host`` for the command line
    address: Mapped[str | None] = mapped_column(String(200))
    #: ``incident.open``, ``notice.edit``, ``user.role``…
    action: Mapped[str] = mapped_column(String(40))
    #: ``incident``, ``notice``, ``maintenance``, ``delivery``, ``user``, ``token``
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)


__all__ = ["AuditEntry"]
