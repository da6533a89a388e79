"""``vigie subscriber``: the members' e-mail subscriptions, from the command line (an
operator's tool: it shows addresses, so it needs the ``subscribers`` permission).

- ``vigie subscriber list [--state pending|confirmed]`` — every address, what it follows;
- ``vigie subscriber export EMAIL`` — everything Vigie holds about an address, as JSON on
  standard output (exit 3 when it holds nothing);
- ``vigie subscriber forget EMAIL`` — delete it all (audited without the address; exit 0
  also when there was nothing to delete: the address is not held either way).
"""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from monitor.access import Permission
from monitor.cli_common import CommandError, tell
from monitor.cli_identity import acting
from monitor.ratelimit import email_key
from monitor.subscriptions import records
from monitor.subscriptions.models import Subscriber
from monitor.subscriptions.records import STATES
from monitor.words import _


@click.group("subscriber")
def subscriber_group() -> None:
    """Members' e-mail subscriptions (/abonnement/): list, export, forget."""


@subscriber_group.command("list")
@click.option("--state", type=click.Choice(list(STATES)), help="Only these.")
@acting(Permission.SUBSCRIBERS)
@click.pass_context
def subscriber_list(ctx, state) -> None:
    """List the subscribers' addresses, oldest first."""
    from monitor.cli_admin import Admin, _table

    admin = Admin(ctx)
    everything = tell(_("every service"))
    with admin.read() as s:
        rows = records.by_state(s, state)
        _table([(r.id, r.email, r.state, r.language,
                 everything if r.everything else ",".join([*r.services, *(
                     f"{g}/*" for g in r.groups)]),
                 admin.when(r.created_at), admin.when(r.confirmed_at), r.failures)
                for r in rows],
               ("ID", "ADDRESS", "STATE", "LANG", "FOLLOWS", "SIGNED UP", "CONFIRMED",
                "FAILURES"))


@subscriber_group.command("export")
@click.argument("email")
@acting(Permission.SUBSCRIBERS)
@click.pass_context
def subscriber_export(ctx, email) -> None:
    """Print everything Vigie holds about EMAIL as JSON (to hand to the member)."""
    from monitor.cli_admin import Admin

    admin = Admin(ctx)
    with admin.read() as s:
        data = records.export(s, email_key(email))
    if data is None:
        raise CommandError(_("Vigie holds nothing about {email}.", email=email.strip()))
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))


@subscriber_group.command("forget")
@click.argument("email")
@acting(Permission.SUBSCRIBERS)
@click.pass_context
def subscriber_forget(ctx, email) -> None:
    """Delete EMAIL's subscription, its pending mails and the record of mails sent."""
    from monitor.cli_admin import Admin
    from monitor.subscriptions.service import forget_subscriber

    admin = Admin(ctx)
    shown = email.strip()
    with admin.change() as s:
        found = s.scalar(select(Subscriber.id).where(Subscriber.email_key == email_key(email)))
        if found is not None:
            forget_subscriber(s, found, actor=admin.actor)
    if found is None:
        click.echo(tell(_("Vigie held nothing about {email}: nothing to delete.",
                          email=shown)))
    else:
        click.echo(tell(_("{email} is forgotten: its subscription, its pending mails and the "
                          "record of the mails sent are deleted.", email=shown)))
