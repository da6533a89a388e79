"""The sender of members' mails: a plugin object of the core, named ``member-mail``.

**Fan-out.** It implements the durable event hooks (``vigie_incident_opened``,
``…_updated``, ``…_resolved``, ``vigie_maintenance_changed``) like any other plugin, so
each event gets one outbox row for it, written with the change. Delivering that row
writes, in one transaction, one ``vigie_member_mail`` row per batch of
``subscriptions.batch_size`` subscribers the event concerns (key ``<event key>:batch:<n>``:
a fan-out delivered twice writes nothing new), in the event's stream, so an incident's
batches go in order (opened before resolved). Incident reminders are not sent to
members (no row is even written for them: :meth:`MemberMail.accepts_event`); public
updates are (a volunteers' note writes no event at all). A maintenance occurrence's
``cancelled`` goes only to the subscribers sent a mail of its thread (its announcement
or reminder): the batch checks the ledger when it sends, after the thread's earlier
batches (same stream, so sent first).

**Sending.** Delivering a batch row (:meth:`MemberMail.vigie_member_mail`) skips the
subscribers the ledger (:mod:`monitor.membermail.models`) already holds for the event,
then, for each of the others, waits for its turn (``subscriptions.send_rate``, shared
by every batch), hands the mail to the SMTP server over the one reused connection
(:class:`monitor.mailer.Mailer`) and commits its ledger row before the next one. So a
crash at any point resends at most **the one mail in flight** — accepted by the server
and not yet in the ledger — and that resend is the same message (same ``Message-ID``,
which many mail systems use to drop a duplicate). The server's answers:

- an address refused for good (5xx to ``RCPT`` or to the message): counted against the
  subscriber (``failures``, ``last_failure``), written in the ledger as ``refused``; the
  batch goes on;
- "try later" for one address (4xx: greylisting, a full mailbox): the batch goes on; the
  row is handed back (:class:`~monitor.notifications.RetryLater`, :data:`RETRY_ADDRESS`)
  for those addresses, and given up (counted as a refusal) :data:`GIVE_UP_AFTER` after
  the news (:func:`news_time`);
- "try later" from the server itself (421, a 4xx to the sender: throttled): the rest of
  the batch is handed back (:data:`RETRY_SERVER`), nothing counted as a failure;
- no answer (the server is down) or a refusal of the sender: an ordinary failure the
  outbox retries with its backoff (volunteers see the plugin failing).

A batch sends for at most half of ``incidents.outbox.call_timeout``, then hands the rest
back at once: a slow rate never makes a delivery overrun its deadline.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email.message import Message
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from monitor.incidents.outbox import enqueue
from monitor.mailer import Mailer, MailError
from monitor.membermail import ledger
from monitor.membermail.message import EventMail, Recipient, Site, confirmation
from monitor.membermail.pace import SendRate
from monitor.notifications import (
    IncidentEvent,
    MaintenanceEvent,
    PermanentFailure,
    RetryLater,
    from_json,
    to_json,
)
from monitor.plugins import hookimpl
from monitor.subscriptions.jobs import MEMBER_MAIL_HOOK, MEMBER_MAIL_PLUGIN, MemberMailJob
from monitor.subscriptions.service import record_failure

if TYPE_CHECKING:
    import pluggy

    from monitor.config import Config
    from monitor.incidents.context import IncidentContext
    from monitor.runtime import Runtime
    from monitor.startup import StartupContext
    from monitor.store import Store
    from monitor.subscriptions.service import Subscriptions
    from monitor.subscriptions.settings import SubscriptionSettings

log = logging.getLogger(__name__)

#: seconds before a batch the server itself asked to wait (421, 4xx) is tried again
RETRY_SERVER = 60.0
#: seconds before addresses answered "try later" (greylisting) are tried again
RETRY_ADDRESS = 300.0
#: an address still answered "try later" this long after the event is given up
GIVE_UP_AFTER = 86400.0
#: the share of ``incidents.outbox.call_timeout`` one delivery may spend sending
BUDGET_SHARE = 0.5
#: the incident events members get (not the reminders of an incident still open)
INCIDENT_KINDS = frozenset({"opened", "updated", "resolved"})
#: the maintenance events members get (``cancelled``: only those who were told of the
#: occurrence, see :meth:`MemberMail.vigie_member_mail`)
MAINTENANCE_KINDS = frozenset({"announced", "reminder", "started", "ended", "cancelled"})
#: what becomes of a member mail (``vigie_member_mails_total{outcome}``)
OUTCOMES = ("sent", "refused", "deferred")

Sessions = Callable[[], Session]


def thread_of(event: IncidentEvent | MaintenanceEvent) -> tuple[str, str]:
    """``(thread, stream)`` of an event: its mails' thread (an incident, a maintenance
    occurrence) and the outbox stream its batches go in (the event's own)."""
    if isinstance(event, IncidentEvent):
        thread = f"incident:{event.incident_id}"
        return thread, thread
    return (f"maintenance:{event.window_id}:{int(event.starts_at)}",
            f"maintenance:{event.window_id}")


def news_time(event: IncidentEvent | MaintenanceEvent) -> float:
    """When an event's news happened, for giving up an address answering "try later":
    the incident's change, the maintenance's start (its end for ``ended``)."""
    if isinstance(event, IncidentEvent):
        return event.at
    return event.ends_at if event.kind == "ended" else event.starts_at


class MemberMail:
    """Sends members the news of the services they follow (a plugin object of the core).

    :param sessions: read sessions; ``write_sessions``: sessions for writes.
    :param subscriptions: who an event concerns and who is still there
        (:meth:`~monitor.subscriptions.service.Subscriptions.recipients`,
        :meth:`~monitor.subscriptions.service.Subscriptions.views`).
    :param budget: seconds one delivery may spend sending.
    :param clock: wall-clock time (the ledger, the ``Date`` header);
        ``monotonic``: the budget's.
    """

    def __init__(self, *, sessions: Sessions, write_sessions: Sessions, mailer: Mailer,
                 site: Site, subscriptions: Subscriptions, batch_size: int, rate: SendRate,
                 budget: float = 60.0, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.sessions = sessions
        self.write_sessions = write_sessions
        self.mailer = mailer
        self.site = site
        self.subscriptions = subscriptions
        self.batch_size = max(1, batch_size)
        self.rate = rate
        self.budget = budget
        self.clock = clock
        self.monotonic = monotonic
        #: mails by outcome (sent, refused, deferred), for the metric
        self.counts: Counter[str] = Counter()

    # Fan-out ----------------------------------------------------------------------------

    @hookimpl
    def vigie_incident_opened(self, event: IncidentEvent) -> None:
        """Queue the "opened" mails of the subscribers of the incident's services."""
        self.fan_out(event)

    @hookimpl
    def vigie_incident_updated(self, event: IncidentEvent) -> None:
        """Queue a public update's mails (not a reminder's)."""
        self.fan_out(event)

    @hookimpl
    def vigie_incident_resolved(self, event: IncidentEvent) -> None:
        """Queue the "resolved" mails."""
        self.fan_out(event)

    @hookimpl
    def vigie_maintenance_changed(self, event: MaintenanceEvent) -> None:
        """Queue a maintenance window's mails (announced, reminder, started, ended,
        cancelled)."""
        self.fan_out(event)

    def accepts_event(self, event: Any) -> bool:
        """The events members get (read by ``IncidentContext.wants`` before an outbox row
        is written): no row for an incident's reminder, and ``cancelled`` asked for."""
        if isinstance(event, IncidentEvent):
            return event.kind in INCIDENT_KINDS
        return isinstance(event, MaintenanceEvent) and event.kind in MAINTENANCE_KINDS

    def fan_out(self, event: IncidentEvent | MaintenanceEvent) -> int:
        """Write the batch rows of ``event`` (none again for an event already fanned out);
        return how many rows were new."""
        kinds = INCIDENT_KINDS if isinstance(event, IncidentEvent) else MAINTENANCE_KINDS
        if event.kind not in kinds:
            return 0
        thread, stream = thread_of(event)
        # members never read the checks' reasons; the rows need not carry them
        if isinstance(event, IncidentEvent):
            event = dataclasses.replace(event, checks=(), own_links=())
        payload = to_json(event)
        incident_id = event.incident_id if isinstance(event, IncidentEvent) else None
        key, now, written = event.idempotency_key, self.clock(), 0
        with self.write_sessions() as session, session.begin():
            ids = sorted(set(self.subscriptions.recipients(session,
                                                           [s.id for s in event.services])))
            for n, first in enumerate(range(0, len(ids), self.batch_size)):
                job = MemberMailJob("event", key, tuple(ids[first:first + self.batch_size]),
                                    event=payload, thread=thread)
                written += enqueue(session, hook=MEMBER_MAIL_HOOK, plugin=MEMBER_MAIL_PLUGIN,
                                   key=f"{key}:batch:{n}", stream=stream,
                                   payload=job.to_json(), at=now, incident_id=incident_id)
        if written:
            log.info("member mail: %s %s for %d subscribers in %d batches", thread,
                     event.kind, len(ids), written)
        return written

    # Sending ----------------------------------------------------------------------------

    @hookimpl
    def vigie_member_mail(self, job: MemberMailJob) -> None:
        """Send one batch: every subscriber not in the ledger for the job's event, at the
        sending rate, one ledger row committed after each mail accepted.

        :raises RetryLater: the server asked to wait, some addresses were answered "try
            later", or the time budget is spent: the row comes back for the rest.
        :raises MailError: the server could not be reached, or refused the sender.
        """
        started = self.monotonic()
        write, kind, event_at = self._writer(job)
        with self.sessions() as session:
            there = self.subscriptions.views(session, job.subscriber_ids)
            done = ledger.done(session, job.idempotency_key, job.subscriber_ids)
            # a cancellation goes to those told of the occurrence, whose earlier mails
            # the stream's order has sent before this batch
            told = (ledger.told(session, job.thread, job.subscriber_ids)
                    if kind == "cancelled" and job.thread else None)
        # an event goes to confirmed subscribers only; a sign-up's answer to its address
        todo = [Recipient(v.id, v.email, v.language, v.manage_token)
                for _, v in sorted(there.items()) if v.id not in done
                and (job.kind != "event" or v.state == "confirmed")
                and (told is None or v.id in told)]
        if not todo:
            return None
        with self.write_sessions() as session:  # a short transaction per mail
            self._send_all(session, job, todo, write, kind, event_at, started)
        return None

    def _send_all(self, session: Session, job: MemberMailJob, todo: list[Recipient],
                  write: Callable[[Recipient, float], Message], kind: str,
                  event_at: float, started: float) -> None:
        deferred: list[str] = []
        for n, person in enumerate(todo):
            if self.monotonic() - started >= self.budget:
                raise RetryLater(0.0, f"{len(todo) - n} mails left for the next round")
            self.rate.wait()
            now = self.clock()
            try:
                message = write(person, now)
                self.mailer.send(message)
            except PermanentFailure as exc:  # an address no header can carry
                self._refused(session, person, job, kind, str(exc), now)
                continue
            except MailError as exc:
                if not exc.recipient:
                    if exc.code is not None and 400 <= exc.code < 500:
                        raise RetryLater(RETRY_SERVER, f"the SMTP server asked to wait "
                                         f"({exc}); {len(todo) - n} mails left") from None
                    raise
                if exc.permanent or now - event_at >= GIVE_UP_AFTER:
                    self._refused(session, person, job, kind, str(exc), now)
                else:
                    self.counts["deferred"] += 1
                    # (the server's words may quote the address: the outbox row shows
                    # volunteers the code only)
                    deferred.append(f"SMTP {exc.code}")
                continue
            self._sent(session, person, job, kind, str(message["Message-ID"]), now)
        if deferred:
            raise RetryLater(RETRY_ADDRESS, f"{len(deferred)} addresses to try again later "
                             f"({deferred[-1]})")

    def _writer(self, job: MemberMailJob) -> tuple[Callable[[Recipient, float], Message],
                                                   str, float]:
        """``(write(recipient, at) -> mail, the kind for the ledger, the event's time)``."""
        if job.kind == "confirm":
            token = job.token or None

            def confirm(person: Recipient, at: float) -> Message:
                return confirmation(self.site, person, token, key=job.idempotency_key, at=at)

            return confirm, "confirm", self.clock()
        if not job.event:
            raise PermanentFailure("a member-mail job of an event without its event")
        event = from_json(job.event)
        if not isinstance(event, IncidentEvent | MaintenanceEvent):
            raise PermanentFailure(f"not an incident or maintenance event: {type(event)}")
        mail = EventMail(self.site, event, key=job.idempotency_key,
                         thread=job.thread or thread_of(event)[0])
        return mail.to, event.kind, news_time(event)

    def _sent(self, session: Session, person: Recipient, job: MemberMailJob, kind: str,
              message_id: str, at: float) -> None:
        with session.begin():
            ledger.record(session, subscriber_id=person.id, event_key=job.idempotency_key,
                          kind=kind, thread=job.thread, at=at, message_id=message_id)
        self.counts["sent"] += 1

    def _refused(self, session: Session, person: Recipient, job: MemberMailJob, kind: str,
                 error: str, at: float) -> None:
        # the log names subscribers by number; the server's words (which may quote the
        # address) go to the subscriber's own row only
        log.info("member mail: the address of subscriber %d was refused (%s)", person.id,
                 job.idempotency_key)
        with session.begin():
            ledger.record(session, subscriber_id=person.id, event_key=job.idempotency_key,
                          kind=kind, thread=job.thread, at=at, message_id=None,
                          outcome="refused")
            record_failure(session, person.id, error, at)
        self.counts["refused"] += 1

    @hookimpl
    def vigie_shutdown(self, ctx: StartupContext) -> None:
        """Close the SMTP connection."""
        self.mailer.close()


class MemberMailCollector(Collector):
    """``vigie_member_mails_total{outcome}`` (every outcome, 0 until counted)."""

    def __init__(self, plugin: MemberMail) -> None:
        self.plugin = plugin

    def collect(self) -> Iterator[Metric]:
        """The one family."""
        family = CounterMetricFamily(
            "vigie_member_mails",
            "Mails to subscribed members by outcome (sent: accepted by the SMTP server; "
            "refused: the address refused for good; deferred: answered try later).",
            labels=["outcome"])
        counts = dict(self.plugin.counts)
        for outcome in OUTCOMES:
            family.add_metric([outcome], counts.get(outcome, 0))
        yield family


def site_of(config: Config, subscriptions: Subscriptions, sender: str) -> Site | None:
    """Where the mails say they come from; None without ``site.public_url`` (the links
    of a mail need an absolute address)."""
    site = config.file.site
    if not site.public_url:
        return None
    return Site(public_url=site.public_url.rstrip("/"), title=site.title,
                timezone=site.timezone, sender=sender,
                confirm_within=subscriptions.settings.confirm_within)


def build(config: Config, store: Store, subscriptions: Subscriptions,
          **overrides: Any) -> MemberMail | None:
    """The sender for ``config`` (``mail:`` set), or None (logged) without
    ``site.public_url``; ``overrides`` replace its collaborators (tests: the clocks, the
    send rate)."""
    from monitor.mailer import mail_settings

    mail = mail_settings(config)
    settings = subscriptions.settings
    site = site_of(config, subscriptions, mail.from_address or "")
    if site is None:
        log.warning("subscriptions: site.public_url is not set, so members' mails could "
                    "not carry their links; no member mail is sent (set site.public_url)")
        return None
    values: dict[str, Any] = dict(
        sessions=store.session, write_sessions=store.write_session, mailer=Mailer(mail),
        site=site, subscriptions=subscriptions, batch_size=settings.batch_size,
        rate=SendRate(settings.send_rate),
        budget=config.file.incidents.outbox.call_timeout * BUDGET_SHARE)
    values.update(overrides)
    return MemberMail(**values)


def register(pm: pluggy.PluginManager, ctx: IncidentContext, plugin: MemberMail,
             settings: SubscriptionSettings) -> None:
    """Register ``plugin`` as ``member-mail``: the incident events reach it from now on,
    the maintenance ticker announces windows to it as soon as they are planned and
    reminds it ``subscriptions.maintenance_reminder`` before each start."""
    pm.register(plugin, name=MEMBER_MAIL_PLUGIN)
    # the context listed the plugins of the durable hooks before this one was registered
    ctx.refresh_subscribers()
    if MEMBER_MAIL_PLUGIN not in ctx.announce_planned:
        ctx.announce_planned = (*ctx.announce_planned, MEMBER_MAIL_PLUGIN)
    if settings.maintenance_reminder:
        ctx.reminders_before[MEMBER_MAIL_PLUGIN] = settings.maintenance_reminder


def attach(runtime: Runtime, subscriptions: Subscriptions) -> MemberMail | None:
    """The member-mail sender of ``runtime`` (mail is configured), registered
    (:func:`register`), with ``vigie_member_mails_total`` exported; None (logged)
    without ``site.public_url``."""
    pm = runtime.plugin_manager
    found = pm.get_plugin(MEMBER_MAIL_PLUGIN)
    if isinstance(found, MemberMail):
        return found
    plugin = build(runtime.config, runtime.store, subscriptions)
    if plugin is None:
        return None
    register(pm, runtime.incidents.ctx, plugin, subscriptions.settings)
    runtime.metrics_registry.register(MemberMailCollector(plugin))
    return plugin
