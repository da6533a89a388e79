"""Volunteers' commands: ``vigie notice``, ``vigie maintenance``, ``vigie incident`` and
``vigie outbox``.

Thin wrappers over :class:`monitor.incidents.service.Operations` (changes) and
:mod:`monitor.incidents.queries` (lists), against the database of the ``--config`` file.
Each command acts as ``--as USER`` (``$VIGIE_USER``) with that volunteer's role, or as
the server operator (:mod:`monitor.cli_identity`). A bad value is refused with one
message naming the option, in the command line's language, an action the role does not
allow too; both exit with 3 (:mod:`monitor.cli_common`). Events (alerts, tickets) are
written to the outbox; the running ``vigie run`` delivers them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from monitor.access import Forbidden, Permission
from monitor.cli_common import CommandError, tell
from monitor.words import Bilingual, _
from monitor.cli_identity import acting, actor_of, refuse
from monitor.incidents import queries
from monitor.incidents.context import IncidentContext
from monitor.incidents.inputs import InvalidInput
from monitor.incidents.service import Operations
from monitor.webhooks.registry import writer_registry

PHASES = click.Choice(["investigating", "identified", "monitoring", "resolved"])
IMPACTS = click.Choice(list(queries.IMPACTS))


class Admin:
    """The store, operations, time zone and acting person for one command (refused at
    once when their role does not allow the command)."""

    def __init__(self, ctx: click.Context) -> None:
        from monitor.cli import _config_path, load_or_exit
        from monitor.store import SchemaOutOfDate, Store

        pm, _found, config = load_or_exit(_config_path(ctx.find_root()))
        self.config = config
        self.store = Store(config.database_url)
        try:
            self.store.check_schema()
        except SchemaOutOfDate as exc:
            self.store.dispose()
            raise CommandError(None, f"database: {exc}") from None
        try:
            with self.store.session() as session:
                self.actor = actor_of(ctx, session)
        except Forbidden as exc:
            self.store.dispose()
            refuse(exc)
        except CommandError:  # --as names nobody
            self.store.dispose()
            raise
        self.click_ctx = ctx
        self.ctx = IncidentContext.build(config, pm)
        # the webhook endpoints' plugins, so that an event written here has their rows
        # too (`vigie run` delivers them)
        try:
            with self.store.session() as session:
                writer_registry(pm, self.ctx).sync(session)
        finally:
            self.store.dispose()
        self.ops = Operations(self.ctx)
        self.tz = ZoneInfo(config.file.site.timezone)

    def when(self, at: float | None) -> str:
        """A Unix time as ``2026-03-29 02:00`` in the site's time zone (``-`` for None)."""
        if at is None:
            return "-"
        return datetime.fromtimestamp(at, self.tz).strftime("%Y-%m-%d %H:%M")

    @contextmanager
    def change(self) -> Iterator[Any]:
        """A transaction; a user mistake is refused naming the option it came from, and
        so is an action the role does not allow: exit 3, nothing is written."""
        try:
            with self.store.write_session() as session, session.begin():
                yield session
        except InvalidInput as exc:
            where = option_of(exc.field, self.click_ctx)
            raise CommandError(_("{option}: {message}", option=where, message=exc.words)
                               if where else exc.words) from None
        except Forbidden as exc:
            refuse(exc)
        finally:
            self.store.dispose()

    @contextmanager
    def read(self) -> Iterator[Any]:
        """A read-only session."""
        try:
            with self.store.session() as session:
                yield session
        finally:
            self.store.dispose()


#: the service layer's names of fields (:class:`InvalidInput`'s ``field``) that the
#: commands' parameters spell otherwise; any other field is the parameter of that name
_FIELD_PARAMS = {
    "title_fr": ("title",), "text_fr": ("text",), "message_fr": ("message",),
    "starts_at": ("start",), "ends_at": ("end",), "incident_id": ("incident",),
    "at": ("at_time",), "rule": ("weekly", "monthly", "daily", "cron", "rrule"),
}


