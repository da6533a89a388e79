"""The runtime's database: prepared at start or later, kept tidy while Vigie runs.

:class:`StoreLifecycle` is the part of :class:`monitor.runtime.Runtime` that prepares the
database (migrate or check the schema, sync the catalog, restore the confirmed statuses),
keeps trying in the background when it was unreachable at start, and runs the periodic
housekeeping (daily rollups, pruning). The runtime decides what a failure at start means.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from monitor import malloc
from monitor.probe import Status
from monitor.state import ServiceTransition, StateBook, Transition
from monitor.stats import WriterStats
from monitor.store import ResultWriter, Store
from monitor.store.migrate import SchemaOutOfDate
from monitor.store.writer import is_transient

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from monitor.cluster.role import ClusterRole
    from monitor.config import Config
    from monitor.incidents.system import IncidentSystem
    from monitor.webhooks.system import WebhookSystem

log = logging.getLogger(__name__)


#: how often daily rollups are recomputed for yesterday and today, and old rows pruned
HOUSEKEEPING_EVERY = 600.0
#: the first housekeeping pass comes sooner, so today's uptime bar appears soon after start
HOUSEKEEPING_FIRST = 60.0
#: seconds before the first new attempt to open a database unreachable at start; the wait
#: doubles after each failure, up to STORE_RETRY_MAX
STORE_RETRY_FIRST = 1.0
STORE_RETRY_MAX = 30.0


def first_line(exc: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's background link."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class StoreLifecycle:
    """The database side of the runtime (a base of :class:`monitor.runtime.Runtime`,
    which sets these attributes)."""

    config: Config
    store: Store
    state: StateBook
    writer: ResultWriter
    writer_stats: WriterStats
    incidents: IncidentSystem
    webhooks: WebhookSystem
    #: the database was prepared (catalog synced, statuses restored)
    store_ready: bool
    #: set once it was (what a cluster's leader waits for)
    store_opened: asyncio.Event
    #: this process as a node of a cluster (None: one Vigie)
    role: ClusterRole | None

    def is_leader(self) -> bool:
        # the runtime's: whether this process does what must happen once
        raise NotImplementedError

    def _accept_transitions(self, transitions: list[Transition]) -> None:
        # the runtime's: transitions go to the writer, the plugins and the incident engine
        raise NotImplementedError

    def _open_store(self) -> dict[str, tuple[Status, float]]:
        """Migrate the embedded default (or check an external database's schema), sync the
        catalog, and read the confirmed check statuses stored. Blocking: run in a thread."""
        if self.config.file.store.url is None:
            self.config.data_dir.mkdir(parents=True, exist_ok=True)
            self.store.upgrade()
        else:
            self.store.check_schema()
        self.store.sync_catalog(self.config)
        return self.store.latest_check_statuses()

    def _restore(self, stored: dict[str, tuple[Status, float]], late: bool) -> None:
        """Seed confirmed statuses from the store (on the loop).

        At start nothing fires. When the database came ``late`` (probing already ran),
        only checks still without a verdict are seeded, as a live verdict is newer than any
        stored one, and the services whose status this changes go down the usual path.
        """
        for key, (status, since) in stored.items():
            state = self.state.checks.get(key)
            if state is not None and state.status is None:
                self.state.restore(key, status, since)
        now = time.time()
        if not late:
            self.state.restore_services(now)
            return
        transitions: list[Transition] = []
        for service in self.state.services.values():
            changed = service.refresh(now)
            if changed is not None:
                transitions.append(ServiceTransition(service, *changed, now))
        if transitions:
            self._accept_transitions(transitions)

    async def _store_opened(self, stored: dict[str, tuple[Status, float]], late: bool) -> None:
        """The database is prepared: restore, start writing, start the incident engine
        (in a cluster, the leader starts it: :mod:`monitor.cluster.role`)."""
        self._restore(stored, late)
        self.store_ready = True
        self.writer.start()
        # the webhook endpoints' plugins first: the engine's first events reach them too
        await self.webhooks.sync_once()
        self.store_opened.set()
        if self.role is None:
            await self.incidents.start(self._accept_transitions)

    async def _retry_store(self) -> None:
        """Prepare the database unreachable at start, retrying (with a growing wait) until
        it works; then write the buffered results and start the incident engine."""
        down_since = time.monotonic()
        said = ""

        def tell(state: RetryCallState) -> None:
            nonlocal said
            exc = state.outcome.exception() if state.outcome else None
            if exc is None or is_transient(exc):
                return  # still away: the start-up warning said so once
            # reachable but not usable (schema out of date…): say it once per problem
            problem = str(exc) if isinstance(exc, SchemaOutOfDate) else (
                f"{type(exc).__name__}: {first_line(exc)}")
            if problem != said:
                said = problem
                log.error("database %s: %s; retrying", self.store.safe_url, problem)

        # the attempt at start was the first failure: wait STORE_RETRY_FIRST, then twice
        # as long after each new failure, up to STORE_RETRY_MAX
        await asyncio.sleep(STORE_RETRY_FIRST)
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=2 * STORE_RETRY_FIRST, max=STORE_RETRY_MAX),
            retry=retry_if_exception_type(Exception), before_sleep=tell, reraise=True)
        async for attempt in retrying:
            with attempt:
                stored = await asyncio.to_thread(self._open_store)
        log.info("database %s reachable after %.0fs: catalog synced, statuses restored; "
                 "writing the %d results kept in memory", self.store.safe_url,
                 time.monotonic() - down_since, self.writer_stats.buffered)
        await self._store_opened(stored, late=True)

    async def _housekeeping(self) -> None:
        zone = self.config.file.site.timezone
        retention = self.config.file.store.retention
        delay = HOUSEKEEPING_FIRST
        while True:
            await asyncio.sleep(delay)
            delay = HOUSEKEEPING_EVERY
            if not self.store_ready or not self.is_leader():
                continue  # the database has not been reached since start; or, in a
                # cluster, another node does it
            today = datetime.now(ZoneInfo(zone)).date()
            try:
                await asyncio.to_thread(self.store.compute_rollups,
                                        today - timedelta(days=1), today, zone)
                await asyncio.to_thread(self.store.prune, time.time() - retention)
                if self.role is not None:
                    await asyncio.to_thread(self.role.prune_feed)
            except Exception:
                log.warning("housekeeping failed (rollups/prune); will retry", exc_info=True)
            # the pass read many rows for a moment: give their pages back
            await asyncio.to_thread(malloc.trim)
