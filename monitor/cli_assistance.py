"""``vigie assistance``: the members' requests for help, from the command line.

- ``vigie assistance list`` — where each request stands (no name, no address: the ticket
  in the helpdesk has them; ``--email`` finds one member's requests);
- ``vigie assistance purge`` — delete what ``assistance.retention`` no longer allows to
  keep (the running ``vigie run`` does it every hour too): requests, their deliveries and
  their screenshots.
"""

from __future__ import annotations

import click

from monitor.access import Permission
from monitor.assistance import records
from monitor.assistance.models import STATES
from monitor.cli_common import tell
from monitor.cli_identity import acting
from monitor.words import _


@click.group("assistance")
def assistance_group() -> None:
    """Members' requests for help (/assistance/)."""


@assistance_group.command("list")
@click.option("--state", type=click.Choice(list(STATES)), help="Only these.")
@click.option("--email", default=None, help="Only the requests sent with this address.")
@click.option("--limit", type=int, default=50, show_default=True)
@acting(Permission.ASSISTANCE)
@click.pass_context
def assistance_list(ctx, state, email, limit) -> None:
    """List recent requests, newest first."""
    from monitor.cli_admin import Admin, _table

    admin = Admin(ctx)
    with admin.read() as s:
        rows = records.requests(s, state=state, email=email, limit=limit)
        _table([(r.reference, admin.when(r.created_at), r.category, r.state,
                 r.ticket_number or "-", r.screenshots, (r.last_error or "")[:60])
                for r in rows],
               ("REFERENCE", "SENT", "CATEGORY", "STATE", "TICKET", "SCREENSHOTS",
                "LAST ERROR"))


@assistance_group.command("purge")
@acting(Permission.ASSISTANCE)
@click.pass_context
def assistance_purge(ctx) -> None:
    """Delete the requests older than assistance.retention, with their deliveries and
    screenshots, and uploads left behind."""
    from monitor.assistance.service import settings_of
    from monitor.cli_admin import Admin

    admin = Admin(ctx)
    config = admin.config
    try:
        done = records.purge(admin.store, config.data_dir, settings_of(config).retention)
    finally:
        admin.store.dispose()
    click.echo(tell(_("Requests deleted: {requests}; screenshot folders and uploads deleted: "
                      "{files}.", requests=done.requests, files=done.files)))
