"""The notifier: takes an event, picks its receivers, sends the message, reports failure.

A delivery either fully succeeds or raises, as the outbox expects: the receivers that took
the alert are remembered (:class:`~plugins.notify_apprise.memo.DeliveryMemo`), so when the
outbox retries, only those that missed it are tried again. A receiver answering 429 makes
the hook raise :class:`~monitor.notifications.RetryLater`; any other failure raises
:class:`DeliveryFailed` (retried with backoff). An opening held for a grouped alert
(:mod:`~plugins.notify_apprise.storm`) raises ``RetryLater`` too, until the group is sent.

A message is written when it is sent, with the incident's state at that moment
(:mod:`~plugins.notify_apprise.live`): a held or retried alert never reports as broken a
service that has recovered since.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from monitor.api import Config, IncidentEvent, RetryLater
from plugins.notify_apprise.live import StateNow, incident_now
from plugins.notify_apprise.memo import Audience, DeliveryMemo
from plugins.notify_apprise.messages import (
    Message,
    MessageContext,
    message_for,
    storm_message,
)
from plugins.notify_apprise.routing import Event, event_name, scope, select
from plugins.notify_apprise.settings import NotifierSettings
from plugins.notify_apprise.storm import Clock, StormGate
from plugins.notify_apprise.targets import (
    Outcome,
    ReceiverConfigError,
    Target,
    load_targets,
    send,
)

if TYPE_CHECKING:
    from monitor.api import StateBook

log = logging.getLogger(__name__)

#: extra time given to Apprise past its own deadline before a receiver counts as hung
_GRACE = 5.0


class DeliveryFailed(Exception):
    """Some receivers did not take the alert; the outbox retries the event later."""


class Notifier:
    """Alerts volunteers through Apprise; one per running Vigie."""

    def __init__(self, settings: NotifierSettings, targets: Sequence[Target],
                 ctx: MessageContext | None = None,
                 service_groups: Mapping[str, str | None] | None = None,
                 broken: str | None = None, clock: Clock | None = None,
                 states: StateBook | None = None) -> None:
        """
        :param targets: the receivers (:func:`~plugins.notify_apprise.targets.load_targets`).
        :param ctx: languages, time zone, status page and names for the messages.
        :param service_groups: service id → group id, to route system alerts.
        :param broken: why the receivers could not be built; every delivery then fails
            with it (the outbox keeps the events and shows the reason).
        :param clock: the storm gate's time source (the event loop's by default).
        :param states: the live service states (``runtime.state``), read when a message is
            written; without them a message tells the state its event was written with.
        """
        self.settings = settings
        self.targets = list(targets)
        self.ctx = ctx or MessageContext(languages=tuple(settings.languages))
        self.service_groups = dict(service_groups or {})
        self.broken = broken
        self.states = states
        self.memo = DeliveryMemo()
        self.audience = Audience()
        storm = settings.storm
        self.storm = StormGate(storm.window, storm.threshold, storm.hold,
                               self._deliver_group, clock)

    @classmethod
    def from_config(cls, settings: NotifierSettings, config: Config, *,
                    states: StateBook | None = None, clock: Clock | None = None) -> Notifier:
        """A notifier for a loaded configuration (receivers, site, services and groups);
        ``states`` and ``clock`` as for the constructor."""
        site = config.file.site
        ctx = MessageContext(
            languages=tuple(settings.languages), timezone=site.timezone,
            public_url=site.public_url,
            group_names={g.id: g.name for g in config.file.groups},
            service_names={s.id: s.name for s in config.services})
        groups = {s.id: s.group for s in config.services}
        for problem in unknown_references(settings, config):
            log.warning("notifier: %s", problem)
        try:
            targets = load_targets(settings, config.path.parent, site.public_url)
        except ReceiverConfigError as exc:
            log.error("notifier: %s; alerts are kept in the outbox until this is fixed", exc)
            return cls(settings, [], ctx, groups, broken=str(exc), clock=clock, states=states)
        return cls(settings, targets, ctx, groups, clock=clock, states=states)

    async def deliver(self, event: Event) -> None:
        """Send ``event`` to its receivers, unless ``events:`` leaves it out.

        :raises RetryLater: held for a grouped alert (storm control), or every receiver
            that failed answered 429.
        :raises DeliveryFailed: a receiver failed otherwise (or none could be built).
        """
        if event_name(event) not in self.settings.events:
            return
        if (isinstance(event, IncidentEvent) and event.kind == "opened"
                and self.settings.storm.enabled):
            await self.storm.admit(event)  # raises RetryLater while held for a group
        await self._deliver(event)

    async def aclose(self) -> None:
        """Stop (at shutdown): an open storm's openings stay in the outbox for after the
        restart; a grouped alert being sent is waited for."""
        await self.storm.aclose()

    # One event -------------------------------------------------------------------------

    def receivers(self, event: Event) -> list[Target]:
        """The receivers of ``event``: its routes, plus for an incident every receiver
        that already heard of it."""
        if self.broken:
            raise DeliveryFailed(self.broken)
        chosen = select(scope(event, self.service_groups), self.targets,
                        self.settings.routes, self.settings.default_tags)
        if isinstance(event, IncidentEvent):
            heard = self.audience.of(event.incident_id)
            chosen_ids = {t.id for t in chosen}
            chosen = [t for t in self.targets if t.id in chosen_ids or t.id in heard]
        return chosen

    async def _deliver(self, event: Event) -> None:
        pending = [t for t in self.receivers(event)
                   if not self.memo.done(event.idempotency_key, t.id)]
        if not pending:
            return
        message = message_for(event, self.ctx, self._now(event))
        outcomes = await self._send_all([(t, message) for t in pending])
        for outcome in outcomes:
            if outcome.ok:
                self._remember(event, outcome.target)
        error = self._error(outcomes)
        if error is not None:
            raise error

    # A storm ---------------------------------------------------------------------------

    async def _deliver_group(self, reported: Sequence[IncidentEvent],
                             held: Sequence[IncidentEvent]) -> None:
        """Each receiver gets one message listing the held incidents routed to it, and
        those already announced alone (marked so). What it reached is remembered; the held
        openings' next calls send on their own what it missed."""
        events = [*reported, *held]
        routed = {e.incident_id: {t.id for t in self.receivers(e)} for e in events}
        nows = {e.incident_id: self._now(e) for e in events}  # read once, at sending time
        reported_ids = {e.incident_id for e in reported}
        plan: list[tuple[Target, Message, list[IncidentEvent]]] = []
        for target in self.targets:
            mine = [e for e in held if target.id in routed[e.incident_id]
                    and not self.memo.done(e.idempotency_key, target.id)]
            if not mine:
                continue
            known = [e for e in reported if target.id in routed[e.incident_id]]
            if len(mine) == 1 and not known:  # no storm for this receiver: the full
                plan.append((target, message_for(mine[0], self.ctx,  # message
                                                 nows[mine[0].incident_id]), mine))
                continue
            plan.append((target, storm_message([*known, *mine], reported_ids,
                                               self.settings.storm.window, self.ctx, nows),
                         mine))
        outcomes = await self._send_all([(target, message) for target, message, _ in plan])
        for outcome, (_, _, events) in zip(outcomes, plan):
            if outcome.ok:
                for event in events:
                    self._remember(event, outcome.target)
        self._error(outcomes)  # logs what failed

    # Sending ---------------------------------------------------------------------------

    def _now(self, event: Event) -> StateNow | None:
        """An incident's state now, when it differs from the event's (else None)."""
        return incident_now(event, self.states) if isinstance(event, IncidentEvent) else None

    async def _send_all(self, plan: Sequence[tuple[Target, Message]]) -> list[Outcome]:
        """Send every (receiver, message) at once; a receiver hung past the deadline counts
        as timed out."""
        tasks = [asyncio.create_task(send(target, message, self.settings.timeout))
                 for target, message in plan]
        if not tasks:
            return []
        try:
            await asyncio.wait(tasks, timeout=self.settings.timeout + _GRACE)
        finally:
            for task in tasks:  # also when our caller is cancelled: leave nothing behind
                task.cancel()
        return [task.result() if task.done() and not task.cancelled()
                else Outcome(target, ok=False, timed_out=True)
                for task, (target, _) in zip(tasks, plan)]

    def _remember(self, event: Event, target: Target) -> None:
        self.memo.add(event.idempotency_key, target.id)
        if isinstance(event, IncidentEvent):
            self.audience.add(event.incident_id, target.id)

    def _error(self, outcomes: Iterable[Outcome]) -> Exception | None:
        outcomes = list(outcomes)
        failed = [o for o in outcomes if not o.ok]
        if not failed:
            return None
        text = (f"{len(failed)} of {len(outcomes)} receiver(s) did not take the alert: "
                + "; ".join(o.describe() for o in failed))
        log.warning("notifier: %s", text)
        if all(o.http_status == 429 for o in failed):
            return RetryLater(self.settings.retry_after, text)
        return DeliveryFailed(text)


def unknown_references(settings: NotifierSettings, config: Config) -> list[str]:
    """Route rules naming a service or group the configuration does not have (a typo
    that would silently route nothing)."""
    services = {s.id for s in config.services}
    groups = {g.id for g in config.file.groups}
    problems = []
    for index, rule in enumerate(settings.routes):
        for service in rule.services:
            if service not in services:
                problems.append(f"notifications.routes[{index}].services: unknown service "
                                f"{service!r}")
        for group in rule.groups:
            if group not in groups:
                problems.append(f"notifications.routes[{index}].groups: unknown group "
                                f"{group!r}")
    return problems
