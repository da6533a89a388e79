"""Hook specifications: every way a plugin can extend Vigie.

Hooks are grouped by phase. Each docstring says when the hook fires, its parameters, what
it returns and whether the implementation may be a coroutine function; the plugin author
guide is generated from these docstrings, and a test fails when one is missing.

Registration hooks are synchronous and called once when the plugin manager is built.
Event hooks are called by :func:`monitor.events.fire`, which calls every implementation
separately, awaits coroutine results, and logs and counts an implementation that raises
without stopping the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from monitor.probe import Probe, ProbeResult
    from monitor.runtime import Runtime
    from monitor.state import CheckState, ServiceState

PROJECT = "vigie"

hookspec = pluggy.HookspecMarker(PROJECT)


# Registration phase ---------------------------------------------------------------------


@hookspec
def vigie_register_probes() -> list[type["Probe"]]:
    """Return the probe classes this plugin provides.

    Fires once, when the plugin manager is built (``vigie run``, ``vigie check``,
    ``vigie probes``, ``vigie config check``).

    :return: a list of :class:`monitor.probe.Probe` subclasses; each ``kind`` must be
        unique across all plugins, or Vigie refuses to start and names both plugins.

    Synchronous.
    """


@hookspec
def vigie_register_commands() -> list["click.Command"]:
    """Return extra ``vigie`` sub-commands (click commands) this plugin provides.

    Fires once, when the command line is built. A command whose name is already taken
    is refused with an error naming the plugin.

    :return: a list of :class:`click.Command` objects.

    Synchronous.
    """


# Run phase ------------------------------------------------------------------------------


@hookspec
def vigie_startup(runtime: "Runtime") -> Any:
    """Called once when ``vigie run`` has loaded its configuration and store, before the
    first check runs.

    :param runtime: the running :class:`monitor.runtime.Runtime`; a plugin may keep it to
        submit results of push-based checks (``runtime.submit_result``) or to mount a
        WSGI application under a path prefix (``runtime.mount``).
    :return: nothing.

    May be a coroutine function.
    """


@hookspec
def vigie_shutdown(runtime: "Runtime") -> Any:
    """Called once when ``vigie run`` stops (SIGTERM, SIGINT), after the last results are
    saved. Release what ``vigie_startup`` acquired.

    :param runtime: the :class:`monitor.runtime.Runtime` that is stopping.
    :return: nothing.

    May be a coroutine function.
    """


# State events ---------------------------------------------------------------------------


@hookspec
def vigie_check_status_changed(
    check: "CheckState", previous: Any, current: Any, result: "ProbeResult"
) -> Any:
    """Fires when a check's *confirmed* status changes (after damping: a check becomes
    ``down`` only after ``confirm`` consecutive failures; it becomes ``up`` on the first
    success).

    :param check: the check's live state (``check.ref``, ``check.service_id``, counters).
    :param previous: the former :class:`monitor.probe.Status`, or ``None`` on the first
        result after start when no earlier status was stored.
    :param current: the new :class:`monitor.probe.Status`.
    :param result: the :class:`monitor.probe.ProbeResult` that caused the change.
    :return: nothing.

    May be a coroutine function.
    """


@hookspec
def vigie_service_status_changed(
    service: "ServiceState", previous: Any, current: Any, at: float
) -> Any:
    """Fires when a service's derived status changes (operational, degraded,
    partial_outage, major_outage, maintenance, unknown).

    :param service: the service's live state (``service.id``, ``service.checks``).
    :param previous: the former :class:`monitor.state.ServiceStatus`, or ``None`` at start.
    :param current: the new :class:`monitor.state.ServiceStatus`.
    :param at: Unix time of the change.
    :return: nothing.

    May be a coroutine function.
    """


@hookspec
def vigie_cycle_completed(at: float, checks: int, duration: float) -> Any:
    """Fires when every enabled check has completed at least one run since the previous
    cycle: the heartbeat of the scheduler (a dead-man URL is called from here).

    :param at: Unix time the cycle completed.
    :param checks: number of checks in the cycle.
    :param duration: seconds the cycle took.
    :return: nothing.

    May be a coroutine function.
    """
