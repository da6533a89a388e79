"""Helpers of the admin pages: rendering with the common context, running an operation
in a transaction and turning a refused input into the form again with its message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template
from sqlalchemy.orm import Session

from dashboard.admin.auth import current_user
from dashboard.admin.context import config, operations, reading, transaction
from dashboard.i18n import select_language
from monitor.incidents.inputs import InvalidInput, NotFound
from monitor.reads import status


def lang() -> str:
    """The language of the current request."""
    return select_language()


def zone() -> ZoneInfo:
    """The site's time zone."""
    return ZoneInfo(current_app.config.get("TIMEZONE", "Europe/Paris"))


def local_input(timestamp: float | None) -> str:
    """A Unix time as the value of an ``<input type="datetime-local">`` (site time)."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, zone()).strftime("%Y-%m-%dT%H:%M")


def services(session: Session) -> list[tuple[str, str, str | None]]:
    """``(id, name, group)`` of the active services, in the configuration's order."""
    rows = status.active_services(session)
    english = lang() == "en"
    return [(r.id, (r.name_en if english and r.name_en else r.name_fr), r.group_id)
            for r in rows]


def groups() -> list[tuple[str, str]]:
    """``(id, name)`` of the configured groups."""
    return [(group.id, group.name.text(lang())) for group in config().file.groups]


def render(template: str, status: int = 200, **context: Any):
    """Render an admin template with the signed-in user and the services to choose from."""
    with reading() as session:
        context.setdefault("services", services(session))
    context.setdefault("groups", groups())
    body = render_template(template, user=current_user(), lang=lang(),
                           local_input=local_input, **context)
    return current_app.response_class(body, status=status)


def run(action: Callable[[Session, Any], Any], *, done: str, redirect_to: str,
        on_error: Callable[[InvalidInput], Any]):
    """Run ``action(session, operations)`` in a transaction; on success flash ``done`` and
    redirect (303); on a refused input, nothing is written and ``on_error`` answers."""
    try:
        with transaction() as session:
            action(session, operations())
    except NotFound:
        abort(404)
    except InvalidInput as exc:
        return on_error(exc)
    flash(done, "success")
    return redirect(redirect_to, code=303)


def error_context(exc: InvalidInput) -> dict[str, Any]:
    """Template variables for a refused input: the message and the field it is about."""
    return {"error": exc.message(lang()), "error_field": exc.field}
