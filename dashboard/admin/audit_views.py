"""The audit log in the admin area (administrators): every change a person or a token
made, filtered by who, what, target and dates, newest first, 50 a page; and its export
as CSV or JSON Lines with the same filters. Nothing here changes an entry: the log is
append-only (:mod:`monitor.audit`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Response, current_app, request, stream_with_context
from flask_babel import gettext as _

from dashboard.admin.blueprint import bp
from dashboard.admin.context import reading
from dashboard.admin.pages import render, zone
from dashboard.admin.roles import requires
from monitor.access import Permission
from monitor.audit import read
from monitor.safetext import clean_line


class BadFilter(ValueError):
    """A filter the page cannot use (a malformed date)."""


def _day(field: str, *, end: bool = False) -> float | None:
    """The start of the day given as ``YYYY-MM-DD`` in ``field`` (of the next day with
    ``end``), in the site's time zone."""
    text = (request.args.get(field) or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadFilter(_("Invalid date: %(value)s (e.g. 2026-04-05).",
                          value=clean_line(text, 40))) from None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), zone()).timestamp()


def _filter() -> read.AuditFilter:
    return read.AuditFilter(
        who=clean_line(request.args.get("who"), 64) or None,
        what=clean_line(request.args.get("what"), 40) or None,
        target_id=clean_line(request.args.get("target"), 64) or None,
        since=_day("from"), until=_day("to", end=True))


def _filters_form() -> dict[str, str]:
    return {k: clean_line(request.args.get(k), 64) for k in ("who", "what", "target", "from",
                                                              "to")}


@bp.route("/audit")
@requires(Permission.AUDIT)
def audit():
    """The audit log, newest first."""
    form = _filters_form()
    try:
        which = _filter()
    except BadFilter as exc:
        return render("admin/audit.html", status=422, entries=[], older=None, form=form,
                      error=str(exc), error_field="from")
    before = request.args.get("before", type=int)
    with reading() as session:
        found = read.page(session, which, before)
    return render("admin/audit.html", entries=found.entries, older=found.older, form=form,
                  kinds=["incident", "maintenance", "notice", "delivery", "user", "token"])


@bp.route("/audit/export")
@requires(Permission.AUDIT)
def audit_export():
    """Download the entries matching the filters (``format=csv`` or ``jsonl``)."""
    chosen = request.args.get("format", "jsonl")
    if chosen not in read.FORMATS:
        return render("admin/error.html", status=422, code=422,
                      message=_("Unknown export format (csv or jsonl)."))
    try:
        which = _filter()
    except BadFilter as exc:
        return render("admin/error.html", status=422, code=422, message=str(exc))
    write, media_type, extension = read.FORMATS[chosen]
    store = current_app.extensions["vigie"].store

    def rows():
        with store.session() as session:
            yield from write(read.entries(session, which))

    stamp = datetime.now(zone()).strftime("%Y%m%d-%H%M")
    response = Response(stream_with_context(rows()), mimetype=media_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="vigie-audit-{stamp}.{extension}"')
    return response
