"""Webhook endpoints in the volunteers' area (administrators): ``/admin/webhooks`` and
``/admin/api/v1/webhooks``.

The list, the form to add one, and each endpoint's page: its filter, its state, its last
deliveries (its outbox rows), and buttons to rotate the secret, enable or disable it, send
a test ping, remove it. The secret is shown once, in the answer to the form that made it
(adding, rotating), never in a redirect, a cookie or a later page. Every change goes
through :class:`monitor.webhooks.service.WebhookOperations` (roles, audit).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from dashboard.admin import bodies
from dashboard.admin.api import ApiError, _body, _json
from dashboard.admin.blueprint import api_bp, bp
from dashboard.admin.context import config, reading, transaction
from dashboard.admin.pages import error_context, render
from dashboard.admin.roles import current_actor, requires
from monitor import words
from monitor.access import Permission
from monitor.incidents.inputs import InvalidInput, NotFound, duration_field
from monitor.webhooks import service
from monitor.webhooks.payload import EVENT_TYPES
from monitor.webhooks.settings import settings_of

#: deliveries shown on an endpoint's page
SHOWN = 20


def webhook_ops() -> service.WebhookOperations:
    """The operations, with the ``webhooks:`` settings."""
    return service.WebhookOperations(settings_of(config()))


def _list(status: int = 200, **context: Any):
    with reading() as session:
        found = service.endpoints(session)
    return render("admin/webhooks.html", status=status, endpoints=found,
                  event_types=EVENT_TYPES, **context)


def _detail(endpoint_id: int, status: int = 200, **context: Any):
    with reading() as session:
        try:
            endpoint = service.endpoint(session, endpoint_id)
        except NotFound:
            abort(404)
        sent = service.deliveries(session, endpoint_id, SHOWN)
    return render("admin/webhook.html", status=status, endpoint=endpoint, deliveries=sent,
                  **context)


@bp.route("/webhooks")
@requires(Permission.WEBHOOKS)
def webhooks():
    """The endpoints and the form to add one."""
    return _list()


@bp.route("/webhooks", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_add():
    """Add an endpoint; the answer shows its secret, once."""
    form = request.form
    try:
        with transaction(publish=False) as session:
            new = webhook_ops().add_endpoint(
                session, name=form.get("name", ""), url=form.get("url", ""),
                events=form.getlist("events"), services=form.getlist("services"),
                description=form.get("description"), actor=current_actor())
    except InvalidInput as exc:
        return _list(422, form=form, **error_context(exc))
    return _detail(new.endpoint.id, 201, secret=new.secret)


@bp.route("/webhooks/<int:endpoint_id>")
@requires(Permission.WEBHOOKS)
def webhook(endpoint_id: int):
    """One endpoint and its last deliveries."""
    return _detail(endpoint_id)


@bp.route("/webhooks/<int:endpoint_id>/rotate", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_rotate(endpoint_id: int):
    """A new secret, shown once."""
    try:
        with transaction(publish=False) as session:
            new = webhook_ops().rotate_secret(session, endpoint_id, actor=current_actor())
    except NotFound:
        abort(404)
    return _detail(endpoint_id, secret=new.secret)


def _change(endpoint_id: int, action, done: str):
    try:
        with transaction(publish=False) as session:
            action(session)
    except NotFound:
        abort(404)
    except InvalidInput as exc:
        return _detail(endpoint_id, 422, **error_context(exc))
    flash(done, "success")
    return redirect(url_for("admin.webhook", endpoint_id=endpoint_id), code=303)


@bp.route("/webhooks/<int:endpoint_id>/enable", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_enable(endpoint_id: int):
    """Deliver to it again."""
    return _change(endpoint_id, lambda s: webhook_ops().enable_endpoint(
        s, endpoint_id, actor=current_actor()), _("The webhook is enabled."))


@bp.route("/webhooks/<int:endpoint_id>/disable", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_disable(endpoint_id: int):
    """Stop delivering to it."""
    return _change(endpoint_id, lambda s: webhook_ops().disable_endpoint(
        s, endpoint_id, reason=request.form.get("reason"), actor=current_actor()),
        _("The webhook is disabled."))


@bp.route("/webhooks/<int:endpoint_id>/remove", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_remove(endpoint_id: int):
    """Delete it and its secret."""
    try:
        with transaction(publish=False) as session:
            webhook_ops().remove_endpoint(session, endpoint_id, actor=current_actor())
    except NotFound:
        abort(404)
    flash(_("The webhook is removed."), "success")
    return redirect(url_for("admin.webhooks"), code=303)


@bp.route("/webhooks/<int:endpoint_id>/test", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_test(endpoint_id: int):
    """Send a signed test ping now and show the answer."""
    with reading() as session:
        try:
            result = service.ping(session, endpoint_id, settings_of(config()))
        except NotFound:
            abort(404)
    return _detail(endpoint_id, ping=result)


# API ------------------------------------------------------------------------------------


def _record(record: service.EndpointRecord) -> dict[str, Any]:
    return dataclasses.asdict(record)


def _created(new: service.NewSecret) -> dict[str, Any]:
    return {"endpoint": _record(new.endpoint), "secret": new.secret}


def _not_found() -> ApiError:
    return ApiError(404, "not_found", words._("Webhook not found."))


@api_bp.route("/webhooks")
@requires(Permission.WEBHOOKS)
def webhook_list():
    """Every endpoint (never a secret)."""
    with reading() as session:
        return _json([_record(e) for e in service.endpoints(session)])


@api_bp.route("/webhooks", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_create():
    """Add an endpoint: ``name``, ``url``, optional ``events``, ``services``,
    ``description``; the answer carries its ``secret``, once."""
    args = _body(bodies.WebhookCreate)
    with transaction(publish=False) as session:
        new = webhook_ops().add_endpoint(session, actor=current_actor(), **args)
    return _json(_created(new), 201)


@api_bp.route("/webhooks/<int:endpoint_id>")
@requires(Permission.WEBHOOKS)
def webhook_detail(endpoint_id: int):
    """One endpoint and its last deliveries."""
    with reading() as session:
        record = service.endpoint(session, endpoint_id)
        sent = service.deliveries(session, endpoint_id, SHOWN)
    return _json({"endpoint": _record(record),
                  "deliveries": [dataclasses.asdict(d) for d in sent]})


@api_bp.route("/webhooks/<int:endpoint_id>/rotate", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_rotate_api(endpoint_id: int):
    """A new secret (in the answer, once); ``overlap``: how long the old one signs too."""
    args = _body(bodies.WebhookRotate) if request.content_length else {}
    overlap = duration_field("overlap", args.get("overlap"))
    with transaction(publish=False) as session:
        new = webhook_ops().rotate_secret(session, endpoint_id, overlap=overlap,
                                          actor=current_actor())
    return _json(_created(new))


@api_bp.route("/webhooks/<int:endpoint_id>/enable", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_enable_api(endpoint_id: int):
    """Deliver to it again."""
    with transaction(publish=False) as session:
        record = webhook_ops().enable_endpoint(session, endpoint_id, actor=current_actor())
    return _json(_record(record))


@api_bp.route("/webhooks/<int:endpoint_id>/disable", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_disable_api(endpoint_id: int):
    """Stop delivering to it; optional ``reason``."""
    args = _body(bodies.WebhookDisable) if request.content_length else {}
    with transaction(publish=False) as session:
        record = webhook_ops().disable_endpoint(session, endpoint_id, actor=current_actor(),
                                                **args)
    return _json(_record(record))


@api_bp.route("/webhooks/<int:endpoint_id>", methods=["DELETE"])
@requires(Permission.WEBHOOKS)
def webhook_delete(endpoint_id: int):
    """Delete it and its secret."""
    with transaction(publish=False) as session:
        webhook_ops().remove_endpoint(session, endpoint_id, actor=current_actor())
    return _json({"removed": endpoint_id})


@api_bp.route("/webhooks/<int:endpoint_id>/test", methods=["POST"])
@requires(Permission.WEBHOOKS)
def webhook_test_api(endpoint_id: int):
    """Send a signed test ping now; what the receiver answered."""
    with reading() as session:
        result = service.ping(session, endpoint_id, settings_of(config()))
    return _json(result)
