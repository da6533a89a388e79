"""Reads the admin forms need beyond :mod:`monitor.incidents.queries`: one notice or one
window by id, and their current values as form fields."""

from __future__ import annotations

from typing import Any

from dashboard.admin.context import reading
from dashboard.admin.pages import local_input
from monitor.incidents import queries


def notice(notice_id: int) -> queries.NoticeView | None:
    """The notice with this id, or None."""
    with reading() as session:
        return queries.notice(session, notice_id)


def notice_form(row: queries.NoticeView) -> dict[str, Any]:
    """The edit form's values for a notice."""
    return {"title_fr": row.title_fr, "title_en": row.title_en or "",
            "text_fr": row.text_fr or "", "text_en": row.text_en or "", "level": row.level,
            "starts_at": local_input(row.starts_at), "ends_at": local_input(row.ends_at)}


def window(window_id: int, now: float) -> queries.WindowView | None:
    """The window with this id (cancelled ones too) with its next occurrence, or None."""
    with reading() as session:
        found = [w for w in queries.maintenance_windows(session, now, include_cancelled=True)
                 if w.id == window_id]
    return found[0] if found else None


def window_form(w: queries.WindowView) -> dict[str, Any]:
    """The edit form's values for a window (a recurring one keeps its rule by default)."""
    scope = "all" if w.all_services else "group" if w.group_id else "services"
    form: dict[str, Any] = {
        "title_fr": w.title_fr, "title_en": w.title_en or "", "message_fr": w.message_fr,
        "message_en": w.message_en or "", "scope": scope, "group": w.group_id or "",
        "services": list(w.service_ids), "start": local_input(w.starts_at),
        "announce_before": _duration_text(w.announce_before),
    }
    if w.rule:
        form.update(recurrence="keep", duration=_duration_text(w.duration))
    else:
        form.update(recurrence="none", end=local_input(w.ends_at), duration="")
    return form


def _duration_text(seconds: float | None) -> str:
    """``2h``, ``90m``, ``2d``… as the duration fields accept."""
    if not seconds:
        return ""
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
