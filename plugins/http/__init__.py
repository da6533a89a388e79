"""The ``http`` probe: fetch a URL and judge its status, body, JSON and speed.

The workhorse of web hosting checks. A run is one request (plus redirects), one bounded
body read and a few comparisons; everything else is prepared at load
(:class:`plugins.http.plan.Plan`).

Every run opens a new connection (``Connection: close``, and the response is closed, not
released to the pool), so a check always measures a real connection. Redirects are
followed here rather than by aiohttp, so ``backend``, ``host_header`` and ``ip_version``
apply to every hop on the configured host, and "too many redirects" gets its own reason.

Modules: :mod:`~plugins.http.config` (keys), :mod:`~plugins.http.plan` (the check
prepared), :mod:`~plugins.http.verdict` (judging and reasons),
:mod:`~plugins.http.jsonpath`, :mod:`~plugins.http.phases`.
"""

from __future__ import annotations

import asyncio
import socket

import aiohttp
from yarl import URL

from monitor.api import (
    Probe,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    SampleSpec,
    Status,
    deadline,
    hookimpl,
)
from plugins import _tlsinfo
from plugins.http import fastpath, verdict
from plugins.http.config import HttpConfig
from plugins.http.phases import Phases, attach_tracing
from plugins.http.plan import HttpCheckOptions, Plan
from plugins.http.verdict import (
    failure_reason,
    judge,
    slow_reason,
    timeout_reason,
    too_many_redirects,
)

__all__ = ["HttpCheckOptions", "HttpConfig", "HttpProbe"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: the run's deadline is ours (monitor.deadline): no second set of timers in aiohttp
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None,
                                           sock_connect=None)

Samples = dict[str, float | dict[str, float]]


class _Run:
    """Progress of one run, read to explain a failure."""

    __slots__ = ("_url", "phases", "plan", "reading_body", "status", "tls_name")

    def __init__(self, plan: Plan, phases: Phases | None) -> None:
        self.plan = plan
        self._url: URL | None = None
        self.tls_name: str | None = None
        self.reading_body = False
        self.phases = phases
        self.status: int | None = None

    @property
    def url(self) -> URL:
        """The URL of the hop in progress (the configured one until a redirect)."""
        return self._url or self.plan.url

    @url.setter
    def url(self, value: URL) -> None:
        self._url = value

    def samples(self) -> Samples:
        """What was measured before the failure."""
        out: Samples = {}
        if self.status is not None:
            out["http_status_code"] = self.status
        if self.phases is not None:
            out["http_phase_seconds"] = self.phases.as_sample()
        return out


class HttpProbe(Probe):
    """Fetch a URL; judge status code, body (keyword, regex, JSON) and response time."""

    kind = "http"
    Config = HttpConfig
    public_words = {**verdict.PUBLIC_WORDS, **_tlsinfo.PUBLIC_WORDS}
    description = "Fetch a URL and check its status code, content and response time"
    samples = (
        SampleSpec("http_status_code", "HTTP status code of the final answer"),
        SampleSpec("http_response_seconds",
                   "Seconds from the request to the end of the body, redirects included"),
        SampleSpec("http_phase_seconds",
                   "Seconds per phase: dns, connect (TCP and TLS), processing (until the "
                   "answer's headers), transfer (body); with phases: true", label="phase"),
    )

    @classmethod
    def prepare(cls, config: HttpConfig) -> HttpCheckOptions:
        """The URL and a plan whose rules are shared with every check configured alike
        (the validated model, about 700 bytes per check, is not kept)."""
        return HttpCheckOptions(config)

    @classmethod
    def config_of(cls, options: HttpConfig | HttpCheckOptions) -> HttpConfig:
        """The check's own model again: the shared options with its URL."""
        if isinstance(options, HttpCheckOptions):
            return options.plan.rules.options.model_copy(update={"url": options.url})
        return options

    async def check(self, config: HttpConfig | HttpCheckOptions,
                    ctx: ProbeContext) -> ProbeResult:
        """Run one request (plus redirects) and judge the answer."""
        plan = config.plan
        phases = None
        if plan.phases:
            attach_tracing(ctx.http)
            phases = Phases()
        run = _Run(plan, phases)
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            async with deadline(ctx.remaining()):
                status, body, charset = await _fetch(plan, ctx.http, run)
        except TimeoutError:
            raise ProbeFailed(timeout_reason(run.url, ctx.timeout, run.reading_body),
                              samples=run.samples()) from None
        except (aiohttp.ClientError, OSError) as exc:
            why = failure_reason(exc, run.url, run.tls_name, plan.family)
            if why is None:
                raise
            raise ProbeFailed(why, samples=run.samples()) from None
        end = loop.time()
        samples: Samples = {"http_status_code": status, "http_response_seconds": end - start}
        if phases is not None:
            phases.finish(end)
            samples["http_phase_seconds"] = phases.as_sample()
        failure = judge(plan, status, body, charset)
        if failure is not None:
            raise ProbeFailed(failure, samples=samples)
        if plan.degraded_after is not None and end - start > plan.degraded_after:
            return ProbeResult(Status.DEGRADED, slow_reason(end - start, plan.degraded_after),
                               samples)
        return ProbeResult(Status.UP, None, samples)


