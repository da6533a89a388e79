"""What the public pages show, read from the database in one go (see dashboard.snapshot)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from dashboard import reads
from dashboard.views import (
    CheckView,
    DetectedMaintenanceView,
    GroupView,
    PageData,
    ServiceView,
)
from monitor.config import Config
from monitor.probe import Status
from monitor.state import ServiceStatus


def _next_midnight(now: float, zone: ZoneInfo) -> float:
    today = datetime.fromtimestamp(now, zone).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), zone).timestamp()


def build_page_data(conn: Connection, config: Config, now: float, zone: ZoneInfo, *,
                    with_incidents: bool = True) -> tuple[PageData, float]:
    """Read everything the public pages show; return it and the next time it changes by
    itself (a window starts or ends, a notice appears or expires, a new day)."""
    statuses = reads.service_statuses(conn)
    checks = reads.check_views(conn, config)
    days = reads.bar_days(datetime.fromtimestamp(now, zone).date())
    tallies = reads.service_days(conn, days, zone, now)
    next_change = _next_midnight(now, zone)
    if with_incidents:
        by_day = reads.incident_counts(conn, days, config.file.site.timezone)
        windows = reads.maintenance(conn, now)
        notices = reads.notices(conn, now)
        # open incidents are few: their whole public timeline and links are loaded
        open_ = [reads.incident(conn, i.id) or i for i in reads.open_incidents(conn)]
        recent = [i for i in reads.incident_history(conn) if not i.is_open]
        notice_change = reads.next_notice_change(conn, now)
        if notice_change is not None:
            next_change = min(next_change, notice_change)
    else:
        by_day, windows, notices, open_, recent = {}, [], [], [], []
    for window in windows:
        for moment in (window.starts_at, window.ends_at):
            if moment > now:
                next_change = min(next_change, moment)
    active = tuple(w for w in windows if w.state(now) == "in_progress")
    services: dict[str, ServiceView] = {}
    detected = []
    for service in config.services:
        status, since = statuses.get(service.id, (ServiceStatus.UNKNOWN, None))
        own = tuple(checks[c.key] for c in service.checks if c.key in checks)
        in_maintenance = any(w.covers(service.id) for w in active)
        if in_maintenance:
            status = ServiceStatus.MAINTENANCE
        found = None if in_maintenance else _detected(service.id, status, since, own)
        if found is not None:
            detected.append(found)
        bar, uptime = reads.build_days(days, tallies.get(service.id, {}),
                                       by_day.get(service.id, {}))
        services[service.id] = ServiceView(
            id=service.id, name=service.name, group=service.group,
            description=service.description,
            status=status, since=since, checks=own, days=bar, uptime=uptime,
            in_maintenance=in_maintenance, maintenance_detected=found is not None)
    data = PageData(
        built_at=now, groups=_groups(config, services), services=services,
        open_incidents=tuple(open_), recent_incidents=tuple(recent),
        active_maintenance=active,
        upcoming_maintenance=tuple(w for w in windows if w.state(now) == "scheduled"),
        past_maintenance=tuple(reversed([w for w in windows if w.state(now) == "completed"])),
        notices=tuple(notices), detected_maintenance=tuple(detected))
    return data, next_change


def _detected(service_id: str, status: ServiceStatus, since: float | None,
              checks: tuple[CheckView, ...]) -> DetectedMaintenanceView | None:
    """The maintenance a service announces itself: its status is maintenance, no window
    covers it, and some of its checks report the ``maintenance`` status."""
    if status != ServiceStatus.MAINTENANCE:
        return None
    announcing = tuple(c.name for c in checks if c.status == Status.MAINTENANCE)
    return DetectedMaintenanceView(service_id, since, announcing) if announcing else None


def _groups(config: Config, services: dict[str, ServiceView]) -> tuple[GroupView, ...]:
    """Groups in file order, then the services without a (known) group."""
    known = {g.id: g for g in config.file.groups}
    out = []
    for group in config.file.groups:
        members = tuple(s for s in services.values() if s.group == group.id)
        if members:
            out.append(GroupView(group.id, group.name, members))
    loose = tuple(s for s in services.values() if s.group not in known)
    if loose:
        out.append(GroupView(None, None, loose))
    return tuple(out)
