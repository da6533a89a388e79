"""Alerts about Vigie itself: outbox backlog growing, a plugin failing repeatedly, the
database unreachable.

Each condition raises one :class:`~monitor.notifications.SystemAlert` when it appears and
nothing more until it clears (then it may raise again). The first two go through the
outbox like any alert. "Database unreachable" cannot (the outbox *is* in the database):
it is delivered directly, best effort, by calling ``vigie_system_alert`` on every plugin
once, without retries; the runtime does that with :func:`database_alert`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from monitor.config import OutboxSettings
from monitor.incidents.context import IncidentContext
from monitor.incidents.emit import emit_system_alert
from monitor.incidents.outbox import Backlog, DeliveryStats
from monitor.notifications import SystemAlert

log = logging.getLogger(__name__)


def database_alert(at: float, url: str, since: float) -> SystemAlert:
    """The alert sent directly when the database has been unreachable since ``since``."""
    minutes = max(0, round((at - since) / 60))
    return SystemAlert(
        code="store.unreachable", idempotency_key=f"store.unreachable:{int(since)}",
        severity="critical",
        title_fr="Vigie ne joint plus sa base de données",
        title_en="Vigie cannot reach its database",
        message_fr=f"La base {url} est injoignable depuis {minutes} min. Les résultats sont "
                   "gardés en mémoire ; incidents et alertes attendent son retour.",
        message_en=f"The database {url} has been unreachable for {minutes} min. Results are "
                   "kept in memory; incidents and alerts wait for it to come back.",
        at=at, details={"since": f"{since:.0f}"})


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
            alerts.append(SystemAlert(
                code="outbox.backlog", idempotency_key=f"outbox.backlog:{int(now)}",
                severity="warning",
                title_fr="Des alertes attendent d'être envoyées",
                title_en="Alerts are waiting to be delivered",
                message_fr=f"{backlog.pending} envois en attente, le plus ancien depuis "
                           f"{oldest_age / 60:.0f} min.",
                message_en=f"{backlog.pending} deliveries pending, the oldest for "
                           f"{oldest_age / 60:.0f} min.",
                at=now, details={"pending": str(backlog.pending),
                                 "oldest_age_seconds": f"{oldest_age:.0f}"}))
        for plugin, streak in list(self.stats.failing_streak.items()):
            bad = streak >= self.settings.plugin_failing_after
            if self._edge(f"plugin.failing:{plugin}", bad, now):
                alerts.append(SystemAlert(
                    code="plugin.failing", idempotency_key=f"plugin.failing:{plugin}:{int(now)}",
                    severity="warning",
                    title_fr=f"Le greffon {plugin} échoue",
                    title_en=f"Plugin {plugin} keeps failing",
                    message_fr=f"{streak} envois de suite ont échoué pour {plugin} ; voir "
                               "l'administration (envois en échec).",
                    message_en=f"{streak} deliveries in a row failed for {plugin}; see the "
                               "admin area (failed deliveries).",
                    at=now, details={"plugin": plugin, "failures": str(streak)}))
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
