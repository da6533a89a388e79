"""One plugin object per enabled endpoint, and the sender they share.

A :class:`WebhookPlugin` is registered under ``webhook-<id>`` (:mod:`.registry`): the
outbox writes one row per event it wants (:meth:`WebhookPlugin.accepts_event`, its filter
of event types and services) and delivers it in the endpoint's own lane, with the
outbox's retries (tenacity backoff, ``Retry-After``) and dead letter. No fan-out here.

Each delivery (:meth:`Sender.send`) is one POST of the body of :mod:`.payload`, signed as
Standard Webhooks does, through :mod:`monitor.httpcall`: redirects are not followed, at
most ``webhooks.max_response`` bytes of the answer are read. The outcome:

- 2xx → delivered;
- 429, or 503 with ``Retry-After`` → retried after that delay, not counted as a failure;
- 3xx (redirects are not followed), 408, 425, 5xx, a timeout, a refused connection →
  retried with backoff, counted as a failure;
- another 4xx → this message is dead-lettered at once (the receiver refuses it as it is,
  sending the same again would not help; a volunteer may retry it), counted as a failure.

A failure adds one to the endpoint's ``consecutive_failures``, a success sets it back to 0;
at ``webhooks.disable_after`` the endpoint is disabled (see :mod:`.system`) and the
message that failed last is dead-lettered with the others still pending.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from monitor import __version__
from monitor.httpcall import Answer, DeliveryError, call
from monitor.notifications import PermanentFailure, RetryLater
from monitor.plugins import hookimpl
from monitor.webhooks import payload
from monitor.webhooks.signing import signature_header

if TYPE_CHECKING:
    import aiohttp

    from monitor.webhooks.models import WebhookEndpoint
    from monitor.webhooks.settings import WebhookSettings

log = logging.getLogger(__name__)

#: the User-Agent of every delivery
USER_AGENT = f"Vigie/{__version__} (webhooks)"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a plugin object knows of its endpoint's row (kept up to date by the registry)."""

    id: int
    #: (the address and the secrets stay out of ``repr``: it may reach a log)
    url: str = field(repr=False)
    secret: str = field(repr=False)
    previous_secret: str | None = field(repr=False)
    previous_until: float | None
    events: frozenset[str]
    #: service ids; empty: every service
    services: frozenset[str]
    updated_at: float

    @classmethod
    def of(cls, row: WebhookEndpoint) -> Endpoint:
        """The snapshot of a row."""
        return cls(row.id, row.url, row.secret, row.previous_secret, row.previous_until,
                   frozenset(split(row.events)), frozenset(split(row.services)),
                   row.updated_at)

    def secrets_at(self, now: float) -> tuple[str, ...]:
        """The secrets signing a message sent at ``now``: the current one, and the previous
        one during the rotation's overlap."""
        if self.previous_secret and self.previous_until is not None and now < self.previous_until:
            return (self.secret, self.previous_secret)
        return (self.secret,)

    def accepts(self, type_: str, service_ids: list[str]) -> bool:
        """Whether this endpoint subscribed to ``type_`` for one of ``service_ids``."""
        if type_ not in self.events:
            return False
        return not self.services or bool(self.services.intersection(service_ids))

    def hidden(self) -> tuple[str, ...]:
        """Texts never to let into a message: the address, its path and query (a receiver
        may put a token there), the secrets."""
        parts = urlsplit(self.url)
        return tuple(t for t in (self.url, parts.path if len(parts.path) > 1 else "",
                                 parts.query, self.secret, self.previous_secret or "") if t)


def split(text: str | None) -> list[str]:
    """A stored comma-separated list."""
    return [item for item in (text or "").split(",") if item]


