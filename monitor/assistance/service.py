"""The members' assistance as the dashboard sees it: one object, :class:`AssistanceService`.

The ``/assistance/`` pages call only this. :meth:`~AssistanceService.submit` writes a
request and its outbox rows in one transaction, idempotently by the form's token (a double
click, a resubmitted form or two racing submits give one request and one delivery);
:meth:`~AssistanceService.suggest` asks the plugins for guides and forum threads within
``assistance.suggest_timeout``; :meth:`~AssistanceService.allowed` applies the rate
limits; :meth:`~AssistanceService.count` feeds ``vigie_assistance_requests_total``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from monitor.assistance import files
from monitor.assistance.context import service_context, service_of
from monitor.ratelimit import RateLimiter
from monitor.assistance.models import STATES, AssistanceRow
from monitor.assistance.request import (
    AssistanceQuery,
    AssistanceRequest,
    Screenshot,
    Suggestion,
    request_to_json,
)
from monitor.assistance.settings import AssistanceSettings
from monitor.assistance.suggest import Suggester
from monitor.incidents.outbox import enqueue
from monitor.safetext import clean_line, clean_text
from monitor.store.engine import dialect_insert

if TYPE_CHECKING:
    import pluggy

    from monitor.config import Config
    from monitor.store import Store

log = logging.getLogger(__name__)

#: the durable hook delivering requests
HOOK = "vigie_assistance_request"
#: the plugin name of Vigie's own receipt sender (an outbox row of its own)
RECEIPT_PLUGIN = "assistance-receipt"
#: what :meth:`AssistanceService.count` accepts (the metric's ``outcome`` label)
OUTCOMES = ("incident_known", "guide_helped", "forum_helped", "continued", "sent",
            "refused", "duplicate")
#: the letters of a reference's suffix (no 0/O, 1/I/L: read aloud or copied by hand)
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class Draft:
    """What the member sent, already cleaned and bounded (the service bounds it again)."""

    token: str
    language: str
    category: str
    title: str
    description: str
    name: str
    email: str
    member_id: str | None
    user_agent: str
    #: for rate limits only, never stored beyond them
    client_address: str
    #: proposed on step 2, ``opened`` set for those the member followed
    suggestions: tuple[Suggestion, ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the member is told after sending."""

    reference: str
    #: False: the same token was sent before (a double click); nothing new was written
    created: bool
    #: ``received``, ``held`` (the desk is down; it will be retried), ``delivered`` or
    #: ``dead`` (the desk refused it for good: the volunteers have it in their list)
    state: str


def settings_of(config: Config) -> AssistanceSettings:
    """The ``assistance:`` section of ``config`` (its defaults when absent)."""
    found = config.sections.get("assistance")
    return found if isinstance(found, AssistanceSettings) else AssistanceSettings()


def new_reference(at: float, zone: str) -> str:
    """``DEM-<day>-<4 letters>`` (the day in the site's time zone)."""
    day = datetime.fromtimestamp(at, ZoneInfo(zone)).strftime("%Y%m%d")
    return f"DEM-{day}-{''.join(secrets.choice(ALPHABET) for _ in range(4))}"


