"""``vigie audit export``: the audit log as JSON Lines or CSV, for the archive or a
spreadsheet (administrators, or the server operator; see :mod:`monitor.cli_identity`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import click

from monitor.access import Permission
from monitor.audit import read
from monitor.cli_identity import acting


@click.group("audit")
def audit_group() -> None:
    """The audit log: every change made by a volunteer, a token or the command line."""


def _day(value: str | None, tz: ZoneInfo, *, end: bool = False) -> float | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a day such as 2026-04-05, got {value!r}") from None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), tz).timestamp()


@audit_group.command("export")
@click.option("--format", "chosen", type=click.Choice(sorted(read.FORMATS)), default="jsonl",
              show_default=True)
@click.option("--who", help="Only this user (or Unix login).")
@click.option("--what", help="Only this kind (incident, notice, maintenance, delivery, user, "
              "token) or action (incident.open, user.role…).")
@click.option("--target", help="Only this target (an id, or a user name).")
@click.option("--since", help="From this day (site time zone), e.g. 2026-04-01.")
@click.option("--until", help="To this day, included.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Write to this file (default: standard output).")
@acting(Permission.AUDIT)
@click.pass_context
def audit_export(ctx, chosen, who, what, target, since, until, output) -> None:
    """Write the audit log, newest first."""
    from monitor.cli_admin import Admin

    admin = Admin(ctx)
    which = read.AuditFilter(who=who, what=what, target_id=target,
                             since=_day(since, admin.tz), until=_day(until, admin.tz, end=True))
    write = read.FORMATS[chosen][0]
    with admin.read() as session:
        for text in write(read.entries(session, which)):
            output.write(text)
