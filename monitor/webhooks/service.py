"""The volunteers' operations on webhook endpoints: add, rotate the secret, enable,
disable, remove; and what the lists show.

The admin page, the JSON API (``/admin/api/v1/webhooks``) and ``vigie webhook`` call
these. Each operation is declared with :func:`monitor.guard.operation` (permission
:attr:`~monitor.access.Permission.WEBHOOKS`, administrators), takes the caller's session
(the caller commits) and is written to the audit log — without the secret
(:data:`monitor.audit.targets.LEFT_OUT`). A bad value raises
:class:`~monitor.incidents.inputs.InvalidInput` naming the field; an unknown id
:class:`~monitor.incidents.inputs.NotFound`.

The secret is returned once, in a :class:`NewSecret`, by :meth:`WebhookOperations.add_endpoint`
and :meth:`WebhookOperations.rotate_secret`; :class:`EndpointRecord` (what every list
shows) has no field for it.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.access import Permission
from monitor.guard import operation
from monitor.incidents import queries
from monitor.incidents.inputs import InvalidInput, NotFound, known_services, text_field
from monitor.safetext import clean_line, is_clean_line
from monitor.schema import http_url_problem
from monitor.webhooks.models import (
    DESCRIPTION_MAX,
    NAME_MAX,
    REASON_LENGTH,
    URL_MAX,
    WebhookEndpoint,
    plugin_name,
)
from monitor.webhooks.payload import EVENT_TYPES
from monitor.webhooks.plugin import split
from monitor.webhooks.settings import WebhookSettings
from monitor.webhooks.signing import new_secret
from monitor.words import _


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """An endpoint as volunteers see it: everything but the secret."""

    id: int
    name: str
    description: str
    url: str
    events: tuple[str, ...]
    #: service ids; empty: every service
    services: tuple[str, ...]
    enabled: bool
    consecutive_failures: int
    disabled_at: float | None
    disabled_reason: str | None
    created_at: float
    updated_at: float
    created_by: str | None
    #: while a rotation's overlap lasts, when the previous secret stops signing
    previous_secret_until: float | None
    #: the plugin name its deliveries carry in the outbox and the metrics
    plugin: str


@dataclass(frozen=True, slots=True)
class NewSecret:
    """An endpoint and its new secret, shown once (``repr`` hides the secret)."""

    endpoint: EndpointRecord
    secret: str = field(repr=False)


def record_of(row: WebhookEndpoint, now: float | None = None) -> EndpointRecord:
    """The volunteers' view of a row."""
    now = time.time() if now is None else now
    overlap = row.previous_until if (row.previous_secret and row.previous_until
                                     and row.previous_until > now) else None
    return EndpointRecord(row.id, row.name, row.description or "", row.url,
                          tuple(split(row.events)), tuple(split(row.services)), row.enabled,
                          row.consecutive_failures, row.disabled_at, row.disabled_reason,
                          row.created_at, row.updated_at, row.created_by, overlap,
                          plugin_name(row.id))


def endpoints(session: Session) -> list[EndpointRecord]:
    """Every endpoint, in the order they were added."""
    return [record_of(r) for r in session.scalars(select(WebhookEndpoint)
                                                  .order_by(WebhookEndpoint.id))]


def endpoint(session: Session, endpoint_id: int) -> EndpointRecord:
    """One endpoint.

    :raises NotFound: no such endpoint.
    """
    return record_of(_row(session, endpoint_id))


def deliveries(session: Session, endpoint_id: int, limit: int = 20) -> list[queries.OutboxView]:
    """The endpoint's last deliveries (its outbox rows), newest first."""
    return queries.outbox_entries(session, plugin=plugin_name(endpoint_id), limit=limit)


def _row(session: Session, endpoint_id: int | str) -> WebhookEndpoint:
    try:
        row = session.get(WebhookEndpoint, int(endpoint_id))
    except (TypeError, ValueError):
        row = None
    if row is None:
        raise NotFound("endpoint_id", _("Webhook not found."))
    return row