def option_of(field: str | None, ctx: click.Context) -> str | None:
    """How the user wrote the input ``field`` came from, e.g. ``--start`` or ``TITLE``:
    the command's parameter for it (those given first, when several could be)."""
    names = _FIELD_PARAMS.get(field or "", (field,))
    params = {p.name: p for p in ctx.command.params}
    candidates = [params[n] for n in names if n in params]
    given = [p for p in candidates if ctx.params.get(p.name) not in (None, False, (), "")]
    chosen = given or candidates[:1]
    return ", ".join(_written(p) for p in chosen) or None


def _written(param: click.Parameter) -> str:
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.human_readable_name


def _table(rows: list[tuple], header: tuple) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())


# Notices --------------------------------------------------------------------------------


@click.group("notice")
def notice_group() -> None:
    """Information messages on the status page."""


@notice_group.command("add")
@click.argument("title")
@click.option("--text", default="", help="The message (French).")
@click.option("--title-en", help="English title.")
@click.option("--text-en", help="English message.")
@click.option("--level", type=click.Choice(["info", "warning"]), default="info", show_default=True)
@click.option("--start", help="When it appears (e.g. '2026-04-05 08:00'; default now).")
@click.option("--end", help="When it disappears (default: until 'vigie notice end').")
@acting(Permission.NOTICES)
@click.pass_context
def notice_add(ctx, title, text, title_en, text_en, level, start, end) -> None:
    """Post a notice titled TITLE (French)."""
    admin = Admin(ctx)
    with admin.change() as s:
        notice = admin.ops.post_notice(s, title_fr=title, text_fr=text, title_en=title_en,
                                       text_en=text_en, level=level, starts_at=start,
                                       ends_at=end, actor=admin.actor)
        click.echo(tell(_("Notice {id} posted.", id=notice.id)))


@notice_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include ended and future notices.")
@acting(Permission.READ)
@click.pass_context
def notice_list(ctx, show_all) -> None:
    """List the notices shown now (or all of them)."""
    admin = Admin(ctx)
    with admin.read() as s:
        rows = queries.all_notices(s) if show_all else queries.active_notices(s, time.time())
        # a notice posted without a start was shown from the moment it was posted
        _table([(n.id, n.level, admin.when(n.starts_at or n.created_at),
                 admin.when(n.ends_at), n.title_fr)
                for n in rows], ("ID", "LEVEL", "START", "END", "TITLE"))


@notice_group.command("end")
@click.argument("notice_id", type=int)
@acting(Permission.NOTICES)
@click.pass_context
def notice_end(ctx, notice_id) -> None:
    """Take notice NOTICE_ID off the status page now."""
    admin = Admin(ctx)
    with admin.change() as s:
        admin.ops.end_notice(s, notice_id, actor=admin.actor)
        click.echo(tell(_("Notice {id} ended.", id=notice_id)))


# Maintenance ----------------------------------------------------------------------------


@click.group("maintenance")
def maintenance_group() -> None:
    """Planned maintenance windows."""


