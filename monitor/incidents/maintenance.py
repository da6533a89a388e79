"""Maintenance windows: from the configuration file into the database, their occurrences,
which services they cover, and the ticker that starts and ends them.

Windows written in the configuration are copied to ``maintenance_windows`` at start (keyed
by their ``id``; a window removed from the file is cancelled), so the dashboard reads one
table whichever way a window was made. The :class:`MaintenanceTicker` (every ~15 s in
``vigie run``) computes which services are in maintenance now, tells the state book (the
service transitions that result go through the same path as check-driven ones) and writes
the ``announced``/``started``/``ended`` events once per occurrence (and ``cancelled``,
:mod:`monitor.incidents.cancellation`).

A stored rule Vigie does not evaluate (more frequent than once an hour, occurrences
running into each other, not a rule at all: written before rules were bounded, or by
another program) never stops anything: that window is skipped, logged once, counted
(``vigie_maintenance_windows_refused``) and shown as refused in ``/admin/``, where a
volunteer can cancel it or give it a good rule; every other window works.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.config import Config, MaintenanceConfig
from monitor.incidents.context import IncidentContext
from monitor.incidents.emit import emit_maintenance, maintenance_key
from monitor.incidents.models import MaintenanceWindow, OutboxEntry
from monitor.incidents.recurrence import (
    Occurrence,
    RuleError,
    build_rule,
    check_rule,
    next_occurrence,
    occurrences,
    parse_datetime,
)
from monitor.markup import stored
from monitor.store.models import ServiceRow

log = logging.getLogger(__name__)

#: how far back the ticker looks for occurrences that ended (to send "ended" after a restart)
ENDED_LOOKBACK = 86400.0


@dataclass(frozen=True, slots=True)
class PlannedMaintenance:
    """One occurrence of a window, with the services it covers (what the page shows)."""

    window_id: int
    title_fr: str
    title_en: str
    message_fr: str
    message_en: str
    start: float
    end: float
    service_ids: tuple[str, ...]
    recurring: bool
    from_config: bool
    announce_at: float | None = None
    #: the messages' safe HTML (as stored)
    message_fr_html: str = ""
    message_en_html: str = ""

    def active(self, at: float) -> bool:
        """Running at ``at``."""
        return self.start <= at < self.end


def window_from_config(item: MaintenanceConfig, site_tz: str) -> dict:
    """Column values of the row for a window of the configuration file."""
    tz = item.timezone or site_tz
    start = parse_datetime(item.start, tz) if item.start else None
    values = dict(
        title_fr=item.title.fr, title_en=item.title.en,
        message_fr=item.message.fr if item.message else "",
        message_en=item.message.en if item.message else None,
        all_services=item.all_services, group_id=item.group, service_ids=list(item.services),
        timezone=tz, announce_before=item.announce_before, starts_at=start, cancelled_at=None)
    if item.recurring:
        values.update(rule=build_rule(weekly=item.weekly, monthly=item.monthly,
                                      daily=item.daily, cron=item.cron, rrule=item.rrule,
                                      at=item.at),
                      duration=item.duration, ends_at=None)
    else:
        end = parse_datetime(item.end, tz) if item.end else start + item.duration
        values.update(rule=None, duration=None, ends_at=end)
    return values


def sync_config_windows(session: Session, config: Config, now: float) -> tuple[int, int]:
    """Upsert the configuration's windows; cancel those no longer in the file. Return
    ``(upserted, cancelled)``."""
    rows = {w.config_id: w for w in session.scalars(
        select(MaintenanceWindow).where(MaintenanceWindow.config_id.is_not(None)))}
    wanted = set()
    for item in config.file.maintenance:
        wanted.add(item.id)
        values = window_from_config(item, config.file.site.timezone)
        row = rows.get(item.id)
        if row is None:
            row = MaintenanceWindow(config_id=item.id, created_at=now, updated_at=now)
            session.add(row)
        # only what changed: a message set again would be rendered again
        changed = {k: v for k, v in values.items() if getattr(row, k, None) != v}
        for key, value in changed.items():
            setattr(row, key, value)
        if changed:
            row.updated_at = now
    cancelled = 0
    for config_id, row in rows.items():
        if config_id not in wanted and row.cancelled_at is None:
            row.cancelled_at = row.updated_at = now
            cancelled += 1
    session.flush()
    return len(wanted), cancelled


def covered_services(window: MaintenanceWindow, catalog: dict[str, str | None]) -> tuple[str, ...]:
    """Ids of the services a window covers, from ``catalog`` (service id → group id)."""
    if window.all_services:
        return tuple(catalog)
    if window.group_id is not None:
        return tuple(s for s, g in catalog.items() if g == window.group_id)
    return tuple(s for s in (window.service_ids or []) if s in catalog)


def refusal(window: MaintenanceWindow) -> RuleError | None:
    """Why the window's stored rule is not evaluated (None: a good rule, or a one-off
    window); logged the first time it is seen."""
    if window.rule is None:
        return None
    try:
        check_rule(window.rule, window.duration or 0.0, window.starts_at, window.timezone)
    except RuleError as exc:
        mark = (window.id, window.rule, window.duration, window.timezone)
        if mark not in _reported:
            _reported.add(mark)
            log.warning("maintenance window %s (%s, %s) refused, skipped: %s", window.id,
                        window.rule, window.title_fr, exc)
        return exc
    return None


#: refused windows already logged (id, rule, duration, time zone)
_reported: set[tuple] = set()


def window_occurrences(window: MaintenanceWindow, since: float, until: float) -> list[Occurrence]:
    """The window's occurrences overlapping ``[since, until)``; a cancelled window's stop
    at its cancellation; none for a refused rule (:func:`refusal`)."""
    if window.rule is not None:
        if refusal(window) is not None:
            return []
        found = occurrences(window.rule, window.duration or 0.0, window.timezone, since,
                            until, anchor=window.starts_at)
    elif window.starts_at is not None and window.ends_at is not None and (
            window.starts_at < until and window.ends_at > since):
        found = [Occurrence(window.starts_at, window.ends_at)]
    else:
        found = []
    return _cut(window, found)


def next_window_occurrence(window: MaintenanceWindow, at: float) -> Occurrence | None:
    """The window's occurrence running at ``at`` or the next one (looked for up to
    :data:`~monitor.incidents.recurrence.SAMPLE_SPAN` ahead); None when there is none,
    or the rule is refused."""
    if window.rule is None:
        found = window_occurrences(window, at, float("inf"))
    elif refusal(window) is not None:
        return None
    else:
        first = next_occurrence(window.rule, window.duration or 0.0, window.timezone, at,
                                anchor=window.starts_at)
        found = _cut(window, [first] if first else [])
    return found[0] if found else None


def _cut(window: MaintenanceWindow, found: list[Occurrence]) -> list[Occurrence]:
    if window.cancelled_at is not None:
        cut = window.cancelled_at
        found = [Occurrence(o.start, min(o.end, cut)) for o in found if o.start < cut]
    return found


def catalog(session: Session) -> dict[str, str | None]:
    """Active services and their group, in configuration order."""
    return dict(session.execute(select(ServiceRow.id, ServiceRow.group_id)
                                .where(ServiceRow.active.is_(True))
                                .order_by(ServiceRow.position)).all())


def planned(session: Session, since: float, until: float,
            services: dict[str, str | None] | None = None,
            windows: Sequence[MaintenanceWindow] | None = None) -> list[PlannedMaintenance]:
    """Every occurrence overlapping ``[since, until)``, by start time (of ``windows``,
    default all of them)."""
    services = catalog(session) if services is None else services
    if windows is None:
        windows = session.scalars(select(MaintenanceWindow)).all()
    out = []
    for window in windows:
        covered = covered_services(window, services)
        if not covered:
            continue
        for occ in window_occurrences(window, since, until):
            out.append(PlannedMaintenance(
                window.id, window.title_fr, window.title_en or window.title_fr,
                window.message_fr or "", window.message_en or window.message_fr or "",
                occ.start, occ.end, covered, window.rule is not None,
                window.config_id is not None,
                occ.start - window.announce_before if window.announce_before else None,
                stored(window.message_fr_html, window.message_fr),
                stored(window.message_en_html, window.message_en)
                or stored(window.message_fr_html, window.message_fr)))
    out.sort(key=lambda p: (p.start, p.window_id))
    return out


def services_in_maintenance(session: Session, at: float) -> dict[str, PlannedMaintenance]:
    """Service id → the window occurrence keeping it in maintenance at ``at``."""
    out: dict[str, PlannedMaintenance] = {}
    for occ in planned(session, at, at + 1e-3):
        if occ.active(at):
            for sid in occ.service_ids:
                out.setdefault(sid, occ)
    return out


@dataclass
class TickResult:
    """What one tick found."""

    #: services in maintenance now
    active: set[str] = field(default_factory=set)
    #: outbox rows written
    events: int = 0
    #: windows not cancelled whose stored rule is refused (skipped)
    refused: int = 0


class MaintenanceTicker:
    """Works out maintenance state and events; call :meth:`tick` in a worker thread.

    Events are written once per occurrence and kind (the outbox's unique idempotency key
    makes a repeat after a restart a no-op); "ended" only for a plugin that got "started";
    "cancelled" for the windows cancelled lately, as the cancelling transaction writes
    them (:mod:`monitor.incidents.cancellation`).
    """

    def __init__(self, sessions, ctx: IncidentContext) -> None:
        self.sessions = sessions
        self.ctx = ctx
        self._done: set[tuple[int, int, str]] = set()

    def tick(self, now: float | None = None) -> TickResult:
        """One pass: returns the services in maintenance at ``now`` and writes due events."""
        now = self.ctx.now() if now is None else now
        result = TickResult()
        # forget marks of occurrences too old to be looked at again
        self._done = {m for m in self._done if m[1] >= now - 2 * ENDED_LOOKBACK}
        with self.sessions() as session, session.begin():
            services = catalog(session)
            # locked (PostgreSQL) until this pass commits: a window cancelled meanwhile
            # is seen cancelled here, or its cancellation sees what this pass announced
            windows = session.scalars(select(MaintenanceWindow).with_for_update()).all()
            result.refused = sum(1 for w in windows
                                 if w.cancelled_at is None and refusal(w) is not None)
            horizon = max([w.announce_before or 0.0 for w in windows]
                          + list(self.ctx.reminders_before.values()), default=0.0)
            # announcements first: a reminder due at once is not sent after one
            result.events += self._planned(session, windows, services, now)
            result.events += self._cancelled(session, windows, services, now)
            for occ in planned(session, now - ENDED_LOOKBACK, now + horizon + 1.0, services,
                               windows):
                if occ.active(now):
                    result.active.update(occ.service_ids)
                result.events += self._events(session, occ, now)
                result.events += self._reminders(session, occ, now)
        return result

    def _subscribed(self, plugins: Iterable[str]) -> tuple[str, ...]:
        hooked = self.ctx.subscribers.get("vigie_maintenance_changed", ())
        return tuple(p for p in plugins if p in hooked)

    def _emit(self, session: Session, occ: PlannedMaintenance, kind: str,
              plugins: Sequence[str], now: float) -> int:
        sub = dataclasses.replace(self.ctx,
                                  subscribers={"vigie_maintenance_changed": tuple(plugins)})
        window = session.get(MaintenanceWindow, occ.window_id)
        return emit_maintenance(session, sub, window, kind, occ.start, occ.end, at=now,
                                service_ids=occ.service_ids)

    def _planned(self, session: Session, windows: Sequence[MaintenanceWindow],
                 services: dict[str, str | None], now: float) -> int:
        """``announced`` for the occurrence that came next when a window was planned or
        changed, lately (within :data:`ENDED_LOOKBACK`) and not started yet, to the
        plugins of ``ctx.announce_planned``."""
        plugins = self._subscribed(self.ctx.announce_planned)
        if not plugins:
            return 0
        written = 0
        for window in windows:
            changed = window.updated_at or window.created_at or 0.0
            if window.cancelled_at is not None or changed < now - ENDED_LOOKBACK:
                continue
            # the occurrence that was next when the window was planned or moved
            occ = next_window_occurrence(window, changed)
            if occ is None or occ.start <= now:
                continue
            mark = (window.id, int(occ.start), "planned")
            if mark in self._done:
                continue
            covered = covered_services(window, services)
            if covered:
                found = planned(session, occ.start, occ.start + 1e-3, services, [window])
                written += sum(self._emit(session, o, "announced", plugins, now)
                               for o in found if o.start == occ.start)
            self._done.add(mark)
        return written

    def _cancelled(self, session: Session, windows: Sequence[MaintenanceWindow],
                   services: dict[str, str | None], now: float) -> int:
        """``cancelled`` for the windows cancelled lately (within :data:`ENDED_LOOKBACK`),
        once per window and process: what the cancelling transaction could not write (a
        process without ``vigie run``'s plugins, a window removed from the configuration
        file); the rows it wrote are not written again (their keys)."""
        # (that module imports this one)
        from monitor.incidents.cancellation import emit_cancellation

        written = 0
        for window in windows:
            cut = window.cancelled_at
            if cut is None or not now - ENDED_LOOKBACK <= cut <= now:
                continue
            mark = (window.id, int(cut), "cancelled")
            if mark not in self._done:
                written += emit_cancellation(session, self.ctx, window, at=now,
                                             services=services)
                self._done.add(mark)
        return written

    def _reminders(self, session: Session, occ: PlannedMaintenance, now: float) -> int:
        """``reminder`` to each plugin of ``ctx.reminders_before`` once its time before
        the occurrence has come; not when the occurrence was announced to it after that
        time (the announcement came late enough to serve as the reminder)."""
        written = 0
        for plugin in self._subscribed(self.ctx.reminders_before):
            before = self.ctx.reminders_before[plugin]
            mark = (occ.window_id, int(occ.start), f"reminder:{plugin}")
            if not occ.start - before <= now < occ.start or mark in self._done:
                continue
            announced = session.scalar(select(OutboxEntry.created_at).where(
                OutboxEntry.idempotency_key == maintenance_key(occ.window_id, occ.start,
                                                               "announced", plugin)))
            if announced is None or announced <= occ.start - before:
                written += self._emit(session, occ, "reminder", (plugin,), now)
            self._done.add(mark)
        return written

    def _events(self, session: Session, occ: PlannedMaintenance, now: float) -> int:
        if occ.active(now):
            kind = "started"
        elif occ.end <= now:
            kind = "ended"
        elif occ.announce_at is not None and occ.announce_at <= now < occ.start:
            kind = "announced"
        else:
            return 0
        mark = (occ.window_id, int(occ.start), kind)
        if mark in self._done:
            return 0
        plugins = self.ctx.subscribers.get("vigie_maintenance_changed", ())
        if kind == "ended":
            # "ended" only where "started" was written: a window that ended while Vigie was
            # down long ago, or one we never saw start, stays silent
            started = {maintenance_key(occ.window_id, occ.start, "started", p) for p in plugins}
            have = set(session.scalars(select(OutboxEntry.idempotency_key)
                                       .where(OutboxEntry.idempotency_key.in_(started))))
            plugins = tuple(p for p in plugins
                            if maintenance_key(occ.window_id, occ.start, "started", p) in have)
        written = self._emit(session, occ, kind, plugins, now) if plugins else 0
        self._done.add(mark)
        return written


def apply_maintenance(state, active: Iterable[str], at: float) -> list:
    """Set every service of the state book in or out of maintenance; return the
    transitions (for the engine and the hooks)."""
    active = set(active)
    out = []
    for service_id in list(state.services):
        out.extend(state.set_maintenance(service_id, service_id in active, at))
    return out