# Inputs ---------------------------------------------------------------------------------

#: host names that stay on this machine (plain http is accepted only for these)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (127.0.0.0/8, ::1, ``localhost``)."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_field(value: object) -> str:
    """A receiver's address: ``https://…``, or ``http://`` to this machine only (a tool on
    the server, tests). Read with the configuration's URL reader
    (:func:`monitor.schema.http_url_problem`); never repeated in an error (it may hold a
    token)."""
    url = "" if value is None else str(value).strip()
    if not url:
        raise InvalidInput("url", _("This field is required."))
    if len(url) > URL_MAX:
        raise InvalidInput("url", _("Text too long ({length} characters, at most {limit}).",
                                    length=len(url), limit=URL_MAX))
    if not is_clean_line(url, URL_MAX) or any(c.isspace() for c in url) \
            or http_url_problem(url) is not None:
        raise InvalidInput("url", _("Not a web address: give an https:// address (e.g. "
                                    "https://partner.example.org/hooks/vigie)."))
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" and not is_loopback(parts.hostname or ""):
        raise InvalidInput("url", _("Only https:// addresses are accepted (plain http:// "
                                    "only to this machine: 127.0.0.1, ::1, localhost)."))
    return url


def events_field(values: Iterable[str] | str | None) -> list[str]:
    """The event types chosen (all of them when none is given)."""
    if values is None:
        return list(EVENT_TYPES)
    chosen = [values] if isinstance(values, str) else list(values)
    chosen = [v.strip() for item in chosen for v in str(item).split(",") if v.strip()]
    if not chosen:
        raise InvalidInput("events", _("Choose at least one kind of event."))
    unknown = [v for v in chosen if v not in EVENT_TYPES]
    if unknown:
        raise InvalidInput("events", _("Unknown value “{value}” (one of: {allowed}).",
                                       value=unknown[0][:60], allowed=", ".join(EVENT_TYPES)))
    return [t for t in EVENT_TYPES if t in chosen]


def services_field(session: Session, values: Iterable[str] | str | None) -> list[str]:
    """The services chosen (none: every service)."""
    if values is None:
        return []
    chosen = [values] if isinstance(values, str) else list(values)
    chosen = [v.strip() for item in chosen for v in str(item).split(",") if v.strip()]
    return known_services(session, chosen) if chosen else []


# Operations -----------------------------------------------------------------------------


