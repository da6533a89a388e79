"""Hook specifications: every way a plugin can extend Vigie.

Hooks are grouped by phase. Each docstring says when the hook fires, its parameters, what
it returns and whether the implementation may be a coroutine function; the plugin author
guide is generated from these docstrings, and a test fails when one is missing.

Registration hooks are synchronous and called once when the plugin manager is built.
Event hooks are called by :func:`monitor.events.fire`, which calls every implementation
separately through pluggy's hook caller (:func:`monitor.plugins.call_each`), awaits
coroutine results, and logs and counts an implementation that raises without stopping the
others. Durable hooks are called by the outbox worker, one plugin per row. No hook is
``firstresult`` or ``historic``; wrapper implementations are refused (see
:mod:`monitor.plugins`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from monitor.assistance.request import AssistanceQuery, AssistanceRequest
    from monitor.notifications import IncidentEvent, MaintenanceEvent, SystemAlert
    from monitor.probe import Probe, ProbeResult
    from monitor.runtime import Runtime
    from monitor.startup import StartupContext
    from monitor.state import CheckState, ServiceState
    from monitor.subscriptions.jobs import MemberMailJob

PROJECT = "vigie"

hookspec = pluggy.HookspecMarker(PROJECT)

#: a plugin asking for the whole runtime is told once, when it is registered
RUNTIME_DEPRECATED = DeprecationWarning(
    "the 'runtime' argument of vigie_startup and vigie_shutdown is deprecated: take 'ctx' "
    "(a monitor.startup.StartupContext with what plugins use) instead")


# Registration phase ---------------------------------------------------------------------


@hookspec
def vigie_register_probes() -> list[type[Probe]]:
    """Return the probe classes this plugin provides.

    Fires once, when the plugin manager is built (``vigie run``, ``vigie check``,
    ``vigie probes``, ``vigie config check``).

    :return: a list of :class:`monitor.probe.Probe` subclasses; each ``kind`` must be
        unique across all plugins, or Vigie refuses to start and names both plugins.

    Synchronous.
    """


@hookspec
def vigie_register_commands() -> list[click.Command]:
    """Return extra ``vigie`` sub-commands (click commands) this plugin provides.

    Fires once, when the command line is built. A command whose name is already taken
    is refused with an error naming the plugin.

    :return: a list of :class:`click.Command` objects.

    Synchronous.
    """


# Run phase ------------------------------------------------------------------------------


@hookspec(warn_on_impl_args={"runtime": RUNTIME_DEPRECATED})
def vigie_startup(ctx: StartupContext, runtime: Runtime) -> Any:
    """Called once when ``vigie run`` has loaded its configuration and store, before the
    first check runs.

    :param ctx: a :class:`monitor.startup.StartupContext`, what a plugin may use:
        ``ctx.config`` (the loaded configuration, ``config.sections`` included),
        ``ctx.state`` (live check and service states, read only), ``ctx.store`` (the
        database), ``ctx.probes`` (probe kinds and their shared instances),
        ``ctx.incidents`` (the running incident context), ``ctx.mount(prefix, wsgi_app)``
        to serve a WSGI application under a path prefix, ``ctx.submit_result(check_key,
        result)`` (thread-safe) to record the result of a push-based check,
        ``ctx.add_plugin(obj, name)`` / ``ctx.remove_plugin(name)`` for a per-run object
        carrying hookimpls (durable ones too: the subscribers follow),
        ``ctx.database_up()``, and ``ctx.is_leader()`` (True except on a node of a cluster
        that does not lead now: periodic work that must happen once asks it each round).
    :param runtime: deprecated: the whole :class:`monitor.runtime.Runtime`; asking for it
        gives a ``DeprecationWarning`` when the plugin is registered. Take ``ctx``.
    :return: nothing.

    May be a coroutine function.
    """


@hookspec(warn_on_impl_args={"runtime": RUNTIME_DEPRECATED})
def vigie_shutdown(ctx: StartupContext, runtime: Runtime) -> Any:
    """Called once when ``vigie run`` stops (SIGTERM, SIGINT), after the last results are
    saved. Release what ``vigie_startup`` acquired.

    :param ctx: the same :class:`monitor.startup.StartupContext` ``vigie_startup`` got.
    :param runtime: deprecated: the :class:`monitor.runtime.Runtime` that is stopping;
        take ``ctx``.
    :return: nothing.

    May be a coroutine function.
    """


# State events ---------------------------------------------------------------------------


@hookspec
def vigie_check_status_changed(
    check: CheckState, previous: Any, current: Any, result: ProbeResult
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
    service: ServiceState, previous: Any, current: Any, at: float
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


# Incident, maintenance and system events (durable: delivered through the outbox) ------


@hookspec
def vigie_incident_links(event: IncidentEvent) -> Any:
    """Return links to attach to an incident *before* its events are written, so that
    alerts and forum posts already carry them (guides found in a local, cached index).

    Fires synchronously inside the incident engine when an incident opens or changes
    impact. Must be fast and must not do network I/O (use a cache refreshed elsewhere);
    anything slow belongs in ``vigie_incident_opened``.

    :param event: the :class:`monitor.notifications.IncidentEvent` about to be written.
    :return: a list of :class:`monitor.notifications.Link`, or None.

    Synchronous.
    """


@hookspec
def vigie_incident_opened(event: IncidentEvent) -> Any:
    """Deliver the news that an incident opened (alert volunteers, create a forum topic,
    open a helpdesk ticket…).

    Fires from the outbox worker, once per implementing plugin, after the transaction that
    opened the incident committed; retried with exponential backoff until it succeeds or
    is dead-lettered. ``event.idempotency_key`` is the same on every retry. Each plugin
    has its own lane: calls about *different* incidents may run at the same time (up to
    ``incidents.outbox.concurrency``), one incident's events come one after the other.

    :param event: a :class:`monitor.notifications.IncidentEvent` with ``kind="opened"``.
    :return: a list of :class:`monitor.notifications.Link` to attach to the incident
        (a ticket, a forum topic), or None. Raise
        :class:`monitor.notifications.RetryLater` to honour a ``Retry-After``, or
        :class:`monitor.notifications.PermanentFailure` to dead-letter with a message.

    May be a coroutine function.
    """


@hookspec
def vigie_incident_updated(event: IncidentEvent) -> Any:
    """Deliver an incident update: impact changed, a volunteer posted an update or a
    post-mortem, or a reminder while it stays open (``event.kind == "reminder"``).

    Fires from the outbox worker like :func:`vigie_incident_opened`, in order after it for
    the same plugin. ``event.own_links`` holds the links this plugin attached earlier.

    :param event: a :class:`monitor.notifications.IncidentEvent` (``kind`` "updated" or
        "reminder").
    :return: links to attach, or None; the same exceptions as ``vigie_incident_opened``.

    May be a coroutine function.
    """


@hookspec
def vigie_incident_resolved(event: IncidentEvent) -> Any:
    """Deliver the resolution of an incident (close the ticket, reply on the topic, tell
    volunteers it is over).

    Fires from the outbox worker like :func:`vigie_incident_opened`.

    :param event: a :class:`monitor.notifications.IncidentEvent` with ``kind="resolved"``.
    :return: links to attach, or None; the same exceptions as ``vigie_incident_opened``.

    May be a coroutine function.
    """


@hookspec
def vigie_maintenance_changed(event: MaintenanceEvent) -> Any:
    """Deliver a maintenance event: a window announced, started, ended or cancelled.

    Fires from the outbox worker, once per implementing plugin, with retries.
    ``event.kind`` is ``announced`` (``announce_before`` ahead of an occurrence),
    ``started`` or ``ended``; a plugin the core registered asking for more (Vigie's own
    member mail: ``IncidentContext.announce_planned`` and ``reminders_before``) also gets
    ``announced`` as soon as a window is planned or moved, and ``reminder`` some time
    before each occurrence; other plugins never see a ``reminder``.

    ``cancelled`` (``event.cancelled_at`` says when) reaches only a plugin that asks for
    it: its plugin object defines ``accepts_event(event) -> bool`` and says yes to it (a
    plugin without ``accepts_event`` gets every other kind, never this one, so one
    written before it existed is never told of a kind it might word as another). It is
    written with the cancellation, for each occurrence not over then that the plugin was
    told of ahead (an ``announced`` or ``reminder`` event), and, for a recurring window,
    for the next occurrence (the one calendars mark cancelled); never for an occurrence
    the plugin got ``started`` for: that one gets ``ended`` at the cancellation, as
    before. ``starts_at`` and ``ends_at`` are the occurrence's planned times.

    :param event: a :class:`monitor.notifications.MaintenanceEvent`.
    :return: nothing; the same exceptions as ``vigie_incident_opened``.

    May be a coroutine function.
    """


@hookspec
def vigie_system_alert(alert: SystemAlert) -> Any:
    """Deliver an alert about Vigie itself or an early warning: the database is
    unreachable, the outbox backlog grows, a plugin keeps failing, a certificate expires
    soon, Vigie ran short of file descriptors or memory (``vigie.resources``: runs that
    could not be judged, or the listener pausing).

    Fires from the outbox worker, once per implementing plugin; or directly, best effort
    (no retry), when the database itself is the problem: ``store.unreachable``, and
    ``unrecorded.down`` / ``unrecorded.up`` for a service failing (or working again) while
    its change waits for the database.

    :param alert: a :class:`monitor.notifications.SystemAlert`.
    :return: nothing; the same exceptions as ``vigie_incident_opened``.

    May be a coroutine function.
    """


# Members' assistance -------------------------------------------------------------------


@hookspec
def vigie_assistance_suggestions(query: AssistanceQuery) -> Any:
    """Return guides or public forum threads that may answer a member's question, shown on
    the second step of ``/assistance/`` before the member writes to the volunteers.

    Fires while the member's page is being built, once per implementing plugin (a failing
    plugin is logged and skipped). A coroutine implementation runs on Vigie's event loop;
    every implementation has ``assistance.suggest_timeout`` seconds in all, after which its
    answer is ignored, so a slow forum never holds the member's page. Only public material:
    never a volunteers' category or a private link.

    :param query: a :class:`monitor.assistance.request.AssistanceQuery` (the member's words,
        the service and its group, the language).
    :return: a list of :class:`monitor.assistance.request.Suggestion`, best first, or None.

    May be a coroutine function.
    """


@hookspec
def vigie_assistance_request(request: AssistanceRequest) -> Any:
    """Deliver a member's request for help to the helpdesk: one ticket with the member's
    words and screenshots, and an internal note with the context for volunteers.

    Fires from the outbox worker for the plugin named by ``assistance.desk``, after the
    transaction that recorded the request committed; retried like
    :func:`vigie_incident_opened` until it succeeds or is dead-lettered, with the same
    ``request.idempotency_key`` on every retry: a plugin must create one ticket whatever
    the number of attempts (look the reference up at the desk, or send with a key the desk
    deduplicates). The screenshots' files stay readable until the delivery succeeded.
    (Vigie's own ``assistance-receipt`` implements it too, with an outbox row of its own:
    it mails the member the receipt when ``mail:`` is set.)

    :param request: a :class:`monitor.assistance.request.AssistanceRequest`.
    :return: a list of :class:`monitor.notifications.Link` (the ticket, ``public=False``),
        or None; the same exceptions as ``vigie_incident_opened``.

    May be a coroutine function.
    """


# Members' subscriptions ----------------------------------------------------------------


@hookspec
def vigie_member_mail(job: MemberMailJob) -> Any:
    """Send members' subscription mails: the answer to a sign-up (``job.kind ==
    "confirm"``: the confirmation link, or the manage link of an address already
    confirmed) or one incident or maintenance event to a batch of subscribers
    (``"event"``).

    Fires from the outbox worker for the plugin the row names, after the transaction that
    wrote it committed; retried like :func:`vigie_incident_opened` until it succeeds or is
    dead-lettered, with the same ``job.idempotency_key``: each subscriber must get the
    mail once whatever the number of attempts (the sender keeps a ledger per subscriber
    and key). The job names subscribers by id; their addresses are read when sending, so
    a subscriber who left is skipped. Vigie's own member-mail implements it (plugin
    ``member-mail``, registered when ``mail:`` is set); a confirmation row's token is
    blanked in the outbox once delivered.

    :param job: a :class:`monitor.subscriptions.jobs.MemberMailJob`.
    :return: nothing; the same exceptions as ``vigie_incident_opened``
        (:class:`~monitor.notifications.RetryLater` when the mail server asks to wait).

    May be a coroutine function.
    """


@hookspec
def vigie_register_config_sections() -> Any:
    """Return the top-level configuration sections this plugin owns, as a mapping from
    section name to a :class:`monitor.schema.StrictModel` subclass (e.g.
    ``{"notifications": NotifierSettings}``).

    Fires once, when a configuration is loaded. The section is validated as strictly as
    the core's (unknown keys refused, errors with file, line and key) and is available as
    ``config.sections[name]`` (None when absent from the file). A name taken by the core or
    another plugin is refused.

    :return: a dict ``{section name: model class}``.

    Synchronous.
    """
