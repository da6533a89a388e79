"""``vigie run``: wires configuration, store, scheduler, state, hooks and the HTTP listener.

One process: the checks run on the asyncio event loop; results go to the store through a
writer thread; transitions go to plugins through hooks, in order, from one dispatcher task;
``/metrics`` and the mounted WSGI apps are served by the listener (:mod:`monitor.web`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy

from monitor import __version__, malloc
from monitor.agents.system import AgentSystem
from monitor.assistance.system import AssistanceSystem
from monitor.cluster.errors import NodeNameTaken
from monitor.cluster.metrics import ClusterCollector
from monitor.cluster.role import ClusterMetricsView, ClusterRole
from monitor.cluster.settings import settings_of
from monitor.config import Check, Config
from monitor.config_loader import load_with_plugins
from monitor.connections import ListenerStats
from monitor.events import fire
from monitor.exposition import render, render_chunks
from monitor.http_session import LazyHttpSession
from monitor.incidents.metrics import IncidentCollector
from monitor.incidents.system import IncidentSystem
from monitor.listener_metrics import ListenerCollector
from monitor.locations.book import runs_here
from monitor.locations.follow import ResultFollower
from monitor.locations.metrics import LocationCollector
from monitor.locations.system import LocationSystem
from monitor.metrics import build_registry
from monitor.plugins import HookFailures, ProbeRegistry
from monitor.probe import ProbeResult, Status
from monitor.resources import Descriptors, raise_nofile_limit
from monitor.router import Router
from monitor.runner import clean_result
from monitor.runtime_store import StoreLifecycle, first_line
from monitor.scheduler import Scheduler
from monitor.shortage import Shortage, ShortageTeller
from monitor.startup import StartupContext
from monitor.state import (
    CheckTransition,
    ServiceTransition,
    StateBook,
    Transition,
    unjudged,
)
from monitor.stats import SchedulerStats, WriterStats
from monitor.store import ResultRecord, ResultWriter, Store
from monitor.store.migrate import SchemaOutOfDate
from monitor.store.records import (
    CheckStateRecord,
    FeedTransition,
    OwnLocationRecord,
    ServiceChange,
)
from monitor.store.writer import is_transient
from monitor.subscriptions.system import SubscriptionSystem
from monitor.web import Listener, make_listener
from monitor.webhooks.system import WebhookSystem

log = logging.getLogger(__name__)

#: free file descriptors kept beyond one per check running at once (database, outbox,
#: alerts, bridges) when ``server.limits.descriptor_reserve`` is not set
RESERVE_BEYOND_CHECKS = 64


class StartupError(Exception):
    """Vigie cannot start for a reason the operator can fix; the message (one line) says
    what and what to do. ``vigie run`` prints it and exits with status 2."""


def listen_error(listen: str, exc: OSError) -> str:
    """The one-line message for a listen address that cannot be bound."""
    if exc.errno == errno.EADDRINUSE:
        why = ("the address is already in use (another Vigie, or another program, listens "
               "there)")
        todo = "stop that program, or choose another port"
    elif exc.errno == errno.EACCES:
        why = "permission denied"
        todo = "choose a port above 1023, or give Vigie the right to bind this one"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why, todo = "this machine has no such address", "choose one of its addresses"
    else:
        why, todo = exc.strerror or str(exc), "check the address"
    return (f"cannot listen on {listen}: {why}; {todo} "
            "(server.listen in the configuration, or --listen)")


def descriptor_reserve(config: Config) -> int:
    """File descriptors the listener leaves free for the rest of Vigie:
    ``server.limits.descriptor_reserve``, or one per check running at once plus
    :data:`RESERVE_BEYOND_CHECKS`."""
    configured = config.file.server.limits.descriptor_reserve
    if configured is not None:
        return configured
    return config.file.scheduler.concurrency + RESERVE_BEYOND_CHECKS


class Runtime(StoreLifecycle):
    """A running Vigie instance; plugins receive its :meth:`startup_context` in
    ``vigie_startup`` (the whole runtime only if they still ask for the deprecated
    ``runtime`` argument)."""

    def __init__(self, config: Config, plugin_manager: pluggy.PluginManager,
                 registry: ProbeRegistry) -> None:
        self.config = config
        self.plugin_manager = plugin_manager
        self.registry = registry
        self.state = StateBook(config.services)
        #: the ``cluster:`` section (``enabled`` False: one Vigie, as always)
        self.cluster = settings_of(config)
        #: the checks' hidden states go to the database, for the nodes taking them over
        self.shares_state = self.cluster.enabled
        #: the book this process's results go to: :attr:`state` itself, except in a
        #: cluster, where it holds the checks this node runs (and :attr:`state` the whole
        #: picture, as the leader sees it)
        self.own = StateBook(config.services) if self.cluster.enabled else self.state
        self.scheduler_stats = SchedulerStats()
        self.writer_stats = WriterStats()
        self.probe_kinds = {k.kind: k.probe_class for k in registry}
        #: (plugin, hook) -> failures of event hooks (``vigie_plugin_hook_failures_total``)
        self.hook_failures: HookFailures = Counter()
        self.store = Store(config.database_url)
        self.writer = ResultWriter(
            self.store, self.writer_stats,
            batch_size=config.file.store.batch_size,
            flush_interval=config.file.store.flush_interval,
            buffer_limit=config.file.store.buffer_limit,
        )
        #: this process as a node of the cluster (None: cluster mode is off)
        self.role = ClusterRole(self) if self.cluster.enabled else None
        self.metrics_registry = build_registry(
            self if self.role is None else ClusterMetricsView(self, self.role))
        if self.role is not None:
            self.metrics_registry.register(ClusterCollector(self.role.node))
        #: incident engine, maintenance ticker and outbox worker (monitor.incidents)
        self.incidents = IncidentSystem(self)
        self.metrics_registry.register(IncidentCollector(self.incidents))
        #: signed webhooks: the endpoints' plugins, their failures (monitor.webhooks)
        self.webhooks = WebhookSystem.for_runtime(self)
        #: members' requests for help (None unless ``assistance.enabled``)
        self.assistance = AssistanceSystem.attach(self)
        #: members' e-mail subscriptions (None unless ``subscriptions.enabled``)
        self.subscriptions = SubscriptionSystem.attach(self)
        #: the listener's counters, and Vigie's own resource shortages (told to volunteers)
        self.listener_stats = ListenerStats()
        self.shortage = Shortage(Descriptors(), reserve=descriptor_reserve(config))
        self._teller = ShortageTeller(self)
        self.metrics_registry.register(ListenerCollector(self.listener_stats, self.shortage))
        self.router = Router(lambda: render(self.metrics_registry), self.health,
                             "text/plain; version=0.0.4; charset=utf-8",
                             metrics_chunks=lambda: render_chunks(self.metrics_registry))
        self.started_at = time.time()
        self._checks = {c.key: c for c in config.checks if c.enabled}
        #: the checks run from several locations: their status is the consensus
        self.locations = LocationSystem(self)
        # (a cluster's node exports the checks it owns, as for the checks' own series)
        self.metrics_registry.register(LocationCollector(
            self.locations.book, owned=None if self.role is None else self._owned))
        # the server's own runs of those checks are kept beside the agents' results
        self.locations.self_results = self._write_own_location
        #: a cluster's node reads the agents' results back from the database, whichever
        #: node received them, and judges those of the checks it owns (None: one Vigie)
        self.followed: ResultFollower | None = None
        role = self.role
        if role is not None and self.locations.located:
            self.followed = ResultFollower(self.locations, self.store, lambda: role.owned,
                                           self.cluster.heartbeat)
        #: the remote agents' API at /api/agent/v1 (None unless agents are served); each
        #: new result of an agent goes to its location's state and the check's consensus
        #: (in a cluster, through the database: the endpoint wakes the follower)
        self.agents = AgentSystem.attach(
            self, sink=self.locations.submit_location_result if self.followed is None
            else self.followed.wake)
        self._events: asyncio.Queue[Transition] | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.scheduler: Scheduler | None = None
        self.web: Listener | None = None
        #: the database was prepared (catalog synced, statuses restored); until then
        #: results wait in the writer's memory and the incident engine waits too
        self.store_ready = False
        self.store_opened = asyncio.Event()
        self._startup_context: StartupContext | None = None

    # Interface for plugins ------------------------------------------------------------

    def startup_context(self) -> StartupContext:
        """What ``vigie_startup`` and ``vigie_shutdown`` give plugins (built once)."""
        if self._startup_context is None:
            self._startup_context = StartupContext(
                config=self.config, state=self.state, store=self.store,
                probes=self.registry, incidents=self.incidents.ctx, mount=self.mount,
                submit_result=self.submit_result,
                submit_location_result=self.locations.submit_location_result,
                location_grid=self.locations.grid,
                add_plugin=self.add_plugin, remove_plugin=self.remove_plugin,
                database_up=lambda: self.writer_stats.database_up,
                assistance=self.assistance.service if self.assistance else None,
                subscriptions=self.subscriptions.service if self.subscriptions else None,
                is_leader=self.is_leader)
        return self._startup_context

    def add_plugin(self, plugin: object, name: str) -> str | None:
        """Register a plugin object while running; the durable hooks' subscribers follow
        (its outbox rows are written from the next event on) and the outbox worker gives
        it a lane."""
        registered = self.plugin_manager.register(plugin, name=name)
        self._plugins_changed()
        return registered

    def remove_plugin(self, name: str) -> object | None:
        """Unregister the plugin ``name`` (return it, or None); no row is written for it
        any more, and those still pending are dead-lettered."""
        plugin = self.plugin_manager.get_plugin(name)
        if plugin is not None:
            self.plugin_manager.unregister(plugin)
            self._plugins_changed()
        return plugin

    def _plugins_changed(self) -> None:
        self.incidents.ctx.refresh_subscribers()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.incidents.worker.wake)

    def is_leader(self) -> bool:
        """Whether this process does what must happen once (purges, rollups, the guides'
        refresh…): always outside a cluster; in a cluster, while this node leads."""
        return self.role is None or self.role.node.leader

    def request_stop(self) -> None:
        """Stop Vigie as SIGTERM would (on the event loop)."""
        if self._stop is not None:
            self._stop.set()

    def mount(self, prefix: str, app: Callable) -> None:
        """Serve the WSGI ``app`` under ``prefix`` on Vigie's HTTP listener."""
        self.router.mount(prefix, app)

    def submit_result(self, check_key: str, result: ProbeResult) -> None:
        """Record a result obtained outside the scheduler (push checks). Thread-safe.

        The result crosses the same boundary as a probed one (:func:`clean_result`).

        :raises KeyError: no enabled check has this key.
        :raises TypeError: ``result`` does not have the shape of a :class:`ProbeResult`.
        """
        check = self.enabled_check(check_key)
        result = clean_result(result)
        if not result.started_at:
            result.started_at = time.time()
        assert self._loop is not None, "submit_result() called before the runtime started"
        self._loop.call_soon_threadsafe(self.on_result, check, result)

    def enabled_check(self, check_key: str) -> Check:
        """The enabled check ``check_key``.

        :raises KeyError: no enabled check has this key.
        """
        check = self._checks.get(check_key)
        if check is None:
            raise KeyError(f"unknown check {check_key!r}")
        return check

    def health(self) -> dict[str, Any]:
        """What ``/healthz`` reports: ok unless the scheduler stalled."""
        stats = self.scheduler_stats
        stale = bool(stats.last_cycle_at) and time.time() - stats.last_cycle_at > 3 * max(
            (c.interval for c in self._checks.values()), default=300)
        return {
            "ok": not stale,
            "version": __version__,
            "checks": len(self._checks),
            "database_up": self.writer_stats.database_up,
            "results_buffered": self.writer_stats.buffered,
            "last_cycle_at": stats.last_cycle_at or None,
        }

    # The pipeline ---------------------------------------------------------------------

    def on_result(self, check: Check, result: ProbeResult) -> float:
        """Take one result: store it, update the state, queue transitions; return the delay
        until the check's next run.

        A run that failed for want of a local resource (:func:`monitor.state.unjudged`) is
        stored as ``unknown`` whatever the runner made of it, changes no state, and is
        counted as a shortage (alert, metric).
        """
        if result.status is not Status.UP and unjudged(result):
            result.status = Status.UNKNOWN
            self.shortage.note("checks")
        if check.key in self.locations.located:
            self.incidents.on_result(check, result)
            return self.locations.on_self_result(check, result)
        self.writer.submit(ResultRecord.from_result(check.key, result))
        if self.shares_state:
            self._apply_shared(check, result)
        else:
            self._accept_transitions(self.state.apply(check.key, result))
        self.incidents.on_result(check, result)
        return self.own.checks[check.key].next_delay()

    def _owned(self) -> frozenset[str]:
        """The checks this node of a cluster owns now."""
        return self.role.owned if self.role is not None else frozenset()

    async def _follow_results(self) -> None:
        """Follow the agents' results once the database is prepared (cluster mode)."""
        assert self.followed is not None
        await self.store_opened.wait()
        await self.followed.run()

    def _write_own_location(self, check_key: str, location: str, result: ProbeResult
                            ) -> None:
        """Queue the server's own run of a check run from several locations for
        ``location_results`` (the writer's thread writes it with the results)."""
        self.writer.submit_own_location(
            OwnLocationRecord.from_result(check_key, location, result))

    def take_verdict(self, check: Check, result: ProbeResult, *, store: bool = True) -> None:
        """A located check's verdict (:mod:`monitor.locations`): its status becomes the
        check's as it is, with no second damping (each location damped its own), and it
        is stored as the check's result when ``store``. In a cluster, only the node that
        owns the check takes it (see docs/locations.md)."""
        if self.role is not None and check.key not in self.role.owned:
            return
        if store:
            self.writer.submit(ResultRecord.from_result(check.key, result))
        if self.shares_state:
            self._apply_shared(check, result, verdict=True)
        else:
            self._accept_transitions(self.state.apply_change(check.key, result))
        if store:
            self.own.checks[check.key].last = result

    def _apply_shared(self, check: Check, result: ProbeResult, *, verdict: bool = False
                      ) -> None:
        """Apply a result to this node's book (cluster mode): the check's change goes to
        the database with the feed's record of it (the leader derives the services from
        every check), and the check's hidden state when it changed, for the node that
        will take the check over. A ``verdict`` of locations is taken as it is."""
        state = self.own.checks[check.key]
        before = (state.status, state.failures)
        since = state.since
        assert self.role is not None
        apply = self.own.apply_change if verdict else self.own.apply
        for transition in apply(check.key, result):
            # (the service transitions of this node's book are left out: it holds only
            # this node's share of the checks)
            if isinstance(transition, CheckTransition):
                self.writer.submit_transition(transition)
                self.writer.submit_feed(FeedTransition.from_transition(
                    transition, since, self.role.name))
        if (state.status, state.failures) != before:
            self.writer.submit_state(CheckStateRecord(check.key, state.status, state.since,
                                                      state.failures, result.started_at))

    def _accept_transitions(self, transitions: list[Transition]) -> None:
        """Store, dispatch and hand to the incident engine (check- or maintenance-driven).

        In a cluster this is the leader's (its book follows every check through the
        feed): a check's change was stored by its owner, a service's is stored on the
        engine's thread in a fenced transaction; on a node that does not lead, nothing.
        """
        if self.role is not None:
            if self.role.leading is None:
                return
            changes = [ServiceChange.from_transition(t) for t in transitions
                       if isinstance(t, ServiceTransition)]
            if changes:
                self.incidents.record_changes(changes)
        for transition in transitions:
            if self.role is None:
                self.writer.submit_transition(transition)
            if self._events is not None:
                self._events.put_nowait(transition)
        self.incidents.on_transitions(transitions)

    async def _dispatch_events(self) -> None:
        assert self._events is not None
        pm = self.plugin_manager
        while True:
            transition = await self._events.get()
            try:
                if isinstance(transition, CheckTransition):
                    await fire(pm, "vigie_check_status_changed", failures=self.hook_failures,
                               check=transition.check,
                               previous=transition.previous, current=transition.current,
                               result=transition.result)
                elif isinstance(transition, ServiceTransition):
                    self._log_service(transition)
                    await fire(pm, "vigie_service_status_changed", failures=self.hook_failures,
                               service=transition.service,
                               previous=transition.previous, current=transition.current,
                               at=transition.at)
            finally:
                self._events.task_done()

    @staticmethod
    def _log_service(t: ServiceTransition) -> None:
        previous = t.previous.label if t.previous else "none"
        log.info("service %s: %s -> %s", t.service.id, previous, t.current.label)

    async def _on_cycle(self, at: float, checks: int, duration: float) -> None:
        await fire(self.plugin_manager, "vigie_cycle_completed", failures=self.hook_failures,
                   at=at, checks=checks, duration=duration)

    # Start-up -------------------------------------------------------------------------

    async def _open_store_at_start(self) -> bool:
        """Prepare the database; False when it is unreachable: probing starts anyway,
        results wait in memory and :meth:`_retry_store` keeps trying, so an outage of the
        database stops neither the probes nor the alerts.

        :raises StartupError: the schema is not the one this version needs.
        """
        try:
            stored = await asyncio.to_thread(self._open_store)
        except SchemaOutOfDate as exc:
            raise StartupError(f"database {self.store.safe_url}: {exc}") from None
        except Exception as exc:
            if not is_transient(exc):
                raise
            self.writer_stats.database_up = False
            log.warning("database %s unreachable at start (%s); probing anyway, keeping "
                        "results in memory (up to %d) and retrying in the background",
                        self.store.safe_url, first_line(exc), self.writer.buffer_limit)
            return False
        await self._store_opened(stored, late=False)
        return True

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set; save what is in flight before returning."""
        self._loop = asyncio.get_running_loop()
        self.locations.started(self._loop)
        self._events = asyncio.Queue()
        self._stop = stop
        server = self.config.file.server
        raise_nofile_limit()
        malloc.configure()
        options = server.listener_options()
        if self.agents is not None:
            options["paths"] = self.agents.listener_paths(options["paths"])
        try:
            # bind first: a taken address fails at once, before any database work
            self.web = make_listener(self.router, server.host, server.port, server.threads,
                                     reserve=descriptor_reserve(self.config),
                                     stats=self.listener_stats,
                                     on_shortage=lambda: self.shortage.note("listener"),
                                     spool_dir=self.config.data_dir / "spool",
                                     **options)
        except OSError as exc:
            raise StartupError(listen_error(server.listen, exc)) from None
        try:
            store_ok = await self._open_store_at_start()
            if self.role is not None and store_ok:
                await self.role.join()
        except NodeNameTaken as exc:
            self.web.stop()
            raise StartupError(str(exc)) from None
        except BaseException:
            self.web.stop()
            raise
        async with LazyHttpSession() as http:
            self.scheduler = Scheduler(
                # (a check run only from remote locations is run by their agents)
                [c for c in self.config.checks
                 if c.enabled and runs_here(c, self.locations.here)], self.registry, http,
                self.on_result, concurrency=self.config.file.scheduler.concurrency,
                spread_first_runs=self.config.file.scheduler.spread_first_runs,
                stats=self.scheduler_stats, on_cycle=self._on_cycle,
                # a node runs no check before it knows which are its own
                owned=None if self.role is None else ())
            await fire(self.plugin_manager, "vigie_startup", failures=self.hook_failures,
                       ctx=self.startup_context(), runtime=self)
            self.web.start()
            background = [asyncio.create_task(self._dispatch_events(), name="vigie-events"),
                          asyncio.create_task(self._housekeeping(), name="vigie-housekeeping"),
                          asyncio.create_task(self._teller.run(), name="vigie-shortages"),
                          asyncio.create_task(self.locations.run(), name="vigie-locations")]
            background += [asyncio.create_task(c) for c in (
                               self.incidents.tasks() if self.role is None
                               else self.incidents.watch_tasks())
                           + self.webhooks.tasks()
                           + (self.assistance.tasks() if self.assistance else [])
                           + (self.subscriptions.tasks() if self.subscriptions else [])
                           + (self.agents.tasks() if self.agents else [])]
            if not store_ok:
                background.append(asyncio.create_task(self._retry_store(), name="vigie-store"))
            if self.role is not None:
                background.append(asyncio.create_task(self.role.run(), name="vigie-cluster"))
            if self.followed is not None:
                background.append(asyncio.create_task(self._follow_results(),
                                                      name="vigie-location-results"))
            log.info("Vigie %s: %d checks, listening on http://%s:%d/", __version__,
                     len(self._checks), server.host, self.web.port)
            # start-up's transient allocations (YAML events, catalog sync, first SQL
            # compilations) are freed by now; glibc keeps their pages unless asked
            malloc.trim()
            if ready is not None:
                ready.set()
            try:
                await self.scheduler.run(stop)
                await asyncio.wait_for(self._events.join(), timeout=10)
            except TimeoutError:
                log.warning("some plugin events were still pending at shutdown")
            finally:
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                if self.role is not None:
                    await self.role.stop()
                    self.incidents.owner_executor.shutdown(wait=True)
                await fire(self.plugin_manager, "vigie_shutdown", failures=self.hook_failures,
                           ctx=self.startup_context(), runtime=self)
                self.web.stop()
                await self.incidents.stop()
                if not self.store_ready and self.writer_stats.buffered:
                    log.error("stopping before the database could be reached: %d results "
                              "not written", self.writer_stats.buffered)
                await asyncio.to_thread(self.writer.stop)
                await self.registry.aclose()
                self.store.dispose()


def apply_overrides(config: Config, data_dir: Path | None = None,
                    listen: str | None = None) -> Config:
    """A copy of ``config`` with the data directory or listen address replaced."""
    file = config.file
    if data_dir is not None:
        file = file.model_copy(update={"data_dir": str(Path(data_dir).resolve())})
    if listen is not None:
        file = file.model_copy(update={"server": file.server.model_copy(update={"listen": listen})})
    return dataclasses.replace(config, file=file)


async def serve(config: Config, plugin_manager: pluggy.PluginManager,
                registry: ProbeRegistry, *, ready: asyncio.Event | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run Vigie on a loaded configuration until SIGINT/SIGTERM or ``stop`` is set."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        await Runtime(config, plugin_manager, registry).run(stop, ready)
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


async def run_from_path(path: Path, *, data_dir: Path | None = None, listen: str | None = None,
                        ready: asyncio.Event | None = None, stop: asyncio.Event | None = None,
                        plugin_manager: pluggy.PluginManager | None = None) -> None:
    """Load the configuration at ``path`` and run Vigie until SIGINT/SIGTERM or ``stop``.

    :raises monitor.config_loader.ConfigError: the configuration is invalid.
    """
    pm, registry, config = load_with_plugins(path, plugin_manager)
    config = apply_overrides(config, data_dir, listen)
    await serve(config, pm, registry, ready=ready, stop=stop)