class WebhookOperations:
    """The operations on endpoints, with the ``webhooks:`` settings and a clock."""

    def __init__(self, settings: WebhookSettings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings or WebhookSettings()
        self.clock = clock

    @operation(Permission.WEBHOOKS, "webhook.add")
    def add_endpoint(self, session: Session, *, name: str, url: str,
                     events: Iterable[str] | str | None = None,
                     services: Iterable[str] | str | None = None,
                     description: str | None = None, author: str | None = None) -> NewSecret:
        """Register an endpoint (enabled) with a new secret, returned once.

        :param events: event types (:data:`~monitor.webhooks.payload.EVENT_TYPES`); all by
            default.
        :param services: service ids; every service by default.
        :raises InvalidInput: no name, a name too long, an address that is not https (or
            http to this machine), an unknown event type or service.
        """
        row = WebhookEndpoint(
            name=clean_line(text_field("name", name, required=True, limit=NAME_MAX), NAME_MAX),
            description=text_field("description", description, required=False,
                                   limit=DESCRIPTION_MAX) or "",
            url=url_field(url), events=",".join(events_field(events)),
            services=",".join(services_field(session, services)), secret=new_secret(),
            enabled=True, consecutive_failures=0, created_at=self.clock(),
            updated_at=self.clock(), created_by=author)
        session.add(row)
        session.flush()
        return NewSecret(record_of(row, self.clock()), row.secret)

    @operation(Permission.WEBHOOKS, "webhook.rotate")
    def rotate_secret(self, session: Session, endpoint_id: int, *,
                      overlap: float | None = None) -> NewSecret:
        """Give the endpoint a new secret (returned once); the one it replaces signs too
        for ``overlap`` seconds (``webhooks.rotation_overlap``), so the receiver can
        switch without losing a message. A second rotation within the overlap drops the
        oldest secret."""
        row = _row(session, endpoint_id)
        now = self.clock()
        overlap = self.settings.rotation_overlap if overlap is None else max(0.0, overlap)
        row.previous_secret, row.previous_until = row.secret, now + overlap
        row.secret = new_secret()
        row.updated_at = now
        session.flush()
        return NewSecret(record_of(row, now), row.secret)

    @operation(Permission.WEBHOOKS, "webhook.enable")
    def enable_endpoint(self, session: Session, endpoint_id: int) -> EndpointRecord:
        """Deliver to the endpoint again (its count of failures starts from 0)."""
        row = _row(session, endpoint_id)
        row.enabled, row.consecutive_failures = True, 0
        row.disabled_at = row.disabled_reason = None
        row.updated_at = self.clock()
        session.flush()
        return record_of(row, self.clock())

    @operation(Permission.WEBHOOKS, "webhook.disable")
    def disable_endpoint(self, session: Session, endpoint_id: int, *,
                         reason: str | None = None, author: str | None = None
                         ) -> EndpointRecord:
        """Stop delivering to the endpoint (its pending deliveries are dead-lettered;
        volunteers may retry them after enabling it again)."""
        row = _row(session, endpoint_id)
        now = self.clock()
        if row.enabled:
            row.enabled, row.disabled_at = False, now
            row.disabled_reason = (text_field("reason", reason, required=False,
                                              limit=REASON_LENGTH)
                                   or f"disabled by {author or 'a volunteer'}")[:REASON_LENGTH]
            row.updated_at = now
            session.flush()
        return record_of(row, now)

    @operation(Permission.WEBHOOKS, "webhook.remove")
    def remove_endpoint(self, session: Session, endpoint_id: int) -> None:
        """Delete the endpoint and its secret (its deliveries stay in the outbox until
        pruned; those pending are dead-lettered)."""
        session.delete(_row(session, endpoint_id))
        session.flush()


__all__ = ["EndpointRecord", "NewSecret", "WebhookOperations", "deliveries", "endpoint",
           "endpoints", "events_field", "is_loopback", "record_of", "url_field"]


# Test ping ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PingResult:
    """What a test ping gave: the receiver's status, or why it failed (no address, no
    secret in it)."""

    ok: bool
    status: int | None
    error: str | None


def ping(session: Session, endpoint_id: int, settings: WebhookSettings | None = None,
         clock: Callable[[], float] = time.time) -> PingResult:
    """POST a signed ``webhook.test`` message to the endpoint now, whatever its filter or
    state, and say what the receiver answered. Nothing is written: a test counts neither
    as a failure nor as a success. Blocking (call it from a web thread or the command
    line, never from the event loop).

    :raises NotFound: no such endpoint.
    """
    import asyncio

    from monitor.webhooks.payload import test_body
    from monitor.webhooks.plugin import Endpoint, Sender

    target = Endpoint.of(_row(session, endpoint_id))
    sender = Sender(settings or WebhookSettings(), clock=clock)
    now = clock()

    async def post() -> PingResult:
        try:
            answer = await sender.post(target, f"test:{target.id}:{int(now)}",
                                       test_body(target.id, now))
        except Exception as exc:  # every failure is the answer to show
            error = str(exc) or type(exc).__name__
            for hidden in target.hidden():
                error = error.replace(hidden, "***")
            status = getattr(exc, "status", None)
            return PingResult(False, status if isinstance(status, int) else None, error[:300])
        finally:
            await sender.aclose()
        return PingResult(True, answer.status, None)

    return asyncio.run(post())
