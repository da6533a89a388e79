"""One outbound HTTP call of a bridge, and what its outcome means for the outbox.

Bridges never loop on errors themselves: the outbox retries. What a bridge must do is say
precisely what happened, and this module is where that is decided for every bridge
(guides, forum, helpdesks; it lives in the core so that no bridge imports another):

- a 2xx answer is returned;
- 429, or 503 with ``Retry-After``: :class:`monitor.notifications.RetryLater` with the
  delay asked for (``Retry-After`` in seconds or as a date, else the forum's
  ``extras.wait_seconds``);
- another 4xx (validation, authentication, unknown group…): the request will never
  succeed as it is, :class:`monitor.notifications.PermanentFailure` with the service's
  own message, so the outbox dead-letters it and volunteers read why;
- 5xx, 408: :class:`DeliveryError`, retried with backoff;
- the connection could not be made: :class:`DeliveryError` with ``sent=False`` (nothing
  reached the server, creating again is safe);
- a timeout or a dropped connection after the request went out: :class:`DeliveryError`
  with ``sent=None`` (*ambiguous*: the server may have acted; look up before creating
  again).

Secrets given in ``redact`` are replaced by ``***`` in every message this module builds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from monitor.notifications import PermanentFailure, RetryLater
from monitor.safetext import clean_line

#: delay asked of the outbox after a 429 that says nothing about when to come back
DEFAULT_RETRY_AFTER = 60.0
#: longest part of a remote error message kept in a dead-letter message
MAX_MESSAGE = 300


class DeliveryError(Exception):
    """A call failed in a way worth retrying.

    ``sent`` is False when nothing reached the server, None when it is unknown (a timeout
    or a dropped connection after sending: the server may have acted), True when the
    server answered (with a 5xx).
    """

    def __init__(self, message: str, sent: bool | None) -> None:
        super().__init__(message)
        self.sent = sent

    @property
    def ambiguous(self) -> bool:
        """True when the server may have acted on the request."""
        return self.sent is not False


@dataclass(frozen=True, slots=True)
class Answer:
    """A response, read whole."""

    status: int
    headers: Mapping[str, str]
    text: str

    def header(self, name: str) -> str | None:
        """A response header, whatever its case (proxies lower-case them)."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def remote_message(answer: Answer) -> str:
    """The error message a service put in its answer, whatever its shape.

    Knows the shapes the bridges' services use: a list of ``errors`` (the forum),
    ``error_human`` or ``error`` (a helpdesk), ``error.message`` (a guide site),
    ``message``, and plain-text bodies.
    """
    data = answer.json()
    message = ""
    if isinstance(data, dict):
        errors = data.get("errors")
        error = data.get("error")
        if isinstance(errors, list) and errors:
            message = "; ".join(str(e) for e in errors)
        elif data.get("error_human"):
            message = str(data["error_human"])
        elif isinstance(error, dict):
            message = str(error.get("message", ""))
        elif error:
            message = str(error)
        elif data.get("message"):
            message = str(data["message"])
    if not message:
        message = answer.text
    # outside text, kept in dead letters, logs and the admin's pages: made safe here once
    return clean_line(message, MAX_MESSAGE)


def retry_after(answer: Answer, default: float = DEFAULT_RETRY_AFTER) -> float:
    """Seconds to wait before retrying, from ``Retry-After`` (seconds or HTTP date) or
    the forum's ``extras.wait_seconds``; ``default`` when neither says."""
    value = (answer.header("Retry-After") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    data = answer.json()
    if isinstance(data, dict) and isinstance(data.get("extras"), dict):
        wait = data["extras"].get("wait_seconds")
        if isinstance(wait, (int, float)):
            return max(0.0, float(wait))
    return default


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of a response's body (the rest is left unread: the
    connection is closed rather than drained)."""
    data = bytearray()
    while len(data) < limit:
        chunk = await response.content.read(limit - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


async def call(session: aiohttp.ClientSession, method: str, url: str, *, service: str,
               timeout: float, secrets: Iterable[str] = (), accept: Iterable[int] = (),
               limit: int | None = None, **kwargs: Any) -> Answer:
    """Make one request and read the answer, mapping every failure as the module says.

    :param service: the remote service's name in messages (the helpdesk's, the forum's).
    :param timeout: seconds for the whole call.
    :param secrets: values never to let into a message.
    :param accept: error statuses returned as answers instead of raising (e.g. 404 for
        a lookup).
    :param limit: read at most this many bytes of the answer (default: all of it).
    :param kwargs: passed to :meth:`aiohttp.ClientSession.request` (``json``, ``data``,
        ``headers``, ``params``…).
    :return: the answer, when its status is 2xx, 3xx or in ``accept``.
    """
    secrets = tuple(secrets)
    try:
        async with session.request(method, url, timeout=aiohttp.ClientTimeout(total=timeout),
                                   **kwargs) as response:
            body = await (response.read() if limit is None
                          else read_bounded(response, limit))
            answer = Answer(response.status, dict(response.headers),
                            body.decode(response.charset or "utf-8", errors="replace"))
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        raise DeliveryError(redact(f"{service}: cannot connect: {exc}", secrets),
                            sent=False) from None
    except TimeoutError:
        raise DeliveryError(f"{service}: no answer within {timeout:g}s (the request may "
                            "have been received)", sent=None) from None
    except aiohttp.ClientError as exc:
        raise DeliveryError(redact(f"{service}: connection lost: {exc}", secrets),
                            sent=None) from None
    if answer.status in tuple(accept):
        return answer
    return check(answer, service, secrets)


def check(answer: Answer, service: str, secrets: Iterable[str] = (),
          describe: Callable[[Answer], str] = remote_message) -> Answer:
    """Return a 2xx/3xx ``answer``; raise what its status means otherwise."""
    status = answer.status
    if status < 400:
        return answer
    message = redact(describe(answer), secrets)
    if status == 429 or (status == 503 and answer.header("Retry-After") is not None):
        seconds = retry_after(answer)
        raise RetryLater(seconds, f"{service}: HTTP {status}, retry after {seconds:.0f}s")
    if 400 <= status < 500 and status not in (408, 425):
        hint = ""
        if status in (401, 403):
            hint = " Vérifiez la clé d'API dans la configuration (check the API key)."
        raise PermanentFailure(f"{service} a refusé la demande (HTTP {status}) : "
                               f"{message}.{hint}")
    raise DeliveryError(f"{service}: HTTP {status}: {message}", sent=True)
