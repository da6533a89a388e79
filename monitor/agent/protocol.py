"""The agent's side of the protocol (``/api/agent/v1``, docs/agent.md): two calls, and
what each answer of the server means for the agent.

- ``GET /checks`` (with ``If-None-Match``) → :class:`~monitor.agent.checks.ChecksAnswer`,
  or None when nothing changed (304);
- ``POST /results`` → the server's count of what it stored.

Every other answer becomes one of three exceptions, so the caller decides once what to
do with each:

- :class:`Refused` — 401, or a 403 other than ``wrong_location``: the token is unknown,
  revoked, or not allowed; nothing the agent can fix by waiting. The agent stops;
- :class:`Rejected` — 400, 413, 415 or a 403 ``wrong_location`` to a push: the server
  refuses *this batch* for its content (too large, malformed, a check that is not this
  location's any more); a smaller batch may pass;
- :class:`Unavailable` — no answer, 5xx, 429 and any other status: try again later
  (``retry_after`` when the server said when).

The server's own sentence (``{"error", "message"}``) is kept, made safe and short, for
the agent's log; the token never appears in a message.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import ValidationError

from monitor import __version__
from monitor.agent.checks import ChecksAnswer
from monitor.httpcall import Answer, read_bounded, retry_after
from monitor.safetext import clean_line

#: the protocol's path under the server's address
API = "/api/agent/v1"
#: the largest list of checks read (a larger answer is refused)
MAX_CHECKS_BYTES = 32 * 1024 * 1024
#: the largest answer to a push read
MAX_ANSWER_BYTES = 64 * 1024
#: longest part of the server's message kept
MESSAGE_LIMIT = 300
#: seconds for one request, answer included
REQUEST_TIMEOUT = 60.0
#: longest Retry-After honoured (a longer one is taken as this)
MAX_RETRY_AFTER = 3600.0


class ProtocolError(Exception):
    """The server could not be used for this call; ``message`` says why."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None
                 ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class Refused(ProtocolError):
    """The server refuses the token (see the module)."""


class Rejected(ProtocolError):
    """The server refuses this batch for its content (see the module)."""


class Unavailable(ProtocolError):
    """The server cannot take the call now (see the module)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status, code)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Fetched:
    """A new list of checks, its ETag, and the server's clock when it answered."""

    answer: ChecksAnswer
    etag: str | None
    #: the server's clock minus this machine's (seconds; None when the server gave none)
    clock_offset: float | None


@dataclass(frozen=True, slots=True)
class Stored:
    """The server's answer to a push."""

    stored: int
    duplicates: int
    last_seq: int | None


def ssl_context(ca_file: Path | None) -> ssl.SSLContext | None:
    """The TLS settings for the server: the system's authorities, or ``ca_file``'s."""
    if ca_file is None:
        return None
    return ssl.create_default_context(cafile=str(ca_file))


class ServerClient:
    """Calls to one server with one token, over one keep-alive HTTP session.

    Use as ``async with ServerClient(...) as client``.
    """

    def __init__(self, base_url: str, token: str, ca_file: Path | None = None,
                 label: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # (Accept: a refusal the listener makes before the API reads the request, a
        # body too large, comes as the API's JSON too, with its sentence)
        self._headers = {"Authorization": f"Bearer {token}",
                         "Accept": "application/json",
                         "User-Agent": f"Vigie-agent/{__version__}"}
        self._ssl = ssl_context(ca_file)
        self._session: aiohttp.ClientSession | None = None
        self.label = label

    async def __aenter__(self) -> ServerClient:
        self._session = aiohttp.ClientSession(
            headers=self._headers, cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True,
                                           limit=4))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch_checks(self, etag: str | None) -> Fetched | None:
        """The checks of this agent's location, or None when they did not change since
        ``etag``.

        :raises ProtocolError: one of :class:`Refused`, :class:`Unavailable` (a list the
            agent cannot read counts as the server being unusable).
        """
        headers = {"If-None-Match": etag} if etag else {}
        asked = time.time()
        reply, body = await self._call("GET", "/checks", headers=headers,
                                       limit=MAX_CHECKS_BYTES)
        answered = time.time()
        if reply.status == 304:
            return None
        if reply.status != 200:
            raise _refusal(reply, push=False)
        try:
            answer = ChecksAnswer.model_validate_json(body)
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in error["loc"])
            raise Unavailable(f"the list of checks cannot be read ({where}: "
                              f"{clean_line(error['msg'], MESSAGE_LIMIT)})",
                              reply.status) from None
        offset = None
        if answer.server_time is not None:
            offset = answer.server_time - (asked + answered) / 2
        return Fetched(answer, reply.header("ETag"), offset)

    async def push(self, body: bytes) -> Stored:
        """Send one batch of results (``body``: the JSON of the push).

        :raises ProtocolError: one of :class:`Refused`, :class:`Rejected`,
            :class:`Unavailable`.
        """
        reply, _ = await self._call(
            "POST", "/results", data=body, headers={"Content-Type": "application/json"},
            limit=MAX_ANSWER_BYTES)
        if reply.status != 200:
            raise _refusal(reply, push=True)
        try:
            data = json.loads(reply.text)
            return Stored(int(data.get("stored", 0)), int(data.get("duplicates", 0)),
                          int(data["last_seq"]) if data.get("last_seq") is not None else None)
        except (ValueError, TypeError, AttributeError):
            # the batch was taken (200): what the server counted is only for the log
            return Stored(0, 0, None)

    async def _call(self, method: str, path: str, *, limit: int, **kwargs: Any
                    ) -> tuple[Answer, bytes]:
        """The server's answer (its text, for messages) and its body's bytes."""
        assert self._session is not None, "use ServerClient in `async with`"
        url = self.base_url + API + path
        try:
            async with self._session.request(method, url, allow_redirects=False,
                                             **kwargs) as response:
                body = await read_bounded(response, limit + 1)
                if len(body) > limit:
                    raise Unavailable(f"{method} {API}{path}: the answer is larger than "
                                      f"{limit} bytes", response.status)
                text = body[:MAX_ANSWER_BYTES].decode("utf-8", "replace")
                return Answer(response.status, dict(response.headers), text), body
        except TimeoutError:
            raise Unavailable(f"{method} {API}{path}: no answer within "
                              f"{REQUEST_TIMEOUT:.0f} s") from None
        except aiohttp.ClientError as exc:
            raise Unavailable(f"{method} {API}{path}: {_network_error(exc)}") from None


def _network_error(exc: BaseException) -> str:
    """A short sentence for a failed connection (the exception's text names the host,
    never the token)."""
    text = clean_line(str(exc), MESSAGE_LIMIT) or type(exc).__name__
    return f"cannot reach the server ({text})"


def _refusal(reply: Answer, *, push: bool) -> ProtocolError:
    status = reply.status
    code, message = _error_of(reply)
    said = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status == 401 or (status == 403 and not (push and code == "wrong_location")):
        return Refused(said, status, code)
    if push and status in (400, 403, 413, 415):
        return Rejected(said, status, code)
    wait = None
    if status in (429, 503) and reply.header("Retry-After") is not None:
        wait = min(MAX_RETRY_AFTER, retry_after(reply))
    return Unavailable(said, status, code, wait)


def _error_of(reply: Answer) -> tuple[str | None, str | None]:
    """``(error code, message)`` of the server's JSON error body, made safe."""
    data = reply.json()
    if not isinstance(data, dict):
        return None, None
    code = data.get("error")
    message = data.get("message")
    return (clean_line(code, 60) if isinstance(code, str) else None,
            clean_line(message, MESSAGE_LIMIT) if isinstance(message, str) else None)