class Sender:
    """Signs and posts deliveries for every endpoint of one process (one HTTP session).

    :param settings: the ``webhooks:`` section.
    :param succeeded: ``succeeded(endpoint_id)`` after a delivered message (blocking: run
        in a thread).
    :param failed: ``failed(endpoint_id, error) -> bool`` after a failed one; True when
        that disabled the endpoint (blocking: run in a thread).
    :param disabled: ``disabled(endpoint_id)``, on the loop, after ``failed`` said True.
    :param clock: the time the ``webhook-timestamp`` header carries.
    """

    def __init__(self, settings: WebhookSettings, *,
                 succeeded: Callable[[int], None] = lambda endpoint_id: None,
                 failed: Callable[[int, str], bool] = lambda endpoint_id, error: False,
                 disabled: Callable[[int], None] = lambda endpoint_id: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.succeeded = succeeded
        self.failed = failed
        self.disabled = disabled
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # made on first use, inside the running loop; no cookies between receivers
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
        return self._session

    async def post(self, endpoint: Endpoint, message_id: str, body: bytes) -> Answer:
        """Sign and POST one message; the answer when it is 2xx.

        :raises RetryLater: 429, or 503 with ``Retry-After``.
        :raises PermanentFailure: another 4xx.
        :raises DeliveryError: 3xx, 408, 425, 5xx, no connection, no answer in time.
        """
        now = self.clock()
        timestamp = int(now)
        headers = {
            "webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(endpoint.secrets_at(now), message_id,
                                                  timestamp, body),
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
        }
        answer = await call(self._client(), "POST", endpoint.url,
                            service=f"webhook {endpoint.id}", timeout=self.settings.timeout,
                            secrets=endpoint.hidden(), limit=self.settings.max_response,
                            data=body, headers=headers, allow_redirects=False)
        if answer.status >= 300:
            raise DeliveryError(f"webhook {endpoint.id}: HTTP {answer.status}: a redirect, "
                                "not followed (give the final address)", sent=True)
        return answer

    async def send(self, endpoint: Endpoint, message_id: str, body: bytes) -> None:
        """Deliver one message and count its outcome against the endpoint (the outbox
        handles what is raised: retry, retry later, dead letter)."""
        try:
            await self.post(endpoint, message_id, body)
        except RetryLater:
            raise
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            for hidden in endpoint.hidden():
                error = error.replace(hidden, "***")
            if await asyncio.to_thread(self.failed, endpoint.id, error):
                self.disabled(endpoint.id)
                raise PermanentFailure(f"webhook {endpoint.id} disabled after this failure: "
                                       f"{error}") from None
            raise
        await asyncio.to_thread(self.succeeded, endpoint.id)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class WebhookPlugin:
    """The plugin of one endpoint (``webhook-<id>``): its filter, and its deliveries.

    ``sender`` is None in a process that only writes events (the command line, a dashboard
    on its own): the rows are delivered by ``vigie run``.
    """

    def __init__(self, endpoint: Endpoint, sender: Sender | None) -> None:
        self.endpoint = endpoint
        self.sender = sender

    def accepts_event(self, event: Any) -> bool:
        """Whether this endpoint wants ``event`` (read by ``IncidentContext.wants`` before
        an outbox row is written)."""
        type_ = payload.event_type(event)
        if type_ is None:
            return False
        return self.endpoint.accepts(type_, [s.id for s in getattr(event, "services", ())])

    async def _deliver(self, event: Any) -> None:
        body = payload.body_for(event)
        if body is None:
            return
        if self.sender is None:  # only `vigie run` delivers
            raise RetryLater(60.0, "webhooks are delivered by vigie run")
        await self.sender.send(self.endpoint, event.idempotency_key, body)

    @hookimpl
    async def vigie_incident_opened(self, event: Any) -> None:
        """POST ``incident.opened``."""
        await self._deliver(event)

    @hookimpl
    async def vigie_incident_updated(self, event: Any) -> None:
        """POST ``incident.updated`` (a reminder is not sent)."""
        await self._deliver(event)

    @hookimpl
    async def vigie_incident_resolved(self, event: Any) -> None:
        """POST ``incident.resolved``."""
        await self._deliver(event)

    @hookimpl
    async def vigie_maintenance_changed(self, event: Any) -> None:
        """POST ``maintenance.announced``, ``.started``, ``.ended`` or ``.cancelled``."""
        await self._deliver(event)

    def __repr__(self) -> str:  # never the secret, never the address
        return f"<WebhookPlugin endpoint {self.endpoint.id}>"