class AssistanceService:
    """Members' requests for help, for the dashboard (and the admin pages).

    :param config: the loaded configuration (``assistance:``, ``mail:``, services, site).
    :param store: the database requests are written to.
    :param plugins: the plugin manager (suggestions); None: no suggestions.
    :param loop: Vigie's event loop, where suggestion coroutines run.
    :param status_of: a service's live status label (the running state book), or None to
        read the stored one.
    :param on_written: called after a request committed (wakes the outbox worker).
    :param clock: the time (tests move it).
    """

    def __init__(self, config: Config, store: Store, *,
                 plugins: pluggy.PluginManager | None = None,
                 loop: asyncio.AbstractEventLoop | None = None,
                 status_of: Callable[[str], str | None] | None = None,
                 on_written: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.settings = settings_of(config)
        self.clock = clock
        self.status_of = status_of
        self.on_written = on_written
        self.data_dir = config.data_dir
        #: whether a receipt is mailed to the member with each request
        # (read without importing the mailer: smtplib only in a Vigie that sends mail)
        self.receipts = self.settings.receipt and bool(
            getattr(config.sections.get("mail"), "enabled", False))
        limits = self.settings.limits
        self.limiter = RateLimiter(limits.per_address, limits.per_email, clock=clock)
        self.suggester = Suggester(plugins, self.settings.suggest_timeout, loop)
        #: outcome → requests (``vigie_assistance_requests_total``)
        self.counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    # The contract -----------------------------------------------------------------------

    def incoming_dir(self) -> Path:
        """Where uploads are spooled (``data_dir/assistance/incoming``, created readable by
        Vigie only; on the same filesystem as the kept screenshots)."""
        return files.incoming(self.data_dir)

    def submit(self, draft: Draft, screenshots: Sequence[Screenshot]) -> Receipt:
        """Record a request and its delivery (and the member's receipt) in one transaction.

        The same ``draft.token`` sent again gives the first request's receipt with
        ``created=False``, and this call's screenshot files are deleted. Otherwise the
        files are moved under ``data_dir/assistance/<reference>/`` and the request carries
        the service's status, open incident and failing checks' reasons of this moment.
        Counts ``sent`` or ``duplicate`` itself.

        :raises ValueError: an unknown category, or an empty token.
        """
        token = clean_line(draft.token, 100)
        if not token:
            raise ValueError("a request needs its form's token")
        known = self._by_token(token)
        if known is not None:
            return self._duplicate(known, screenshots)
        service = service_of(self.config, draft.category)
        try:
            label = self._category_label(draft.category, draft.language, service)
        except ValueError:
            files.discard(s.path for s in screenshots)
            raise
        with self.store.session() as session:
            context = service_context(session, self.config, service, status_of=self.status_of)
        now = self.clock()
        reference, folder = self._reserve(now)
        try:
            moved = files.move_into(folder, screenshots)
            request = self._request(draft, reference, now, label, service, context, moved)
            created = self._write(token, draft, request)
        except BaseException:
            files.remove_request_files(self.data_dir, reference)
            files.discard(s.path for s in screenshots)
            raise
        if not created:  # another submit with this token committed first
            files.remove_request_files(self.data_dir, reference)
            known = self._by_token(token)
            assert known is not None
            return self._duplicate(known, ())
        self.limiter.record(draft.client_address, request.email)
        self.count("sent")
        if self.on_written is not None:
            self.on_written()
        log.info("assistance: request %s received (%s, %d screenshots)", reference,
                 request.category, len(moved))
        return Receipt(reference, True, "received")

    def receipt_for(self, token: str) -> Receipt | None:
        """The receipt of the request sent with form token ``token`` (``created`` False),
        None when none was (or it was purged). A lookup only: nothing is counted, written
        or deleted, so the page may ask it before the rate limits (a member resending a
        form already sent gets its reference, even at their limit)."""
        token = clean_line(token, 100)
        known = self._by_token(token) if token else None
        return Receipt(known[0], False, member_state(known[1])) if known is not None else None

    def allowed(self, client_address: str, email: str | None) -> bool:
        """Whether one more request from this address (an IPv6 /64 counts as one) and
        this e-mail address stays within ``assistance.limits`` (only sent requests
        count; asking counts nothing)."""
        return self.limiter.allowed(client_address, email)

    def suggest(self, query: AssistanceQuery) -> list[Suggestion]:
        """Guides and forum threads for ``query`` from the plugins, within
        ``assistance.suggest_timeout`` (call it from a web thread, never the loop)."""
        return self.suggester.suggest(query)

    def count(self, outcome: str) -> None:
        """Count one outcome of a member's path (:data:`OUTCOMES`).

        :raises ValueError: an outcome not in the list (the metric's labels are bounded).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown assistance outcome {outcome!r}")
        with self._count_lock:
            self.counts[outcome] += 1

    def state(self, reference: str) -> str | None:
        """Where request ``reference`` stands (``received``, ``held``, ``delivered``,
        ``dead``), None when there is no such request (or it was purged)."""
        with self.store.session() as session:
            return session.scalar(select(AssistanceRow.state)
                                  .where(AssistanceRow.reference == clean_line(reference, 40)))

    def close(self) -> None:
        """Release the suggestions' threads."""
        self.suggester.close()

    # Helpers ----------------------------------------------------------------------------

    def _by_token(self, token: str) -> tuple[str, str] | None:
        with self.store.session() as session:
            row = session.execute(select(AssistanceRow.reference, AssistanceRow.state)
                                  .where(AssistanceRow.token == token)).first()
        return (row[0], row[1]) if row is not None else None

    def _duplicate(self, known: tuple[str, str], screenshots: Sequence[Screenshot]) -> Receipt:
        files.discard(s.path for s in screenshots)
        self.count("duplicate")
        reference, state = known
        return Receipt(reference, False, member_state(state))

    def _category_label(self, category: str, language: str, service) -> str:
        if service is not None:
            return service.name.text(language)
        for item in self.settings.categories:
            if item.id == category:
                return item.label.text(language)
        raise ValueError(f"unknown assistance category {category!r}")

    def _reserve(self, now: float) -> tuple[str, Path]:
        zone = self.config.file.site.timezone
        for _ in range(20):
            reference = new_reference(now, zone)
            try:
                return reference, files.reserve(self.data_dir, reference)
            except FileExistsError:
                continue
        raise RuntimeError("no free request reference (20 tries)")

    def _request(self, draft: Draft, reference: str, now: float, label: str, service,
                 context, screenshots: tuple[Screenshot, ...]) -> AssistanceRequest:
        text = self.settings.text
        site = self.config.file.site
        return AssistanceRequest(
            reference=reference, idempotency_key=f"assistance:{reference}", at=now,
            language="en" if draft.language == "en" else "fr",
            category=clean_line(draft.category, 63),
            service_id=service.id if service is not None else None,
            service_name=clean_line(label, 200), title=clean_line(draft.title, text.title),
            description=clean_text(draft.description, text.description),
            name=clean_line(draft.name, 200), email=clean_line(draft.email, 320),
            member_id=clean_line(draft.member_id, 200) or None,
            user_agent=clean_line(draft.user_agent, 500), status_at_send=context.status,
            incident_reference=context.incident_reference,
            failing_reasons=context.failing_reasons,
            suggestions=tuple(Suggestion(clean_line(s.kind, 20), clean_line(s.title, 300),
                                         clean_line(s.url, 2000), clean_line(s.excerpt, 300),
                                         clean_line(s.plugin, 100), bool(s.opened))
                              for s in draft.suggestions[:20]),
            screenshots=screenshots,
            status_page_url=site.public_url.rstrip("/") if site.public_url else None)

    def _write(self, token: str, draft: Draft, request: AssistanceRequest) -> bool:
        """The row and its outbox rows, in one transaction; False when a row with this
        token was there first (then nothing is written)."""
        payload = request_to_json(request)
        now = request.at
        with self.store.write_session() as session, session.begin():
            # the dialect's INSERT (with on_conflict_*) is chosen at run time
            insert: Any = dialect_insert(cast(Any, session.get_bind()),
                                         cast(Any, AssistanceRow.__table__))
            inserted = session.execute(insert.values(
                reference=request.reference, token=token, state="received", created_at=now,
                updated_at=now, language=request.language, category=request.category,
                service_id=request.service_id, title=request.title, name=request.name,
                email=request.email, member_id=request.member_id,
                screenshots=len(request.screenshots), payload=payload,
            ).on_conflict_do_nothing().returning(AssistanceRow.id)).scalar()
            # (RETURNING, not rowcount: psycopg gives -1 for an INSERT … ON CONFLICT)
            if inserted is None:
                return False
            stream = f"assistance:{request.reference}"
            enqueue(session, hook=HOOK, plugin=self.settings.desk,
                    key=request.idempotency_key, stream=stream, payload=payload, at=now)
            outbox_id = session.scalar(select_outbox_id(request.idempotency_key))
            session.execute(update(AssistanceRow)
                            .where(AssistanceRow.reference == request.reference)
                            .values(outbox_id=outbox_id))
            if self.receipts and request.email:
                enqueue(session, hook=HOOK, plugin=RECEIPT_PLUGIN,
                        key=f"{request.idempotency_key}:receipt", stream=stream,
                        payload=payload, at=now)
        return True


def member_state(state: str | None) -> str:
    """A request's stored state as the member's page words it (one of
    :data:`~monitor.assistance.models.STATES`; ``received`` for anything else)."""
    return state if state in STATES else "received"


def select_outbox_id(key: str):
    """The query of the outbox row id of idempotency key ``key``."""
    from monitor.incidents.models import OutboxEntry

    return select(OutboxEntry.id).where(OutboxEntry.idempotency_key == key)
