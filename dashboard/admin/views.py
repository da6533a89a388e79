"""The admin pages: overview, notices, maintenance windows, deliveries (outbox).

Every page needs a signed-in volunteer and every form a CSRF token (checked before the
view runs, see :mod:`dashboard.admin`). A form refused by the operations comes back with
its values and the message next to the field, status 422, and nothing written.
Incidents have their own module, :mod:`dashboard.admin.incident_views`.
"""

from __future__ import annotations

from flask import abort, current_app, request, url_for
from flask_babel import gettext as _

from dashboard.admin import forms, queries_admin
from dashboard.admin.blueprint import bp
from dashboard.admin.context import reading
from dashboard.admin.pages import error_context, render, run
from dashboard.admin.roles import current_actor, requires
from monitor.access import Permission
from monitor.incidents import queries


def _now() -> float:
    return current_app.config["CLOCK"]()


@bp.route("/")
@requires(Permission.READ)
def index():
    """What needs a volunteer's eye: open incidents, notices, maintenance, failed
    deliveries."""
    now = _now()
    with reading() as session:
        return render("admin/index.html",
                      incidents=queries.open_incidents(session, public_only=False),
                      notices=queries.active_notices(session, now),
                      maintenance=queries.upcoming_maintenance(session, now),
                      backlog=queries.outbox_backlog(session), now=now)


# Notices --------------------------------------------------------------------------------


def _notices_page(status: int = 200, **context):
    with reading() as session:
        notices = queries.all_notices(session)
    return render("admin/notices.html", status=status, notices=notices, now=_now(),
                  form=context.pop("form", {}), **context)


@bp.route("/notices")
@requires(Permission.READ)
def notices():
    """The notices, and the form to post one."""
    return _notices_page()


@bp.route("/notices", methods=["POST"])
@requires(Permission.NOTICES)
def notice_create():
    """Post a notice."""
    def action(session, ops):
        ops.post_notice(session, actor=current_actor(), **forms.notice_args(request.form))

    return run(action, done=_("The notice is published."),
               redirect_to=url_for("admin.notices"),
               on_error=lambda exc: _notices_page(422, form=request.form, **error_context(exc)))


@bp.route("/notices/<int:notice_id>")
@requires(Permission.NOTICES)
def notice_edit(notice_id: int):
    """The form to change a notice."""
    notice = queries_admin.notice(notice_id)
    if notice is None:
        abort(404)
    return render("admin/notice_edit.html", notice=notice, form=queries_admin.notice_form(notice))


@bp.route("/notices/<int:notice_id>", methods=["POST"])
@requires(Permission.NOTICES)
def notice_save(notice_id: int):
    """Save a changed notice."""
    notice = queries_admin.notice(notice_id)
    if notice is None:
        abort(404)

    def action(session, ops):
        ops.edit_notice(session, notice_id, actor=current_actor(),
                        **forms.notice_args(request.form))

    return run(action, done=_("The notice is saved."), redirect_to=url_for("admin.notices"),
               on_error=lambda exc: render("admin/notice_edit.html", status=422, notice=notice,
                                           form=request.form, **error_context(exc)))


@bp.route("/notices/<int:notice_id>/end", methods=["POST"])
@requires(Permission.NOTICES)
def notice_end(notice_id: int):
    """Take a notice off the status page now."""
    return run(lambda session, ops: ops.end_notice(session, notice_id, actor=current_actor()),
               done=_("The notice is no longer shown."), redirect_to=url_for("admin.notices"),
               on_error=lambda exc: _notices_page(422, **error_context(exc)))


# Maintenance ----------------------------------------------------------------------------


def _maintenance_page(status: int = 200, **context):
    now = _now()
    with reading() as session:
        windows = queries.maintenance_windows(session, now)
    return render("admin/maintenance.html", status=status, windows=windows, now=now,
                  form=context.pop("form", {}), **context)


@bp.route("/maintenance")
@requires(Permission.READ)
def maintenance():
    """The maintenance windows, and the form to plan one."""
    return _maintenance_page()


@bp.route("/maintenance", methods=["POST"])
@requires(Permission.MAINTENANCE)
def maintenance_create():
    """Plan a maintenance window."""
    def action(session, ops):
        ops.create_maintenance(session, actor=current_actor(),
                               **forms.maintenance_args(request.form))

    return run(action, done=_("The maintenance is planned."),
               redirect_to=url_for("admin.maintenance"),
               on_error=lambda exc: _maintenance_page(422, form=request.form,
                                                      **error_context(exc)))


@bp.route("/maintenance/<int:window_id>")
@requires(Permission.MAINTENANCE)
def maintenance_edit(window_id: int):
    """The form to change a window created here."""
    window = queries_admin.window(window_id, _now())
    if window is None:
        abort(404)
    return render("admin/maintenance_edit.html", window=window,
                  form=queries_admin.window_form(window))


@bp.route("/maintenance/<int:window_id>", methods=["POST"])
@requires(Permission.MAINTENANCE)
def maintenance_save(window_id: int):
    """Save a changed window."""
    window = queries_admin.window(window_id, _now())
    if window is None:
        abort(404)

    def action(session, ops):
        ops.edit_maintenance(session, window_id, actor=current_actor(),
                             **forms.maintenance_args(request.form, editing=True))

    return run(action, done=_("The maintenance is saved."),
               redirect_to=url_for("admin.maintenance"),
               on_error=lambda exc: render("admin/maintenance_edit.html", status=422,
                                           window=window, form=request.form,
                                           **error_context(exc)))


@bp.route("/maintenance/<int:window_id>/cancel", methods=["POST"])
@requires(Permission.MAINTENANCE)
def maintenance_cancel(window_id: int):
    """Cancel a window (a recurring one stops recurring)."""
    return run(lambda session, ops: ops.cancel_maintenance(session, window_id,
                                                           actor=current_actor()),
               done=_("The maintenance is cancelled."),
               redirect_to=url_for("admin.maintenance"),
               on_error=lambda exc: _maintenance_page(422, **error_context(exc)))


@bp.route("/maintenance/<int:window_id>/end", methods=["POST"])
@requires(Permission.MAINTENANCE)
def maintenance_end(window_id: int):
    """End a running window now (the work finished early)."""
    return run(lambda session, ops: ops.end_maintenance_now(session, window_id,
                                                            actor=current_actor()),
               done=_("The maintenance is over."), redirect_to=url_for("admin.maintenance"),
               on_error=lambda exc: _maintenance_page(422, **error_context(exc)))


# Outbox ---------------------------------------------------------------------------------


def _outbox_page(status: int = 200, **context):
    shown = request.args.get("status", "dead")
    if shown not in ("dead", "pending", "delivered"):
        shown = "dead"
    with reading() as session:
        entries = queries.outbox_entries(session, status=shown, limit=200)
        backlog = queries.outbox_backlog(session)
    return render("admin/outbox.html", status=status, entries=entries, backlog=backlog,
                  shown=shown, now=_now(), **context)


@bp.route("/outbox")
@requires(Permission.READ)
def outbox():
    """Deliveries to the plugins (alerts, forum, helpdesk), the failed ones first."""
    return _outbox_page()


@bp.route("/outbox/<int:outbox_id>/retry", methods=["POST"])
@requires(Permission.DELIVERIES)
def outbox_retry(outbox_id: int):
    """Queue a failed delivery again, now."""
    return run(lambda session, ops: ops.retry_outbox(session, outbox_id, actor=current_actor()),
               done=_("The delivery is queued again."), redirect_to=url_for("admin.outbox"),
               on_error=lambda exc: _outbox_page(422, **error_context(exc)))

