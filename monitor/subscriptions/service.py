"""Members' e-mail subscriptions as the pages, the CLI and the admin area see them: one
object, :class:`Subscriptions`.

- :meth:`~Subscriptions.request` — a sign-up: the same answer whatever the address's
  state (no enumeration); the confirmation mail (or, for an address already confirmed,
  its manage link) is an outbox row written in the same transaction;
- :meth:`~Subscriptions.confirm` — the single-use link of the confirmation mail;
- :meth:`~Subscriptions.by_manage_token`, :meth:`~Subscriptions.update`,
  :meth:`~Subscriptions.unsubscribe` — the manage and unsubscribe links of every mail;
- :meth:`~Subscriptions.forget`, :meth:`~Subscriptions.export` — the member's rights over
  their address (the CLI and the admin page; the admin page's forget is the audited
  operation :func:`forget_subscriber`);
- :meth:`~Subscriptions.purge` — unconfirmed addresses and expired links;
- :meth:`~Subscriptions.counts` and :meth:`~Subscriptions.recipients` — who follows what.

Tokens are 256-bit random values; the confirmation token is stored as its SHA-256 only.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor.access import SYSTEM, Actor, Permission
from monitor.guard import operation
from monitor.incidents.outbox import enqueue
from monitor.ratelimit import RateLimiter, email_key
from monitor.safetext import clean_line
from monitor.store.engine import dialect_insert
from monitor.subscriptions import records
from monitor.subscriptions.choice import (
    Choice,
    clean_choice,
    clean_email,
    clean_language,
)
from monitor.subscriptions.errors import (
    InvalidSubscription,
    SubscriptionError,
    SubscriptionsUnavailable,
    TooManyRequests,
    UnknownToken,
)
from monitor.subscriptions.jobs import (
    MEMBER_MAIL_HOOK,
    MEMBER_MAIL_PLUGIN,
    MemberMailJob,
    confirm_key,
    stream_of,
)
from monitor.subscriptions.models import FAILURE_LENGTH, STATES, TOKEN_LENGTH, Subscriber
from monitor.subscriptions.settings import SubscriptionSettings, settings_of

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store import Store

__all__ = ["STATES", "InvalidSubscription", "SubscriberView", "SubscriptionError",
           "Subscriptions", "SubscriptionsUnavailable", "TooManyRequests", "UnknownToken",
           "forget_subscriber", "record_failure", "settings_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SubscriberView:
    """One subscriber as the pages and the mails see it."""

    id: int
    email: str
    language: str
    everything: bool
    services: tuple[str, ...]
    groups: tuple[str, ...]
    state: str
    manage_token: str
    created_at: float
    confirmed_at: float | None

    @classmethod
    def of(cls, row: Subscriber) -> SubscriberView:
        """The view of a row."""
        return cls(row.id, row.email, row.language, bool(row.everything),
                   tuple(row.services or ()), tuple(row.groups or ()), row.state,
                   row.manage_token, row.created_at, row.confirmed_at)


def token_hash(token: str) -> str:
    """What is stored of a confirmation token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh secret for a link (256 random bits, URL-safe, 43 characters)."""
    return secrets.token_urlsafe(32)


def _clean_token(token: object) -> str:
    return clean_line(token, TOKEN_LENGTH + 1)


class Subscriptions:
    """Members' e-mail subscriptions.

    :param config: the loaded configuration (``subscriptions:``, ``mail:``, services,
        groups).
    :param store: the database the subscribers are in.
    :param on_written: called after a mail was queued (wakes the outbox worker).
    :param clock: the time (tests move it).
    """

    def __init__(self, config: Config, store: Store, *,
                 on_written: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.settings: SubscriptionSettings = settings_of(config)
        self.clock = clock
        self.on_written = on_written
        self.limiter = RateLimiter(self.settings.per_client_per_hour,
                                   self.settings.per_address_per_hour, clock=clock)
        #: service id → its group id (None: in no group), in the configuration's order
        self.group_of: dict[str, str | None] = {s.id: s.group for s in config.services}
        self.group_ids: tuple[str, ...] = tuple(g.id for g in config.file.groups)

    @property
    def available(self) -> bool:
        """Whether members may subscribe: ``subscriptions.enabled`` and ``mail.host`` set
        (read without importing the mailer). It gates signing up only
        (:meth:`request`): :meth:`by_manage_token`, :meth:`update` and
        :meth:`unsubscribe` work whatever it says, so the links of the mails members
        already hold keep working when sending stops."""
        mail = self.config.sections.get("mail")
        return self.settings.enabled and bool(getattr(mail, "enabled", False))

    # Members' side ----------------------------------------------------------------------

    def request(self, email: str, language: str, *, everything: bool,
                services: Sequence[str], groups: Sequence[str],
                client_address: str | None) -> None:
        """Ask for a subscription: the same outcome whether the address is new, pending or
        already confirmed, so the answer tells nobody which addresses subscribe.

        A new or pending address gets a new confirmation link (valid
        ``subscriptions.confirm_within``, working once; an earlier link stops working) and
        takes this request's language and choice; a confirmed address is left as it is
        and gets a mail with its manage link. The mail is an outbox row written with the
        change.

        :raises InvalidSubscription: a bad address, language or choice.
        :raises TooManyRequests: over ``subscriptions.per_address_per_hour`` for this
            address or ``per_client_per_hour`` for this client (``client_address`` None:
            the request came through a proxy every member shares; only the e-mail address
            is counted).
        :raises SubscriptionsUnavailable: subscriptions are off or Vigie sends no mail.
        """
        if not self.available:
            raise SubscriptionsUnavailable()
        address = clean_email(email)
        lang = clean_language(language)
        choice = self._choice(everything, services, groups)
        # None: a reverse proxy's address that every member shares, not counted
        client = clean_line(client_address, 100) if client_address is not None else None
        if not self.limiter.allowed(client, address):
            log.info("subscriptions: a sign-up refused by the rate limits")
            raise TooManyRequests()
        self._write_request(address, lang, choice, self.clock())
        self.limiter.record(client, address)
        if self.on_written is not None:
            self.on_written()

    def confirm(self, token: str) -> SubscriberView | None:
        """Follow a confirmation link: the subscriber, now confirmed; None when the link is
        unknown, already used or expired (one answer for the three)."""
        token = _clean_token(token)
        if not token:
            return None
        now = self.clock()
        with self.store.write_session() as session, session.begin():
            row = session.scalars(select(Subscriber)
                                  .where(Subscriber.confirm_hash == token_hash(token))
                                  .with_for_update()).first()
            if row is None or (row.confirm_expires_at or 0.0) < now:
                return None
            row.state, row.confirm_hash, row.confirm_expires_at = "confirmed", None, None
            row.confirmed_at = row.confirmed_at or now
            row.updated_at = now
            session.flush()
            view = SubscriberView.of(row)
        log.info("subscriptions: subscriber %d confirmed", view.id)
        return view

    def by_manage_token(self, token: str) -> SubscriberView | None:
        """The subscriber of a manage link, None when there is none (any more)."""
        token = _clean_token(token)
        if not token:
            return None
        with self.store.session() as session:
            row = session.scalars(select(Subscriber)
                                  .where(Subscriber.manage_token == token)).first()
            return SubscriberView.of(row) if row is not None else None

    def update(self, manage_token: str, *, language: str, everything: bool,
               services: Sequence[str], groups: Sequence[str]) -> SubscriberView:
        """Change what a subscriber follows and their language (the manage page).

        :raises InvalidSubscription: a bad language or choice.
        :raises UnknownToken: the link leads to no subscriber (any more).
        """
        lang = clean_language(language)
        choice = self._choice(everything, services, groups)
        token = _clean_token(manage_token)
        now = self.clock()
        with self.store.write_session() as session, session.begin():
            row = session.scalars(select(Subscriber).where(Subscriber.manage_token == token)
                                  .with_for_update()).first() if token else None
            if row is None:
                raise UnknownToken()
            row.language, row.everything = lang, choice.everything
            row.services, row.groups = list(choice.services), list(choice.groups)
            row.updated_at = now
            session.flush()
            return SubscriberView.of(row)

    def unsubscribe(self, manage_token: str) -> bool:
        """Delete the subscriber of a manage link with its mails' traces (the one-click
        unsubscribe); False when there was none (already gone: the same page)."""
        token = _clean_token(manage_token)
        if not token:
            return False
        with self.store.write_session() as session, session.begin():
            found = session.scalar(select(Subscriber.id)
                                   .where(Subscriber.manage_token == token))
            if found is None:
                return False
            records.delete_subscribers(session, [found])
        log.info("subscriptions: subscriber %d unsubscribed", found)
        return True

    # Operators' side --------------------------------------------------------------------

    def find(self, email: str) -> SubscriberView | None:
        """The subscriber of an address (compared without case), None when none."""
        with self.store.session() as session:
            row = session.scalars(select(Subscriber)
                                  .where(Subscriber.email_key == email_key(email))).first()
            return SubscriberView.of(row) if row is not None else None

    def forget(self, email: str, *, actor: Actor | None = None) -> bool:
        """Delete everything Vigie holds about an address: the subscription, its pending
        mails and the record of mails sent; the audit log keeps who did it, not the
        address. False when Vigie holds nothing.

        :raises monitor.access.Forbidden: ``actor`` may not see subscribers.
        """
        key = email_key(email)
        with self.store.write_session() as session, session.begin():
            found = session.scalar(select(Subscriber.id).where(Subscriber.email_key == key))
            if found is None:
                return False
            return bool(forget_subscriber(session, found, actor=actor or SYSTEM))

    def export(self, email: str) -> dict[str, Any] | None:
        """Everything Vigie holds about an address (JSON-ready), None when nothing."""
        with self.store.session() as session:
            return records.export(session, email_key(email))

    def purge(self, now: float | None = None) -> int:
        """Delete addresses never confirmed within ``forget_unconfirmed_after`` (with their
        pending mails) and blank the links expired; return how many addresses went."""
        now = self.clock() if now is None else now
        return records.purge(self.store, now, self.settings.forget_unconfirmed_after)

    def counts(self) -> dict[str, Any]:
        """``{"states": {state: n}, "services": {service id: {state: n}}}``: subscribers
        by state, and by service those whose choice covers it (every service of the
        configuration, 0 when none)."""
        with self.store.session() as session:
            return records.counts(session, self.group_of)

    def recipients(self, session: Session, service_ids: Sequence[str]) -> list[int]:
        """Confirmed subscribers an event about ``service_ids`` concerns (they follow
        everything, one of the services, or its group), by id; with no service, those who
        follow everything."""
        return records.recipients(session, service_ids, self.group_of)

    def views(self, session: Session, ids: Sequence[int]) -> dict[int, SubscriberView]:
        """The subscribers of ``ids`` still there (any state), by id: what the sender of a
        batch reads when it sends (one who left is simply absent)."""
        wanted = sorted({int(i) for i in ids})
        found: dict[int, SubscriberView] = {}
        for start in range(0, len(wanted), records.READ_CHUNK):
            for row in session.scalars(select(Subscriber).where(
                    Subscriber.id.in_(wanted[start:start + records.READ_CHUNK]))):
                found[row.id] = SubscriberView.of(row)
        return found

    # Helpers ----------------------------------------------------------------------------

    def _choice(self, everything: bool, services: Sequence[str],
                groups: Sequence[str]) -> Choice:
        return clean_choice(everything, services, groups, tuple(self.group_of),
                            self.group_ids)

    def _write_request(self, email: str, lang: str, choice: Choice, now: float) -> None:
        """The subscriber (new, renewed or untouched) and the answer's outbox row."""
        token = new_token()
        key = email_key(email)
        fresh = {"language": lang, "everything": choice.everything,
                 "services": list(choice.services), "groups": list(choice.groups),
                 "confirm_hash": token_hash(token),
                 "confirm_expires_at": now + self.settings.confirm_within, "updated_at": now}
        with self.store.write_session() as session, session.begin():
            # the dialect's INSERT (with on_conflict_*) is chosen at run time
            insert: Any = dialect_insert(cast(Any, session.get_bind()),
                                         cast(Any, Subscriber.__table__))
            session.execute(insert.values(
                email=email, email_key=key, state="pending", manage_token=new_token(),
                requests=0, created_at=now, failures=0, **fresh,
            ).on_conflict_do_nothing(index_elements=["email_key"]))
            row = session.scalars(select(Subscriber).where(Subscriber.email_key == key)
                                  .with_for_update()).one()
            confirmed = row.state == "confirmed"
            if not confirmed:
                for name, value in fresh.items():
                    setattr(row, name, value)
                row.email = email
            row.requests = (row.requests or 0) + 1
            session.flush()
            job = MemberMailJob("confirm", confirm_key(row.id, row.requests), (row.id,),
                                token=None if confirmed else token)
            enqueue(session, hook=MEMBER_MAIL_HOOK, plugin=MEMBER_MAIL_PLUGIN,
                    key=job.idempotency_key, stream=stream_of(row.id),
                    payload=job.to_json(), at=now)


@operation(Permission.SUBSCRIBERS, "subscriber.forget")
def forget_subscriber(session: Session, subscriber_id: int, *,
                      actor: Actor = SYSTEM) -> bool:
    """Delete one subscriber with its pending mails and its mail ledger (the admin page's
    and the CLI's forget; audited without the address).

    :raises monitor.access.Forbidden: ``actor`` may not see subscribers (checked by
        :func:`monitor.guard.operation` before anything is read).
    """
    found = records.delete_subscribers(session, [int(subscriber_id)])
    if found:
        log.info("subscriptions: subscriber %d forgotten by %s %s", subscriber_id,
                 actor.via, actor.name)
    return bool(found)


def record_failure(session: Session, subscriber_id: int, error: str, at: float) -> None:
    """Record a permanent refusal (SMTP 5xx) of a subscriber's address (in the caller's
    transaction; nothing when the subscriber is gone)."""
    session.execute(update(Subscriber).where(Subscriber.id == subscriber_id).values(
        failures=func.coalesce(Subscriber.failures, 0) + 1,
        last_failure=clean_line(error, FAILURE_LENGTH) or None, last_failure_at=at))
