"""What volunteers do with maintenance windows: plan, change, cancel, end early.

:class:`MaintenanceOperations` is the part of :class:`monitor.incidents.service.Operations`
that handles the windows created at run time (those of the configuration file are changed
there); the ticker (:mod:`monitor.incidents.maintenance`) starts and ends them. The same
rules hold as for every operation: the caller commits, a bad value raises
:class:`~monitor.incidents.inputs.InvalidInput`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.access import Permission
from monitor.guard import operation
from monitor.incidents.cancellation import emit_cancellation
from monitor.incidents.context import IncidentContext
from monitor.incidents.inputs import (
    MESSAGE_MAX,
    TITLE_MAX,
    InvalidInput,
    NotFound,
    date_field,
    duration_field,
    known_services,
    rule_refused,
    text_field,
)
from monitor.incidents.models import MaintenanceWindow
from monitor.incidents.recurrence import RuleError, build_rule, check_rule, zone
from monitor.store.models import ServiceRow
from monitor.words import _, n_


class MaintenanceOperations:
    """The volunteers' operations on maintenance windows (a base of
    :class:`~monitor.incidents.service.Operations`, which sets ``ctx``)."""

    ctx: IncidentContext

    def _at(self, at: float | None) -> float:
        # Operations': the time given, or the context's now
        raise NotImplementedError

    @operation(Permission.MAINTENANCE, "maintenance.add")
    def create_maintenance(self, session: Session, *, title_fr: str,
                           title_en: str | None = None, message_fr: str | None = None,
                           message_en: str | None = None, services: Iterable[str] = (),
                           group: str | None = None, all_services: bool = False,
                           start: str | float | None = None, end: str | float | None = None,
                           duration: str | float | None = None,
                           weekly: str | list[str] | None = None,
                           monthly: str | int | None = None, daily: bool = False,
                           cron: str | None = None, rrule: str | None = None,
                           at: str | None = None, timezone: str | None = None,
                           announce_before: str | float | None = None,
                           author: str | None = None) -> MaintenanceWindow:
        """Plan a maintenance window. The ticker starts and ends it by itself (within
        ~15 s): the services show "en maintenance" and raise no incident meanwhile.

        One-off: ``start`` and ``end`` (or ``duration``), as ISO text (``2026-04-05
        22:00``, wall-clock time in ``timezone``, default the site's) or Unix times.
        Recurring: one of ``weekly`` (``sunday``), ``monthly`` (``15``, ``first sunday``),
        ``daily``, ``cron`` (``0 2 * * 0``) or ``rrule`` (RFC 5545), with ``at`` (``02:00``,
        not for cron) and ``duration`` (``2h``); ``start`` then is the first possible date.
        Scope: ``services``, or ``group``, or ``all_services=True``.
        ``announce_before`` (``2d``) sends an "announced" event that long ahead.

        :raises InvalidInput: with the offending field.
        """
        now = self.ctx.now()
        window = MaintenanceWindow(created_at=now, updated_at=now, created_by=author,
                                   service_ids=[], all_services=False)
        self._fill_window(session, window, dict(
            title_fr=title_fr, title_en=title_en, message_fr=message_fr, message_en=message_en,
            services=list(services), group=group, all_services=all_services, start=start,
            end=end, duration=duration, weekly=weekly, monthly=monthly, daily=daily, cron=cron,
            rrule=rrule, at=at, timezone=timezone, announce_before=announce_before))
        session.add(window)
        session.flush()
        return window

    @operation(Permission.MAINTENANCE, "maintenance.edit")
    def edit_maintenance(self, session: Session, window_id: int,
                         **changes: Any) -> MaintenanceWindow:
        """Change a window created at run time: give the same keywords as
        :meth:`create_maintenance` for the fields to change (the others are kept; the
        recurrence and the scope are replaced as a whole when one of their keys is given).

        :raises InvalidInput: a bad value, or a window from the configuration file (edit
            the file instead) or a cancelled one.
        :raises NotFound: no such window.
        """
        window = self._window(session, window_id)
        allowed = {"title_fr", "title_en", "message_fr", "message_en", "services", "group",
                   "all_services", "start", "end", "duration", "weekly", "monthly", "daily",
                   "cron", "rrule", "at", "timezone", "announce_before"}
        unknown = set(changes) - allowed
        if unknown:
            raise InvalidInput(None, n_("Unknown field: {fields}.", "Unknown fields: {fields}.",
                                        len(unknown), fields=", ".join(sorted(unknown))))
        current = self._window_fields(window)
        if {"services", "group", "all_services"} & set(changes):
            current.update(services=[], group=None, all_services=False)
        if {"weekly", "monthly", "daily", "cron", "rrule", "at"} & set(changes):
            current.update(weekly=None, monthly=None, daily=False, cron=None, rrule=None,
                           at=None, rule=None)
        current.update(changes)
        self._fill_window(session, window, current)
        window.updated_at = self.ctx.now()
        session.flush()
        return window

    @operation(Permission.MAINTENANCE, "maintenance.cancel")
    def cancel_maintenance(self, session: Session, window_id: int, *,
                           author: str | None = None, at: float | None = None) -> MaintenanceWindow:
        """Cancel a window (a running one ends at the next tick; a recurring one stops
        recurring). The plugins told of an occurrence that will not happen get a
        ``cancelled`` event, written in this transaction
        (:func:`~monitor.incidents.cancellation.emit_cancellation`).

        :raises InvalidInput: a window from the configuration file, or already cancelled.
        :raises NotFound: no such window.
        """
        window = self._window(session, window_id)
        window.cancelled_at = self._at(at)
        window.updated_at = window.cancelled_at
        session.flush()
        emit_cancellation(session, self.ctx, window, at=self.ctx.now())
        return window

    @operation(Permission.MAINTENANCE, "maintenance.end")
    def end_maintenance_now(self, session: Session, window_id: int, *,
                            at: float | None = None) -> MaintenanceWindow:
        """End a running one-off window now (the work finished early); a recurring window
        is cancelled instead.

        :raises InvalidInput: from the configuration file, cancelled, or not started yet.
        :raises NotFound: no such window.
        """
        window = self._window(session, window_id)
        now = self._at(at)
        if window.rule is not None:
            return self.cancel_maintenance(session, window_id, at=now)
        if window.starts_at is not None and window.starts_at > now:
            raise InvalidInput(None, _("This window has not started: cancel it instead."))
        window.ends_at = min(window.ends_at or now, now)
        window.updated_at = now
        session.flush()
        return window

    def _window(self, session: Session, window_id: int) -> MaintenanceWindow:
        window = session.get(MaintenanceWindow, int(window_id))
        if window is None:
            raise NotFound("window_id", _("No maintenance window number {id}.", id=window_id))
        if window.config_id is not None:
            raise InvalidInput(None, _("This window comes from the configuration file: "
                                       "change it there."))
        if window.cancelled_at is not None:
            raise InvalidInput(None, _("This window is cancelled."))
        return window

    @staticmethod
    def _window_fields(window: MaintenanceWindow) -> dict[str, Any]:
        return dict(title_fr=window.title_fr, title_en=window.title_en,
                    message_fr=window.message_fr, message_en=window.message_en,
                    services=list(window.service_ids or []), group=window.group_id,
                    all_services=window.all_services, start=window.starts_at,
                    end=None if window.rule else window.ends_at,
                    duration=window.duration if window.rule else None,
                    rule=window.rule, timezone=window.timezone,
                    announce_before=window.announce_before)

    def _fill_window(self, session: Session, window: MaintenanceWindow, f: dict[str, Any]) -> None:
        window.title_fr = text_field("title_fr", f.get("title_fr"), required=True, limit=TITLE_MAX)
        window.title_en = text_field("title_en", f.get("title_en"), required=False, limit=TITLE_MAX)
        window.message_fr = text_field("message_fr", f.get("message_fr"), required=False,
                                  limit=MESSAGE_MAX) or ""
        window.message_en = text_field("message_en", f.get("message_en"), required=False,
                                  limit=MESSAGE_MAX)
        tz = f.get("timezone") or self.ctx.timezone
        try:
            zone(tz)
        except RuleError:
            raise InvalidInput("timezone", _("Unknown time zone: {zone}.", zone=tz)) from None
        window.timezone = tz
        self._fill_scope(session, window, f)
        start = date_field("start", f.get("start"), tz)
        end = date_field("end", f.get("end"), tz)
        duration = duration_field("duration", f.get("duration"))
        window.announce_before = duration_field("announce_before", f.get("announce_before"))
        rule = f.get("rule")
        forms = {k: f.get(k) for k in ("weekly", "monthly", "cron", "rrule")}
        try:
            if any(v not in (None, "", []) for v in forms.values()) or f.get("daily"):
                rule = build_rule(**forms, daily=bool(f.get("daily")), at=f.get("at"))
            if rule is not None:
                if duration is None:
                    raise InvalidInput("duration",
                                       _("Give the duration of each occurrence (e.g. 2h)."))
                check_rule(rule, duration, start, tz)
        except RuleError as exc:
            raise rule_refused(exc) from None
        if rule is not None:
            window.rule, window.duration = rule, duration
            window.starts_at, window.ends_at = start, None
            return
        if start is None:
            raise InvalidInput("start", _("Give the start of the window."))
        if end is None and duration is not None:
            end = start + duration
        if end is None:
            raise InvalidInput("end", _("Give the end or the duration of the window."))
        if end <= start:
            raise InvalidInput("end", _("The end must be after the start."))
        window.rule, window.duration, window.starts_at, window.ends_at = None, None, start, end

    def _fill_scope(self, session: Session, window: MaintenanceWindow, f: dict[str, Any]) -> None:
        services = [s for s in (f.get("services") or []) if s]
        group = f.get("group") or None
        everything = bool(f.get("all_services"))
        if sum((bool(services), group is not None, everything)) != 1:
            raise InvalidInput("services", _("Choose services, a group, or all services."))
        if services:
            services = known_services(session, services)
        if group is not None and session.scalar(
                select(ServiceRow.id).where(ServiceRow.group_id == group).limit(1)) is None:
            raise InvalidInput("group", _("Unknown group: {group}.", group=group))
        window.service_ids, window.group_id, window.all_services = services, group, everything
