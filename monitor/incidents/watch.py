"""Alerts about Vigie itself: outbox backlog growing, a plugin failing repeatedly, the
database unreachable, and outages the database could not record.

Each condition raises one :class:`~monitor.notifications.SystemAlert` when it appears and
nothing more until it clears (then it may raise again). The first two go through the
outbox like any alert. The others cannot (the outbox *is* in the database): they are
delivered directly, best effort, by :func:`send_directly` — ``vigie_system_alert`` called
on every plugin at once, each within :data:`DIRECT_TIMEOUT`, without retries or
persistence: :func:`database_alert`, and :class:`UnrecordedAlerts` for a service that
starts failing (or works again) while its change waits for the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pluggy
from sqlalchemy.orm import Session

from monitor import terms
from monitor.config import OutboxSettings
from monitor.incidents.context import IncidentContext
from monitor.incidents.emit import emit_system_alert
from monitor.incidents.engine import StatusChange
from monitor.incidents.lanes import call_hook
from monitor.incidents.lifecycle import OUTAGE_IMPACTS
from monitor.incidents.outbox import Backlog, DeliveryStats
from monitor.incidents.wording import local_time
from monitor.notifications import SystemAlert
from monitor.plugins import HookFailures, plugin_callers
from monitor.words import Bilingual, _, duration, n_

log = logging.getLogger(__name__)

#: seconds each plugin has to take a direct alert
DIRECT_TIMEOUT = 30.0


async def send_directly(pm: pluggy.PluginManager, alert: SystemAlert,
                        timeout: float = DIRECT_TIMEOUT, *,
                        failures: HookFailures | None = None) -> int:
    """Call ``vigie_system_alert`` on every implementing plugin at once, each within
    ``timeout``, bypassing the outbox; return how many took the alert. Best effort: a
    failure or a timeout is logged and counted in ``failures``
    (``vigie_plugin_hook_failures_total``), never retried or stored, and one plugin never
    delays another: each is called through its own one-plugin hook caller, side by side."""
    hook = "vigie_system_alert"

    async def one(plugin: str, caller: pluggy.HookCaller) -> bool:
        try:
            await call_hook(caller, {"alert": alert}, timeout)
        except Exception as exc:
            if failures is not None:
                failures[(plugin, hook)] += 1
            log.warning("plugin %s could not take the direct alert %s: %s: %s", plugin,
                        alert.code, type(exc).__name__, exc)
            return False
        return True

    callers = plugin_callers(pm, hook)
    return sum(await asyncio.gather(*(one(plugin, caller) for plugin, caller in callers)))


class UnrecordedAlerts:
    """Direct alerts for status changes the database could not take.

    A service that starts failing while its change waits is told at once
    (``unrecorded.down``, critical for a major outage, else warning); if it works again
    before the database is back, that is told too (``unrecorded.up``, info). The incident
    itself is recorded, and alerted through the outbox, when the database is back: its
    messages give the real times and say when they were recorded. Thread-safe enough for
    its one caller, the engine's thread.
    """

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        #: service id → (database outage number, when it was told failing)
        self._told: dict[str, tuple[int, float]] = {}

    def alert_for(self, change: StatusChange, outage: int) -> SystemAlert | None:
        """The alert to send for ``change``, held during database outage ``outage``
        (:attr:`IncidentEngine.outages`), or None."""
        sid = change.service_id
        told = self._told.get(sid)
        if told is not None and told[0] != outage:  # told during an earlier outage
            del self._told[sid]
            told = None
        if change.current in OUTAGE_IMPACTS:
            if told is not None or change.previous in OUTAGE_IMPACTS:
                return None  # already told, or failing since before: nothing new
            self._told[sid] = (outage, change.at)
            return self._down(change)
        if change.current == "operational" and told is not None:
            del self._told[sid]
            return self._up(change, told[1])
        return None

    def _time(self, at: float, lang: str) -> str:
        return local_time(at, self.timezone, lang, time.time())

    def _times(self, at: float) -> Bilingual:
        return Bilingual(self._time(at, "fr"), self._time(at, "en"))

    def _down(self, change: StatusChange) -> SystemAlert:
        service = change.name
        impact = terms.impact(change.current)
        checks = [_("{check}: {reason}", check=c.name, reason=c.reason)
                  for c in change.checks if c.reason_fr]
        title = _("{service}: {impact} (not recorded yet)", service=service, impact=impact)
        message = _("{service}: {impact} since {time}. Vigie's database is unreachable: the "
                    "incident will be recorded when it is back, and its usual alerts will "
                    "follow, marked “recorded at …”.", service=service, impact=impact,
                    time=self._times(change.at))
        listed = Bilingual(message.fr + "".join(f"\n- {c.fr}" for c in checks),
                           message.en + "".join(f"\n- {c.en}" for c in checks))
        return SystemAlert.worded(
            "unrecorded.down", f"unrecorded.down:{change.service_id}:{int(change.at)}",
            "critical" if change.current == "major_outage" else "warning", title, listed,
            change.at, service_id=change.service_id,
            details={"status": change.current, "since": f"{change.at:.0f}"})

    def _up(self, change: StatusChange, since: float) -> SystemAlert:
        service = change.name
        title = _("{service} is working again (not recorded yet)", service=service)
        message = _("{service} is working again: failing from {start} to {end}. Vigie's "
                    "database is still unreachable: the incident will be recorded when it "
                    "is back.", service=service, start=self._times(since),
                    end=self._times(change.at))
        return SystemAlert.worded(
            "unrecorded.up", f"unrecorded.up:{change.service_id}:{int(change.at)}", "info",
            title, message, change.at, service_id=change.service_id,
            details={"status": change.current, "failing_since": f"{since:.0f}"})


def database_alert(at: float, url: str, since: float) -> SystemAlert:
    """The alert sent directly when the database has been unreachable since ``since``."""
    title = _("Vigie cannot reach its database")
    message = _("The database {url} has been unreachable for {duration}. Results are kept "
                "in memory; incidents and alerts wait for it to come back.", url=url,
                duration=duration(at - since))
    return SystemAlert.worded("store.unreachable", f"store.unreachable:{int(since)}", "critical",
                              title, message, at, details={"since": f"{since:.0f}"})


class SystemWatch:
    """Raises outbox and plugin alerts, once per condition until it clears."""

    def __init__(self, sessions: Callable[[], Session], ctx: IncidentContext,
                 settings: OutboxSettings, stats: DeliveryStats) -> None:
        self.sessions = sessions
        self.ctx = ctx
        self.settings = settings
        self.stats = stats
        #: condition key → Unix time it was raised
        self.raised: dict[str, float] = {}

    def check(self, backlog: Backlog, now: float | None = None) -> list[SystemAlert]:
        """Look at the backlog and the plugins' failure streaks; write alerts for new
        conditions (in one transaction) and return them."""
        now = time.time() if now is None else now
        alerts = []
        oldest_age = now - backlog.oldest_pending_at if backlog.oldest_pending_at else 0.0
        backlog_bad = (backlog.pending >= self.settings.backlog_alert
                       or oldest_age >= self.settings.oldest_pending_alert)
        if self._edge("outbox.backlog", backlog_bad, now):
            title = _("Alerts are waiting to be delivered")
            message = n_("{n} delivery pending, for {duration}.",
                         "{n} deliveries pending, the oldest for {duration}.", backlog.pending,
                         duration=duration(oldest_age))
            alerts.append(SystemAlert.worded(
                "outbox.backlog", f"outbox.backlog:{int(now)}", "warning", title, message, now,
                details={"pending": str(backlog.pending),
                         "oldest_age_seconds": f"{oldest_age:.0f}"}))
        for plugin, streak in list(self.stats.failing_streak.items()):
            bad = streak >= self.settings.plugin_failing_after
            if self._edge(f"plugin.failing:{plugin}", bad, now):
                title = _("Plugin {plugin} keeps failing", plugin=plugin)
                message = n_("{n} delivery failed for {plugin}; see the admin area (failed "
                             "deliveries).", "{n} deliveries in a row failed for {plugin}; see "
                             "the admin area (failed deliveries).", streak, plugin=plugin)
                alerts.append(SystemAlert.worded(
                    "plugin.failing", f"plugin.failing:{plugin}:{int(now)}", "warning", title,
                    message, now, details={"plugin": plugin, "failures": str(streak)}))
        if alerts:
            with self.sessions() as session, session.begin():
                for alert in alerts:
                    emit_system_alert(session, self.ctx, alert, at=now)
        return alerts

    def _edge(self, key: str, bad: bool, now: float) -> bool:
        """True when the condition ``key`` just appeared."""
        if not bad:
            self.raised.pop(key, None)
            return False
        if key in self.raised:
            return False
        self.raised[key] = now
        return True
