"""What a plugin receives at start-up and shutdown: :class:`StartupContext`.

``vigie_startup(ctx)`` and ``vigie_shutdown(ctx)`` get exactly what the plugins use, not
the whole :class:`~monitor.runtime.Runtime`: the configuration, the live states, the
store, the probe kinds, the incident context, and a few functions (serve a WSGI app,
record a pushed result or a remote location's result, read the locations' grid,
register a per-run plugin object, ask whether the database is up). The runtime builds
one (:meth:`monitor.runtime.Runtime.startup_context`); a test builds its own with the
parts it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.assistance.service import AssistanceService
    from monitor.config import Config
    from monitor.incidents.context import IncidentContext
    from monitor.locations.records import LocationGrid
    from monitor.plugins import ProbeRegistry
    from monitor.probe import ProbeResult
    from monitor.state import StateBook
    from monitor.store import Store
    from monitor.subscriptions.service import Subscriptions


def _outside_vigie_run(name: str) -> Callable[..., Any]:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{name}() is only available inside `vigie run`")

    unavailable.__name__ = name
    return unavailable


@dataclass(frozen=True, slots=True, kw_only=True)
class StartupContext:
    """Everything ``vigie_startup`` and ``vigie_shutdown`` give a plugin.

    Keep it if you need it later (a plugin object may store it in ``vigie_startup``).
    """

    #: the loaded configuration (``config.sections[name]`` for a plugin's own section,
    #: ``config.services``, ``config.checks``, ``config.data_dir``, ``config.file.site``)
    config: Config
    #: live check and service states (read only)
    state: StateBook
    #: the database (the dashboard reads it); None when not running against one
    store: Store | None = None
    #: the probe kinds and their shared instances (a plugin finds its own probe here)
    probes: ProbeRegistry | None = None
    #: the running incident context (volunteers' operations in ``vigie run``), or None
    incidents: IncidentContext | None = None
    #: ``mount(prefix, wsgi_app)``: serve a WSGI application under a path prefix on
    #: Vigie's listener
    mount: Callable[[str, Callable[..., Any]], None] = field(
        default=_outside_vigie_run("mount"))
    #: ``submit_result(check_key, result)``: record a push-based check's result
    #: (thread-safe; the result crosses the same boundary as a probed one)
    submit_result: Callable[[str, ProbeResult], None] = field(
        default=_outside_vigie_run("submit_result"))
    #: ``submit_location_result(check_key, location, result)``: record the result of a
    #: check run at a remote location (what a ``vigie agent`` pushed). Thread-safe; the
    #: result crosses the same boundary as a probed one, and is applied, in the order of
    #: the calls, to that location's damped state, then to the check's consensus (see
    #: docs/locations.md). Raises ``KeyError`` for an unknown check and
    #: ``monitor.locations.system.LocationNotAssigned`` (a ``ValueError``) when the check
    #: does not run from that location
    submit_location_result: Callable[[str, str, ProbeResult], None] = field(
        default=_outside_vigie_run("submit_location_result"))
    #: ``location_grid()``: the check × location picture now
    #: (:class:`monitor.locations.records.LocationGrid`, frozen), for volunteers' pages;
    #: None outside ``vigie run`` (the per-location states live in its memory)
    location_grid: Callable[[], LocationGrid] | None = None
    #: ``add_plugin(plugin, name)``: register a per-run object carrying hookimpls; the
    #: durable hooks' subscribers follow (``IncidentContext.refresh_subscribers``): its
    #: outbox rows are written from the next event on, and the outbox gives it a lane. An
    #: object may define ``accepts_event(event) -> bool`` to have rows only for the
    #: events it wants (``IncidentContext.wants``)
    add_plugin: Callable[[object, str], Any] = field(default=_outside_vigie_run("add_plugin"))
    #: ``remove_plugin(name)``: unregister it again (no row is written for it any more;
    #: those still pending are dead-lettered); returns it, or None
    remove_plugin: Callable[[str], Any] = field(default=_outside_vigie_run("remove_plugin"))
    #: whether the last write to the database succeeded
    database_up: Callable[[], bool] = field(default=lambda: True)
    #: ``is_leader()``: whether this process does what must happen once. Always True for
    #: a single Vigie; in a cluster (several ``vigie run`` on one database, see
    #: docs/cluster.md), True only on the node that leads now. A plugin's periodic work
    #: that must not be done by every node (a refresh that writes somewhere shared, a
    #: purge) asks it at each round
    is_leader: Callable[[], bool] = field(default=lambda: True)
    #: the members' assistance (:class:`monitor.assistance.service.AssistanceService`)
    #: when ``assistance.enabled``, else None
    assistance: AssistanceService | None = None
    #: the members' e-mail subscriptions (:class:`monitor.subscriptions.service.Subscriptions`)
    #: when ``subscriptions.enabled``, else None
    subscriptions: Subscriptions | None = None