@maintenance_group.command("add")
@click.argument("title")
@click.option("--service", "services", multiple=True, help="A service id (repeat for several).")
@click.option("--group", help="Every service of this group.")
@click.option("--all", "all_services", is_flag=True, help="Every service.")
@click.option("--start", help="Start, e.g. '2026-04-05 22:00' (site time zone).")
@click.option("--end", help="End (or give --duration).")
@click.option("--duration", help="Length, e.g. 2h.")
@click.option("--weekly", help="Recurring: day(s), e.g. sunday or 'monday,thursday'.")
@click.option("--monthly", help="Recurring: 15, or 'first sunday', 'last saturday'.")
@click.option("--daily", is_flag=True, help="Recurring: every day.")
@click.option("--cron", help="Recurring: cron rule, e.g. '0 2 * * 0'.")
@click.option("--rrule", help="Recurring: RFC 5545 rule, e.g. 'FREQ=WEEKLY;BYDAY=SU'.")
@click.option("--at", "at_time", help="Time of day of a recurring window, e.g. 02:00.")
@click.option("--message", default="", help="What members are told (French).")
@click.option("--title-en", help="English title.")
@click.option("--message-en", help="English message.")
@click.option("--announce-before", help="Announce it this long ahead, e.g. 2d.")
@acting(Permission.MAINTENANCE)
@click.pass_context
def maintenance_add(ctx, title, services, group, all_services, start, end, duration, weekly,
                    monthly, daily, cron, rrule, at_time, message, title_en, message_en,
                    announce_before) -> None:
    """Plan a maintenance window titled TITLE (French)."""
    admin = Admin(ctx)
    days = [d.strip() for d in weekly.split(",")] if weekly else None
    with admin.change() as s:
        window = admin.ops.create_maintenance(
            s, title_fr=title, title_en=title_en, message_fr=message, message_en=message_en,
            services=services, group=group, all_services=all_services, start=start, end=end,
            duration=duration, weekly=days, monthly=monthly, daily=daily, cron=cron,
            rrule=rrule, at=at_time, announce_before=announce_before, actor=admin.actor)
        click.echo(tell(_("Maintenance window {id} planned.", id=window.id)))


@maintenance_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include cancelled windows.")
@acting(Permission.READ)
@click.pass_context
def maintenance_list(ctx, show_all) -> None:
    """List the maintenance windows with their next occurrence."""
    admin = Admin(ctx)
    with admin.read() as s:
        rows = queries.maintenance_windows(s, time.time(), include_cancelled=show_all)
        _table([(w.id, w.config_id or "-", admin.when(w.next_start), admin.when(w.next_end),
                 "cancelled" if w.cancelled_at else (
                     f"refused {w.rule}" if w.refused else (w.rule or "once")), w.title_fr)
                for w in rows], ("ID", "CONFIG", "NEXT START", "NEXT END", "RULE", "TITLE"))
        for w in rows:
            if w.refused and not w.cancelled_at:
                why = Bilingual(w.refused_fr or w.refused, w.refused)
                click.echo(tell(_("Window {id} is skipped: {why} (cancel it, or give it a "
                                  "good rule).", id=w.id, why=why)), err=True)


@maintenance_group.command("cancel")
@click.argument("window_id", type=int)
@acting(Permission.MAINTENANCE)
@click.pass_context
def maintenance_cancel(ctx, window_id) -> None:
    """Cancel window WINDOW_ID (a running one ends within 15 s)."""
    admin = Admin(ctx)
    with admin.change() as s:
        admin.ops.cancel_maintenance(s, window_id, actor=admin.actor)
        click.echo(tell(_("Maintenance window {id} cancelled.", id=window_id)))


# Incidents ------------------------------------------------------------------------------


@click.group("incident")
def incident_group() -> None:
    """Incidents: open by hand, post updates, resolve, list."""


@incident_group.command("open")
@click.argument("title")
@click.option("--service", "services", multiple=True, required=True,
              help="A service id (repeat for several).")
@click.option("--message", required=True, help="First update (French).")
@click.option("--impact", type=IMPACTS, default="major_outage", show_default=True)
@click.option("--title-en", help="English title.")
@click.option("--message-en", help="English message.")
@acting(Permission.INCIDENTS)
@click.pass_context
def incident_open(ctx, title, services, message, impact, title_en, message_en) -> None:
    """Open an incident titled TITLE (French)."""
    admin = Admin(ctx)
    with admin.change() as s:
        incident = admin.ops.open_incident(s, services=services, title_fr=title,
                                           message_fr=message, title_en=title_en,
                                           message_en=message_en, impact=impact,
                                           actor=admin.actor)
        click.echo(tell(_("Incident {reference} opened.", reference=incident.reference)))


