"""A maintenance window cancelled: which occurrences are called off, and who is told.

Whoever was told "Sunday's maintenance will cut your lists" must hear when volunteers
cancel it. :func:`emit_cancellation` writes the ``cancelled``
:class:`~monitor.notifications.MaintenanceEvent` rows of a cancelled window, one per
occurrence and plugin (key ``maintenance:<window>:<start>:cancelled:<plugin>``, so
writing them twice writes nothing), for the occurrences not over at the cancellation:

- to each plugin told of the occurrence ahead of it (an ``announced`` or ``reminder``
  row for it);
- for a recurring window, its next occurrence (the first starting at or after the
  cancellation: the one the calendars mark cancelled) to every plugin;
- to a plugin told of every window as soon as it is planned
  (``IncidentContext.announce_planned``: members' mail, which then writes only to the
  members it told), the occurrence running or next at the cancellation too;

never an occurrence the plugin was told had started: that one ends at the cancellation
and the ticker says ``ended``, as for any window cancelled while it runs. And only to
plugins that want it: ``cancelled`` is a kind a plugin asks for
(:meth:`~monitor.incidents.context.IncidentContext.wants`).

It runs in the cancelling transaction
(:meth:`~monitor.incidents.maintenance_ops.MaintenanceOperations.cancel_maintenance`), and
again in the ticker's next pass for the windows cancelled lately
(:class:`~monitor.incidents.maintenance.MaintenanceTicker`): that pass writes what the
cancelling process could not (the command line and a dashboard serving alone know no
members' mail; a window removed from the configuration file is cancelled at start).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.incidents.context import IncidentContext
from monitor.incidents.emit import emit_maintenance, maintenance_key_parts
from monitor.incidents.maintenance import catalog, covered_services, refusal
from monitor.incidents.models import MaintenanceWindow, OutboxEntry
from monitor.incidents.recurrence import Occurrence, next_occurrence, occurrences

HOOK = "vigie_maintenance_changed"
#: the kinds that tell a plugin of an occurrence ahead of it
TOLD_AHEAD = frozenset({"announced", "reminder"})


def emit_cancellation(session: Session, ctx: IncidentContext, window: MaintenanceWindow, *,
                      at: float, services: Mapping[str, str | None] | None = None) -> int:
    """Write the ``cancelled`` rows of ``window`` (cancelled: ``cancelled_at`` set), at
    ``at``, in the caller's transaction; return how many rows were new.

    :param services: the active services and their group (default: read here).
    """
    cut = window.cancelled_at
    plugins = ctx.subscribers.get(HOOK, ())
    if cut is None or not plugins or refusal(window) is not None:
        return 0
    covered = covered_services(window, catalog(session) if services is None else dict(services))
    if not covered:
        return 0
    heard = _heard(session, window.id, plugins)
    current = _running_or_next(window, cut)
    following = current
    if current is not None and current.start < cut:
        following = _running_or_next(window, current.end)
    candidates = {int(o.start): o for o in (current, following) if o is not None}
    for start in heard.keys() - candidates.keys():
        found = _starting_at(window, start)
        if found is not None:  # not one any more when the window was moved since
            candidates[start] = found
    written = 0
    for start, occ in sorted(candidates.items()):
        if occ.end <= max(cut, at):
            continue
        told = heard.get(start, {})
        chosen = tuple(p for p in plugins if p not in told.get("started", ()) and (
            any(p in told.get(kind, ()) for kind in TOLD_AHEAD)
            or (window.rule is not None and following is not None
                and start == int(following.start))
            or (p in ctx.announce_planned and current is not None
                and start == int(current.start))))
        if chosen:
            only = dataclasses.replace(ctx, subscribers={HOOK: chosen})
            written += emit_maintenance(session, only, window, "cancelled", occ.start,
                                        occ.end, at=at, service_ids=covered)
    return written


def _heard(session: Session, window_id: int,
           plugins: tuple[str, ...]) -> dict[int, dict[str, set[str]]]:
    """What each plugin was told of the window: occurrence start → kind → plugins (from
    the outbox rows still there; delivered ones are pruned after
    ``incidents.outbox.keep_delivered``)."""
    out: dict[int, dict[str, set[str]]] = {}
    for key in session.scalars(select(OutboxEntry.idempotency_key).where(
            OutboxEntry.plugin.in_(plugins), OutboxEntry.stream == f"maintenance:{window_id}",
            OutboxEntry.hook == HOOK)):
        parts = maintenance_key_parts(key)
        if parts is not None and parts[0] == window_id:
            _, start, kind, plugin = parts
            out.setdefault(start, {}).setdefault(kind, set()).add(plugin)
    return out


def _running_or_next(window: MaintenanceWindow, at: float) -> Occurrence | None:
    """The window's occurrence running at ``at`` or the next one, as if it had not been
    cancelled."""
    if window.rule is None:
        if window.starts_at is None or window.ends_at is None or window.ends_at <= at:
            return None
        return Occurrence(window.starts_at, window.ends_at)
    return next_occurrence(window.rule, window.duration or 0.0, window.timezone, at,
                           anchor=window.starts_at)


def _starting_at(window: MaintenanceWindow, start: int) -> Occurrence | None:
    """The window's occurrence starting at ``start`` (whole seconds), if it has one."""
    if window.rule is None:
        if window.starts_at is None or window.ends_at is None or int(window.starts_at) != start:
            return None
        return Occurrence(window.starts_at, window.ends_at)
    found = occurrences(window.rule, window.duration or 0.0, window.timezone, start,
                        start + 1.0, anchor=window.starts_at)
    return next((o for o in found if int(o.start) == start), None)
