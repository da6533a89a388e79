"""The admin pages of incidents: list, open by hand, and one incident's page with its
whole timeline (private notes too), every link the bridges attached (the private helpdesk
ticket too), and the forms to post an update, change the impact, resolve and write the
post-mortem.
"""

from __future__ import annotations

from flask import abort, current_app, request, url_for
from flask_babel import gettext as _

from dashboard.admin import forms
from dashboard.admin.blueprint import bp
from dashboard.admin.context import reading
from dashboard.admin.pages import error_context, render, run
from dashboard.admin.roles import current_actor, requires
from monitor.access import Permission
from monitor.incidents import queries

#: resolved incidents listed under the open ones
RECENT = 30


@bp.route("/incidents")
@requires(Permission.READ)
def incidents():
    """Open incidents, then the recent ones."""
    with reading() as session:
        open_ = queries.open_incidents(session, public_only=False)
        recent = [i for i in queries.incident_history(session, limit=RECENT, public_only=False)
                  if not i.is_open]
    return render("admin/incidents.html", open_incidents=open_, recent=recent)


def _new_page(status: int = 200, **context):
    return render("admin/incident_new.html", status=status, form=context.pop("form", {}),
                  **context)


@bp.route("/incidents/new")
@requires(Permission.INCIDENTS)
def incident_new():
    """The form to open an incident by hand."""
    return _new_page(form={"services": request.args.getlist("service")})


@bp.route("/incidents", methods=["POST"])
@requires(Permission.INCIDENTS)
def incident_create():
    """Open an incident by hand (the plugins are told, as for an automatic one)."""
    created: list[int] = []

    def action(session, ops):
        created.append(ops.open_incident(session, actor=current_actor(),
                                         **forms.incident_args(request.form)).id)

    response = run(action, done=_("The incident is open."), redirect_to="",
                   on_error=lambda exc: _new_page(422, form=request.form, **error_context(exc)))
    if created:
        response.location = url_for("admin.incident", incident_id=created[0])
    return response


def _incident_page(incident_id: int, status: int = 200, **context):
    with reading() as session:
        detail = queries.incident_detail(session, incident_id, public_only=False)
    if detail is None:
        abort(404)
    return render("admin/incident.html", status=status, incident=detail,
                  now=current_app.config["CLOCK"](), form=context.pop("form", {}),
                  form_name=context.pop("form_name", None), **context)


@bp.route("/incidents/<int:incident_id>")
@requires(Permission.READ)
def incident(incident_id: int):
    """One incident, as volunteers see it."""
    return _incident_page(incident_id)


def _incident_action(incident_id: int, form_name: str, done: str, action):
    return run(action, done=done,
               redirect_to=url_for("admin.incident", incident_id=incident_id),
               on_error=lambda exc: _incident_page(incident_id, 422, form=request.form,
                                                   form_name=form_name, **error_context(exc)))


@bp.route("/incidents/<int:incident_id>/updates", methods=["POST"])
@requires(Permission.INCIDENTS)
def incident_update(incident_id: int):
    """Post an update (moving the incident to a phase; ``resolved`` resolves it)."""
    return _incident_action(
        incident_id, "update", _("The update is posted."),
        lambda session, ops: ops.post_update(session, incident_id, actor=current_actor(),
                                             **forms.update_args(request.form)))


@bp.route("/incidents/<int:incident_id>/impact", methods=["POST"])
@requires(Permission.INCIDENTS)
def incident_impact(incident_id: int):
    """Change the impact by hand."""
    def action(session, ops):
        forms.refuse_active_markup(request.form, ("message_fr", "message_en"))
        ops.change_impact(session, incident_id, request.form.get("impact", ""),
                          message_fr=request.form.get("message_fr") or None,
                          message_en=request.form.get("message_en") or None,
                          actor=current_actor())

    return _incident_action(incident_id, "impact", _("The impact is changed."), action)


@bp.route("/incidents/<int:incident_id>/resolve", methods=["POST"])
@requires(Permission.INCIDENTS)
def incident_resolve(incident_id: int):
    """Resolve the incident now."""
    def action(session, ops):
        forms.refuse_active_markup(request.form, ("message_fr", "message_en"))
        ops.resolve_incident(session, incident_id,
                             message_fr=request.form.get("message_fr") or None,
                             message_en=request.form.get("message_en") or None,
                             actor=current_actor())

    return _incident_action(incident_id, "resolve", _("The incident is resolved."), action)


@bp.route("/incidents/<int:incident_id>/postmortem", methods=["POST"])
@requires(Permission.INCIDENTS)
def incident_postmortem(incident_id: int):
    """Publish (or replace) the post-mortem."""
    return _incident_action(
        incident_id, "postmortem", _("The post-mortem is published."),
        lambda session, ops: ops.set_postmortem(session, incident_id, actor=current_actor(),
                                                **forms.postmortem_args(request.form)))
