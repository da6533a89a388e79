"""``vigie webhook``: signed webhook endpoints, from the command line (administrators).

- ``vigie webhook add NAME URL`` — register an endpoint; its secret is printed once;
- ``vigie webhook list`` — the endpoints, their state and failures (never a secret);
- ``vigie webhook rotate ID`` — a new secret, printed once (the old one signs too for
  ``webhooks.rotation_overlap``);
- ``vigie webhook enable ID`` / ``disable ID`` / ``remove ID``;
- ``vigie webhook test ID`` — a signed test ping now, and what the receiver answered.

The running ``vigie run`` picks the changes up within ``webhooks.refresh_every``.
"""

from __future__ import annotations

from typing import Any

import click

from monitor.access import Permission
from monitor.cli_common import CommandError, tell
from monitor.cli_identity import acting
from monitor.incidents.inputs import NotFound
from monitor.schema import parse_duration
from monitor.webhooks import service
from monitor.webhooks.payload import EVENT_TYPES
from monitor.webhooks.settings import settings_of
from monitor.words import _


def _ops(admin) -> Any:
    """The operations (typed loosely: each also takes the ``actor`` keyword the service
    layer's decorator adds)."""
    return service.WebhookOperations(settings_of(admin.config))


def _show_secret(new: service.NewSecret) -> None:
    click.echo(tell(_("Signing secret of webhook {id} (shown this once: give it to the "
                      "receiver now):", id=new.endpoint.id)))
    click.echo(new.secret)


@click.group("webhook")
def webhook_group() -> None:
    """Signed webhooks to partners and members' tools (Standard Webhooks)."""


@webhook_group.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--event", "events", multiple=True, type=click.Choice(EVENT_TYPES),
              help="An event type to send (repeat; default: all of them).")
@click.option("--service", "services", multiple=True,
              help="Only events of this service (repeat; default: every service).")
@click.option("--description", default="", help="What it is for, who runs it.")
@acting(Permission.WEBHOOKS)
@click.pass_context
def webhook_add(ctx, name, url, events, services, description) -> None:
    """Register an endpoint NAME receiving events at URL (https://, or http:// to this
    machine); prints its secret once."""
    from monitor.cli_admin import Admin

    admin = Admin(ctx)
    with admin.change() as s:
        new = _ops(admin).add_endpoint(s, name=name, url=url, events=list(events) or None,
                                       services=list(services), description=description,
                                       actor=admin.actor)
    click.echo(tell(_("Webhook {id} added.", id=new.endpoint.id)))
    _show_secret(new)


@webhook_group.command("list")
@acting(Permission.WEBHOOKS)
@click.pass_context
def webhook_list(ctx) -> None:
    """List the endpoints (no secret is ever shown again)."""
    from monitor.cli_admin import Admin, _table

    admin = Admin(ctx)
    with admin.read() as s:
        rows = service.endpoints(s)
    _table([(e.id, "enabled" if e.enabled else "disabled", e.consecutive_failures,
             ",".join(e.events) if len(e.events) < len(EVENT_TYPES) else "all",
             ",".join(e.services) or "all", e.name, e.url) for e in rows],
           ("ID", "STATE", "FAILURES", "EVENTS", "SERVICES", "NAME", "URL"))


def _one(ctx, endpoint_id: int, do) -> Any:
    from monitor.cli_admin import Admin

    admin = Admin(ctx)
    with admin.change() as s:
        return do(_ops(admin), s, admin.actor)


@webhook_group.command("rotate")
@click.argument("endpoint_id", type=int)
@click.option("--overlap", help="How long the old secret signs too (e.g. 2h; default "
                                "webhooks.rotation_overlap).")
@acting(Permission.WEBHOOKS)
@click.pass_context
def webhook_rotate(ctx, endpoint_id, overlap) -> None:
    """Give endpoint ENDPOINT_ID a new secret (printed once)."""
    try:
        seconds = parse_duration(overlap) if overlap else None
    except ValueError:
        raise CommandError(_("{option}: {message}", option="--overlap",
                             message=_("Invalid duration: {value} (e.g. 30m, 2h, 2d).",
                                       value=overlap))) from None
    new = _one(ctx, endpoint_id, lambda ops, s, actor: ops.rotate_secret(
        s, endpoint_id, overlap=seconds, actor=actor))
    _show_secret(new)


@webhook_group.command("enable")
@click.argument("endpoint_id", type=int)
@acting(Permission.WEBHOOKS)
@click.pass_context
def webhook_enable(ctx, endpoint_id) -> None:
    """Deliver to endpoint ENDPOINT_ID again."""
    _one(ctx, endpoint_id, lambda ops, s, actor: ops.enable_endpoint(s, endpoint_id,
                                                                      actor=actor))
    click.echo(tell(_("Webhook {id} enabled.", id=endpoint_id)))


@webhook_group.command("disable")
@click.argument("endpoint_id", type=int)
@click.option("--reason", help="Why (shown in the list).")
@acting(Permission.WEBHOOKS)
@click.pass_context
def webhook_disable(ctx, endpoint_id, reason) -> None:
    """Stop delivering to endpoint ENDPOINT_ID."""
    _one(ctx, endpoint_id, lambda ops, s, actor: ops.disable_endpoint(
        s, endpoint_id, reason=reason, actor=actor))
    click.echo(tell(_("Webhook {id} disabled.", id=endpoint_id)))


@webhook_group.command("remove")
@click.argument("endpoint_id", type=int)
@acting(Permission.WEBHOOKS)
@click.pass_context
def webhook_remove(ctx, endpoint_id) -> None:
    """Delete endpoint ENDPOINT_ID and its secret."""
    _one(ctx, endpoint_id, lambda ops, s, actor: ops.remove_endpoint(s, endpoint_id,
                                                                      actor=actor))
    click.echo(tell(_("Webhook {id} removed.", id=endpoint_id)))


@webhook_group.command("test")
@click.argument("endpoint_id", type=int)
@acting(Permission.WEBHOOKS)
@click.pass_context
def webhook_test(ctx, endpoint_id) -> None:
    """Send a signed test ping to endpoint ENDPOINT_ID now."""
    from monitor.cli_admin import Admin

    admin = Admin(ctx)
    try:
        with admin.read() as s:
            result = service.ping(s, endpoint_id, settings_of(admin.config))
    except NotFound as exc:
        raise CommandError(exc.words) from None
    if not result.ok:
        raise CommandError(_("Test ping failed: {error}", error=result.error or "?"))
    click.echo(tell(_("Test ping answered HTTP {status}.", status=result.status)))
