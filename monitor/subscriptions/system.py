"""Members' e-mail subscriptions inside ``vigie run``: the service, the metric, the purge,
and the member-mail sender.

:meth:`SubscriptionSystem.attach` is what :class:`monitor.runtime.Runtime` calls: nothing
when ``subscriptions.enabled`` is false; otherwise it builds the
:class:`~monitor.subscriptions.service.Subscriptions` the pages use, exports
``vigie_subscribers{state}``, and, when ``mail.host`` is set, attaches the sender of
member mails (:func:`attach_member_mail`). Without mail Vigie starts all the same: the
pages say subscriptions are unavailable.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.subscriptions import records
from monitor.subscriptions.models import STATES
from monitor.subscriptions.service import Subscriptions
from monitor.subscriptions.settings import settings_of

if TYPE_CHECKING:
    from monitor.runtime import Runtime

log = logging.getLogger(__name__)

#: seconds between two readings of the counts the metric exports
COUNT_EVERY = 60.0
#: seconds between two purges (the first comes a minute after start)
PURGE_EVERY = 3600.0
PURGE_FIRST = 60.0
#: the module of the member-mail sender (its ``attach(runtime, subscriptions)``)
MEMBER_MAIL_MODULE = "monitor.membermail.plugin"


def attach_member_mail(runtime: Runtime, subscriptions: Subscriptions) -> Any:
    """The hook point of the member-mail sender: :data:`MEMBER_MAIL_MODULE`'s
    ``attach(runtime, subscriptions)`` registers the ``member-mail`` plugin object (the
    fan-out of incident and maintenance events, the sending); its result is returned.
    None when that module is not part of this Vigie."""
    if importlib.util.find_spec(MEMBER_MAIL_MODULE.rpartition(".")[0]) is None:
        log.warning("subscriptions: %s is missing; member mails stay in the outbox",
                    MEMBER_MAIL_MODULE)
        return None
    return importlib.import_module(MEMBER_MAIL_MODULE).attach(runtime, subscriptions)


class SubscriberCollector(Collector):
    """``vigie_subscribers{state}`` (every state, from the last count)."""

    def __init__(self, system: SubscriptionSystem) -> None:
        self.system = system

    def collect(self) -> Iterator[Metric]:
        """The one family."""
        family = GaugeMetricFamily(
            "vigie_subscribers",
            "Members subscribed by e-mail, by state (pending: not confirmed yet).",
            labels=["state"])
        counts = dict(self.system.by_state)
        for state in STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family


class SubscriptionSystem:
    """The members' subscriptions of one running Vigie."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = settings_of(runtime.config)
        self.service = Subscriptions(runtime.config, runtime.store,
                                     on_written=runtime.incidents._wake_threadsafe)
        #: subscribers by state, as last counted (what the metric exports)
        self.by_state: dict[str, int] = {state: 0 for state in STATES}
        runtime.metrics_registry.register(SubscriberCollector(self))
        #: what the member-mail sender's ``attach`` returned (None without mail)
        self.mail: Any = None
        if self.service.available:
            self.mail = attach_member_mail(runtime, self.service)
        else:
            log.info("subscriptions: members cannot subscribe (mail.host is not set)")

    @classmethod
    def attach(cls, runtime: Runtime) -> SubscriptionSystem | None:
        """The system for ``runtime``, None when ``subscriptions.enabled`` is false."""
        if not settings_of(runtime.config).enabled:
            return None
        return cls(runtime)

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The background coroutines."""
        return [self._housekeeping()]

    async def _housekeeping(self) -> None:
        until_purge = PURGE_FIRST
        while True:
            await self.count_once()
            if until_purge <= 0:
                await self.purge_once()
                until_purge = PURGE_EVERY
            await asyncio.sleep(COUNT_EVERY)
            until_purge -= COUNT_EVERY

    async def count_once(self) -> dict[str, int] | None:
        """Read the subscribers by state for the metric (skipped while the database is
        away; the last numbers stay)."""
        if not self.runtime.store_ready:
            return None
        try:
            self.by_state = await asyncio.to_thread(self._count)
        except Exception:
            log.warning("subscriptions: counting failed; will retry", exc_info=True)
            return None
        return self.by_state

    def _count(self) -> dict[str, int]:
        with self.runtime.store.session() as session:
            return records.count_by_state(session)

    async def purge_once(self) -> int | None:
        """One purge pass (logged and skipped when the database is away; in a cluster,
        on the leader only)."""
        if not self.runtime.store_ready or not self.runtime.is_leader():
            return None
        try:
            return await asyncio.to_thread(self.service.purge)
        except Exception:
            log.warning("subscriptions: purge failed; will retry", exc_info=True)
            return None
