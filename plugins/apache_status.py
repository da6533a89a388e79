"""Probe kind ``apache_status``: Apache answers ``mod_status`` and has workers to spare.

The page is ``/server-status?auto`` (``auto`` is added to the URL when missing): a first
line with the server name, then ``Key: value`` lines (``ServerVersion``, ``ServerMPM``,
``ServerUptimeSeconds``, ``BusyWorkers``, ``IdleWorkers``, ``Scoreboard``; with
``ExtendedStatus`` also ``Total Accesses``, ``ReqPerSec``…). The server is degraded when
fewer workers than ``min_idle_workers`` are idle: the next visitors will wait.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from yarl import URL

from monitor.api import (
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    SampleSpec,
    Status,
    _,
    hookimpl,
    http_url_problem,
    reason,
)
from plugins.php_fpm import UNREADABLE, busy_count, idle_count
from plugins._lazy import LazyModule

# imported by the first check of this kind, not by loading the plugin (megabytes with
# its SSL contexts, once no other module imports aiohttp at start)
aiohttp = LazyModule("aiohttp")

#: ``?auto`` is a few hundred bytes plus one scoreboard character per worker slot
MAX_BODY = 1024 * 1024


class ApacheStatusConfig(ProbeConfig):
    """Keys of a ``kind: apache_status`` check."""

    #: the status page, e.g. ``http://127.0.0.1/server-status`` (``?auto`` is added)
    url: str
    #: degraded when fewer workers than this are idle
    min_idle_workers: int = Field(default=1, ge=0)
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if http_url_problem(value) is not None:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    def status_url(self) -> URL:
        """The URL asked for, with ``auto`` in its query."""
        url = URL(self.url)
        return url if "auto" in url.query else url.update_query({"auto": ""})


def _not_status_page() -> ProbeFailed:
    return ProbeFailed(reason(
        "apache.not_status", _("This page is not an Apache status page (mod_status, ?auto)")),
        status=Status.UNKNOWN)


def parse_status(body: bytes) -> dict[str, str]:
    """The ``Key: value`` fields of a ``?auto`` page (first occurrence of a key wins:
    the event MPM repeats ``BusyWorkers``/``IdleWorkers`` with another way of counting).

    :raises ProbeFailed: UNKNOWN when the body is not an Apache status page.
    """
    fields: dict[str, str] = {}
    for line in body.decode("utf-8", errors="replace").splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip():
            fields.setdefault(key.strip(), value.strip())
    for key in ("BusyWorkers", "IdleWorkers"):
        if not fields.get(key, "").isdigit():
            raise _not_status_page()
    return fields


def _number(fields: dict[str, str], *keys: str) -> float | None:
    for key in keys:
        try:
            return float(fields[key])
        except (KeyError, ValueError):
            continue
    return None


async def read_body(response: aiohttp.ClientResponse, limit: int = MAX_BODY) -> bytes:
    """The response body, refusing one larger than ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise _not_status_page()
        chunks.append(chunk)
    return b"".join(chunks)


class ApacheStatusProbe(Probe):
    """Reads Apache's ``server-status?auto`` and judges its idle workers."""

    kind = "apache_status"
    Config = ApacheStatusConfig
    public_words = {
        "apache": _("The web hosting is overloaded: sites may be slow"),
        "apache.http_status": UNREADABLE,
        "apache.not_status": UNREADABLE,
    }
    description = "Apache mod_status (?auto): busy and idle workers, requests per second"
    samples = (
        SampleSpec("apache_busy_workers", "Apache workers serving a request"),
        SampleSpec("apache_idle_workers", "Apache workers waiting for a request"),
        SampleSpec("apache_requests_per_second",
                   "Requests per second averaged since the start (needs ExtendedStatus)"),
        SampleSpec("apache_uptime_seconds", "Seconds since Apache (re)started"),
    )
    info_keys = ("version", "mpm")

    async def check(self, config: ApacheStatusConfig, ctx: ProbeContext) -> ProbeResult:
        """Fetch the status page once and judge it."""
        tls = {} if config.verify_tls else {"ssl": False}
        async with ctx.http.get(config.status_url(), **tls) as response:
            if response.status != 200:
                raise ProbeFailed(reason(
                    "apache.http_status",
                    _("The Apache status page answered {got} instead of 200",
                      got=response.status)))
            body = await read_body(response)
        fields = parse_status(body)
        busy, idle = int(fields["BusyWorkers"]), int(fields["IdleWorkers"])
        samples: dict[str, float | dict[str, float]] = {
            "apache_busy_workers": float(busy),
            "apache_idle_workers": float(idle),
        }
        for name, keys in (("apache_requests_per_second", ("ReqPerSec",)),
                           ("apache_uptime_seconds", ("ServerUptimeSeconds", "Uptime"))):
            value = _number(fields, *keys)
            if value is not None:
                samples[name] = value
        info = {key: fields[field] for key, field in
                (("version", "ServerVersion"), ("mpm", "ServerMPM")) if fields.get(field)}
        if idle < config.min_idle_workers:
            why = reason("apache.no_idle",
                         _("Not enough free Apache workers ({idle}, {busy})",
                           idle=idle_count(idle), busy=busy_count(busy)))
            return ProbeResult.degraded(why, samples=samples, info=info)
        return ProbeResult.up(samples=samples, info=info)


@hookimpl
def vigie_register_probes():
    """Register the ``apache_status`` probe kind."""
    return [ApacheStatusProbe]