async def _fetch(plan: Plan, session: aiohttp.ClientSession,
                 run: _Run) -> tuple[int, bytes, str | None]:
    """Request ``plan.url``, following redirects; return (status, body, charset)."""
    method, body, headers = plan.method, plan.body, plan.headers
    first = 0
    if plan.target is not None and run.phases is None:
        # the common case, the plain-HTTP fast path: bytes prepared once, no URL object
        host, port, _unused = plan.origin  # type: ignore[misc]  # set with the target
        answer = await fastpath.exchange_prepared(
            host, port, plan.request(session.headers.get("User-Agent", "Vigie")), method,
            plan.max_body if plan.read_body else None, run)
        run.status = status = answer.status
        location = answer.location if status in _REDIRECTS else None
        if not (plan.follow and location):
            return status, answer.body, answer.charset
        if plan.max_redirects == 0:
            raise ProbeFailed(too_many_redirects(0), samples=run.samples())
        url, method, body, headers = _redirect(plan, plan.url, location, status, method, body,
                                               headers)
        first = 1
    else:
        url = plan.url
    for hops in range(first, plan.max_redirects + 1):
        run.url = url
        if plan.direct:
            target, tls_name, hop_headers = url, None, headers
        else:
            target, tls_name, hop_headers = await _route(plan, url, headers, run)
        run.tls_name = tls_name
        if (target.scheme == "http" and plan.fast_client and run.phases is None
                and hop_headers is headers):
            answer = await fastpath.exchange(
                target, method, hop_headers, body,
                plan.max_body if plan.read_body else None,
                session.headers.get("User-Agent", "Vigie"), run)
            run.status = status = answer.status
            location = answer.location if status in _REDIRECTS else None
            if not (plan.follow and location):
                return status, answer.body, answer.charset
        else:
            status, location, answered = await _aiohttp_hop(
                session, plan, method, target, hop_headers, body, tls_name, run)
            if answered is not None:
                return answered
        if hops == plan.max_redirects:
            break
        url, method, body, headers = _redirect(plan, url, location, status, method, body,
                                               headers)
    raise ProbeFailed(too_many_redirects(plan.max_redirects), samples=run.samples())


def _redirect(plan: Plan, url: URL, location: str, status: int, method: str,
              body: bytes | None, headers: dict[str, str]
              ) -> tuple[URL, str, bytes | None, dict[str, str]]:
    """The next hop after a redirect from ``url`` to ``location``: URL, method, body, headers."""
    try:
        next_url = url.join(URL(location))
    except ValueError:
        raise aiohttp.InvalidUrlRedirectClientError(location) from None
    if next_url.scheme not in ("http", "https") or not next_url.raw_host:
        raise aiohttp.InvalidUrlRedirectClientError(location)
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, body = "GET", None
    if headers is plan.headers and next_url.origin() != plan.url.origin():
        # as browsers do: credentials never follow a redirect to another site
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    return next_url, method, body, headers


async def _aiohttp_hop(session: aiohttp.ClientSession, plan: Plan, method: str, target: URL,
                       hop_headers: dict[str, str], body: bytes | None, tls_name: str | None,
                       run: _Run) -> tuple[int, str | None, tuple[int, bytes, str | None] | None]:
    """One hop through aiohttp: (status, redirect location, final answer or None)."""
    resp = await session.request(
            method, target, headers=hop_headers, data=body, allow_redirects=False,
            ssl=plan.ssl, server_hostname=tls_name, timeout=_NO_CLIENT_TIMEOUT,
            raise_for_status=False, trace_request_ctx=run.phases)
    try:
        run.status = status = resp.status
        location = resp.headers.get("Location") if status in _REDIRECTS else None
        if not (plan.follow and location):
            run.reading_body = True
            data = await _read_body(resp, plan.max_body) if plan.read_body else b""
            return status, None, (status, data, resp.charset)
        return status, location, None
    finally:
        resp.close()  # never back to the pool: the next check opens its own connection


async def _route(plan: Plan, url: URL, headers: dict[str, str],
                 run: _Run) -> tuple[URL, str | None, dict[str, str]]:
    """Where to connect for ``url`` when ``backend``, ``ip_version`` or ``host_header`` is set.

    Returns the URL to connect to, the TLS server name (None: aiohttp uses the URL's host)
    and this hop's headers. ``host_header`` and ``backend`` only apply to the configured
    URL's host, not to a redirect elsewhere.
    """
    same_host = url.raw_host == plan.url.raw_host
    name = url.raw_host
    hop_headers = headers
    if same_host and plan.host_header is not None:
        hop_headers = {**headers, "Host": plan.host_header}
        name = plan.host_header_name
    if same_host and plan.backend is not None:
        address, backend_port = plan.backend
        port = backend_port if backend_port is not None and url.port == plan.url.port \
            else url.port
    elif plan.family:
        address, port = await _resolve(url.raw_host, url.port, plan.family, run), url.port
    else:
        tls_name = name if url.scheme == "https" and name != url.raw_host else None
        return url, tls_name, hop_headers
    if hop_headers is headers:
        hop_headers = {**headers, "Host": url.host_port_subcomponent}
    tls_name = name if url.scheme == "https" else None
    return url.with_host(address).with_port(port), tls_name, hop_headers


async def _resolve(host: str, port: int | None, family: int, run: _Run) -> str:
    """First address of ``host`` in ``family`` (for ``ip_version: 4`` or ``6``)."""
    for literal_family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(literal_family, host)
        except OSError:
            continue
        if literal_family != family:  # an address of the other family: nothing to resolve
            raise socket.gaierror(socket.EAI_NONAME, "address of the other IP version")
        return host
    loop = asyncio.get_running_loop()
    start = loop.time()
    infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    if run.phases is not None:
        run.phases.dns += loop.time() - start
    return infos[0][4][0]


async def _read_body(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the body (the rest is dropped with the connection)."""
    content = resp.content
    first = await content.read(limit)
    if len(first) >= limit or not first or content.at_eof():
        return first
    chunks, size = [first], len(first)
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


@hookimpl
def vigie_register_probes() -> list[type[Probe]]:
    """The ``http`` probe kind."""
    return [HttpProbe]
