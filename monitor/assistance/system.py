"""Members' assistance inside ``vigie run``: checked at start, the receipt sender, the
metrics, the retention purge.

:meth:`AssistanceSystem.attach` is what :class:`monitor.runtime.Runtime` calls: nothing
when ``assistance.enabled`` is false; otherwise it refuses to start, with one line, when
the desk plugin (``assistance.desk``) is not loaded or cannot deliver requests, registers
the receipt sender when mail is configured, builds the service the dashboard uses and
exports ``vigie_assistance_requests_total{outcome}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any

import pluggy
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.assistance import records
from monitor.assistance.service import (
    HOOK,
    OUTCOMES,
    RECEIPT_PLUGIN,
    AssistanceService,
    settings_of,
)
from monitor.assistance.settings import AssistanceSettings
from monitor.plugins import plugin_caller

if TYPE_CHECKING:
    from monitor.mailer import Mailer
    from monitor.runtime import Runtime

log = logging.getLogger(__name__)

#: seconds between two purges (the first comes a minute after start)
PURGE_EVERY = 3600.0
PURGE_FIRST = 60.0


def desk_problem(pm: pluggy.PluginManager, settings: AssistanceSettings) -> str | None:
    """Why requests could not be delivered to ``assistance.desk``, or None."""
    desk = settings.desk
    if pm.get_plugin(desk) is None:
        loaded = sorted(name for name, _ in pm.list_name_plugin() if name)
        return (f"assistance.desk: no plugin named {desk!r} is loaded, so members' requests "
                f"could not be delivered; name the helpdesk plugin (loaded: "
                f"{', '.join(loaded) or 'none'}) or set assistance.enabled: false")
    if plugin_caller(pm, HOOK, desk) is None:
        return (f"assistance.desk: plugin {desk!r} does not implement {HOOK}, so members' "
                "requests could not be delivered; name a plugin that does (e.g. tickets, "
                "with a helpdesk: section) or set assistance.enabled: false")
    return None


class AssistanceCollector(Collector):
    """``vigie_assistance_requests_total{outcome}`` (every outcome, 0 until counted)."""

    def __init__(self, service: AssistanceService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        """The one family."""
        family = CounterMetricFamily(
            "vigie_assistance_requests",
            "Members' paths through /assistance/ by outcome (incident_known, guide_helped, "
            "forum_helped, continued, sent, refused, duplicate).", labels=["outcome"])
        counts = dict(self.service.counts)
        for outcome in OUTCOMES:
            family.add_metric([outcome], counts.get(outcome, 0))
        yield family


class AssistanceSystem:
    """The members' assistance of one running Vigie."""

    def __init__(self, runtime: Runtime) -> None:
        config = runtime.config
        self.runtime = runtime
        self.settings = settings_of(config)
        pm = runtime.plugin_manager
        problem = desk_problem(pm, self.settings)
        if problem is not None:
            from monitor.runtime import StartupError

            raise StartupError(problem)
        # (smtplib and the mail modules are loaded only by a Vigie that sends mail)
        from monitor.assistance.receipt import ReceiptSender
        from monitor.mailer import Mailer, mail_settings

        mail = mail_settings(config)
        self.mailer: Mailer | None = Mailer(mail) if mail.enabled else None
        if self.mailer is not None and self.settings.receipt:
            if pm.get_plugin(RECEIPT_PLUGIN) is None:
                pm.register(ReceiptSender(self.mailer), name=RECEIPT_PLUGIN)
        elif self.settings.receipt:
            log.info("assistance: no receipt is mailed to members (mail.host is not set)")
        incidents = runtime.incidents
        self.service = AssistanceService(config, runtime.store, plugins=pm,
                                         status_of=incidents._status_of,
                                         on_written=incidents._wake_threadsafe)
        runtime.metrics_registry.register(AssistanceCollector(self.service))

    @classmethod
    def attach(cls, runtime: Runtime) -> AssistanceSystem | None:
        """The system for ``runtime``, None when ``assistance.enabled`` is false.

        :raises monitor.runtime.StartupError: the desk plugin cannot deliver requests.
        """
        if not settings_of(runtime.config).enabled:
            return None
        return cls(runtime)

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The background coroutines (on the running loop, whose suggestions then run
        there too)."""
        self.service.suggester.loop = asyncio.get_running_loop()
        return [self._housekeeping()]

    async def _housekeeping(self) -> None:
        delay = PURGE_FIRST
        try:
            while True:
                await asyncio.sleep(delay)
                delay = PURGE_EVERY
                await self.purge_once()
        finally:
            self.service.close()
            if self.mailer is not None:
                await asyncio.to_thread(self.mailer.close)

    async def purge_once(self) -> records.Purged | None:
        """One purge pass (logged and skipped when the database is away); the mail
        connection is closed when idle."""
        if self.mailer is not None:
            await asyncio.to_thread(self.mailer.close_idle)
        if not self.runtime.store_ready or not self.runtime.is_leader():
            return None  # (in a cluster, the leader purges)
        try:
            return await asyncio.to_thread(records.purge, self.runtime.store,
                                           self.runtime.config.data_dir,
                                           self.settings.retention, time.time())
        except Exception:
            log.warning("assistance: purge failed; will retry", exc_info=True)
            return None
