"""Notices: information messages on the status page (info or warning), optionally shown
only between a start and an end.

Volunteers post, edit and end them through :class:`monitor.incidents.service.Operations`;
the page reads :func:`active_notices`.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.incidents.models import Notice


def active_notices(session: Session, at: float) -> list[Notice]:
    """Notices shown at ``at`` (started, not ended), warnings first, newest first."""
    rows = session.scalars(select(Notice).where(
        or_(Notice.starts_at.is_(None), Notice.starts_at <= at),
        or_(Notice.ends_at.is_(None), Notice.ends_at > at)))
    return sorted(rows, key=lambda n: (n.level != "warning", -(n.starts_at or n.created_at)))


def all_notices(session: Session, *, limit: int = 200) -> list[Notice]:
    """Every notice, newest first (the admin list, ended ones included)."""
    return list(session.scalars(select(Notice).order_by(Notice.created_at.desc(), Notice.id.desc())
                                .limit(limit)))


def is_shown(notice: Notice, at: float) -> bool:
    """True when ``notice`` is on the page at ``at``."""
    return ((notice.starts_at is None or notice.starts_at <= at)
            and (notice.ends_at is None or notice.ends_at > at))