@incident_group.command("update")
@click.argument("incident")
@click.option("--phase", type=PHASES, required=True)
@click.option("--message", required=True, help="The update (French).")
@click.option("--message-en", help="English message.")
@click.option("--impact", type=IMPACTS, help="Change the impact too.")
@click.option("--private", is_flag=True, help="A note for volunteers only (no alert).")
@acting(Permission.INCIDENTS)
@click.pass_context
def incident_update(ctx, incident, phase, message, message_en, impact, private) -> None:
    """Post an update on INCIDENT (id or reference, e.g. INC-2026-0042)."""
    admin = Admin(ctx)
    with admin.change() as s:
        admin.ops.post_update(s, incident, phase=phase, message_fr=message,
                              message_en=message_en, impact=impact, public=not private,
                              actor=admin.actor)
        click.echo(tell(_("Incident {id} updated.", id=incident)))


@incident_group.command("resolve")
@click.argument("incident")
@click.option("--message", help="Closing message (French).")
@click.option("--message-en", help="English message.")
@acting(Permission.INCIDENTS)
@click.pass_context
def incident_resolve(ctx, incident, message, message_en) -> None:
    """Resolve INCIDENT (id or reference)."""
    admin = Admin(ctx)
    with admin.change() as s:
        admin.ops.resolve_incident(s, incident, message_fr=message, message_en=message_en,
                                   actor=admin.actor)
        click.echo(tell(_("Incident {id} resolved.", id=incident)))


@incident_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Resolved ones too (the last 50).")
@acting(Permission.READ)
@click.pass_context
def incident_list(ctx, show_all) -> None:
    """List open incidents (or the recent ones)."""
    admin = Admin(ctx)
    with admin.read() as s:
        rows = (queries.incident_history(s, public_only=False) if show_all
                else queries.open_incidents(s, public_only=False))
        _table([(i.reference, i.impact, i.phase, admin.when(i.opened_at),
                 admin.when(i.resolved_at), ",".join(i.service_ids), i.title_fr)
                for i in rows],
               ("REFERENCE", "IMPACT", "PHASE", "OPENED", "RESOLVED", "SERVICES", "TITLE"))


# Outbox ---------------------------------------------------------------------------------


@click.group("outbox")
def outbox_group() -> None:
    """Deliveries to plugins (alerts, tickets, forum posts)."""


@outbox_group.command("list")
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]),
              help="Only these.")
@click.option("--limit", type=int, default=50, show_default=True)
@acting(Permission.READ)
@click.pass_context
def outbox_list(ctx, status, limit) -> None:
    """List recent deliveries, newest first."""
    admin = Admin(ctx)
    with admin.read() as s:
        rows = queries.outbox_entries(s, status=status, limit=limit)
        _table([(e.id, e.status, e.plugin, e.hook.removeprefix("vigie_"), e.attempts,
                 admin.when(e.created_at), (e.last_error or "")[:60]) for e in rows],
               ("ID", "STATUS", "PLUGIN", "HOOK", "TRIES", "CREATED", "LAST ERROR"))


@outbox_group.command("retry")
@click.argument("outbox_id", type=int)
@acting(Permission.DELIVERIES)
@click.pass_context
def outbox_retry(ctx, outbox_id) -> None:
    """Queue dead delivery OUTBOX_ID again (the running Vigie delivers it)."""
    admin = Admin(ctx)
    with admin.change() as s:
        admin.ops.retry_outbox(s, outbox_id, actor=admin.actor)
        click.echo(tell(_("Delivery number {id} queued again.", id=outbox_id)))


def admin_commands() -> list[click.Command]:
    """The command groups this module adds to ``vigie`` (and ``vigie audit``)."""
    from monitor.cli_agents import agent_token_group
    from monitor.cli_assistance import assistance_group
    from monitor.cli_audit import audit_group
    from monitor.cli_subscriptions import subscriber_group
    from monitor.cli_webhooks import webhook_group

    return [notice_group, maintenance_group, incident_group, outbox_group, audit_group,
            assistance_group, subscriber_group, webhook_group, agent_token_group]


def register(cli: click.Group, add: Callable[[click.Command], None] | None = None) -> None:
    """Add the groups to the ``vigie`` command line."""
    for command in admin_commands():
        (add or cli.add_command)(command)
