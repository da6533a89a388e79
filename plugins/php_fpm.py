"""Probe kind ``php_fpm``: a PHP-FPM pool answers its status page and is not saturated.

The page is PHP-FPM's ``pm.status_path`` served through the web server, asked for in
JSON (``?json`` is added to the URL when missing; the plain-text form is read too).
The pool is degraded when requests wait in its listen queue, when it has no idle
process left, or when ``max children reached`` grew since the previous run.

That last rule needs the previous value: the probe keeps, per check, the counter and
the pool's start time seen last (a small in-memory memo, the one exception to "a probe
keeps no per-check state"). After a restart of Vigie or of the pool the first run only
records the counter.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator
from yarl import URL

from monitor.api import (
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Reason,
    SampleSpec,
    Status,
    Words,
    _,
    hookimpl,
    n_,
    reason,
)
from plugins._lazy import LazyModule

# imported by the first check of this kind, not by loading the plugin (megabytes with
# its SSL contexts, once no other module imports aiohttp at start)
aiohttp = LazyModule("aiohttp")

#: a status page is a few hundred bytes (``&full`` lists processes: still small)
MAX_BODY = 1024 * 1024

_REQUIRED = ("pool", "accepted conn", "idle processes", "active processes", "total processes")
_NUMBERS = ("accepted conn", "listen queue", "idle processes", "active processes",
            "total processes", "max children reached", "slow requests")


class PhpFpmConfig(ProbeConfig):
    """Keys of a ``kind: php_fpm`` check."""

    #: the status page, e.g. ``http://127.0.0.1/fpm-status`` (``?json`` is added)
    url: str
    #: degraded when more requests than this wait in the listen queue
    max_listen_queue: int = Field(default=0, ge=0)
    #: degraded when fewer processes than this are idle
    min_idle_processes: int = Field(default=1, ge=0)
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = URL(value)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    def status_url(self) -> URL:
        """The URL asked for, with ``json`` in its query."""
        url = URL(self.url)
        return url if "json" in url.query else url.update_query({"json": ""})


def _not_status_page() -> ProbeFailed:
    return ProbeFailed(reason(
        "php_fpm.not_status", _("This page is not a PHP-FPM status page (pm.status_path)")),
        status=Status.UNKNOWN)


#: the members' words when a status page cannot be read (shared with apache_status)
UNREADABLE = _("Vigie could not read the web servers' state; the volunteers know")
#: what members read for the php_fpm kind's reasons
PUBLIC_WORDS: dict[str, Words] = {
    "php_fpm": _("The web hosting is overloaded: sites may be slow"),
    "php_fpm.http_status": UNREADABLE,
    "php_fpm.not_status": UNREADABLE,
    "php_fpm.too_large": UNREADABLE,
}


def parse_status(body: bytes) -> dict[str, Any]:
    """The status fields from the JSON page (or its plain-text form).

    :raises ProbeFailed: UNKNOWN when the body is not a PHP-FPM status page.
    """
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = _parse_text(text)
    if not isinstance(data, dict) or any(key not in data for key in _REQUIRED):
        raise _not_status_page()
    for key in _NUMBERS:
        if key in data:
            try:
                data[key] = int(data[key])
            except (TypeError, ValueError):
                raise _not_status_page() from None
    return data


def _parse_text(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip():
            fields.setdefault(key.strip(), value.strip())
    return fields


def idle_count(n: int) -> Words:
    """``3 idle`` (``3 libres``): a count of idle processes or workers in a reason."""
    return n_("{n} idle", "{n} idle", n)


def busy_count(n: int) -> Words:
    """``150 busy`` (``150 occupés``): a count of busy processes or workers in a reason."""
    return n_("{n} busy", "{n} busy", n)


def saturation(status: dict[str, Any], config: PhpFpmConfig,
               previous: tuple[Any, int] | None) -> Reason | None:
    """Why the pool is saturated, or None. ``previous`` is ``(start time, max children
    reached)`` from the last run of this check, if any."""
    queue = status.get("listen queue")
    if queue is not None and queue > config.max_listen_queue:
        return reason("php_fpm.listen_queue",
                      n_("{n} request is waiting for a free PHP process",
                         "{n} requests are waiting for a free PHP process", queue))
    reached = status.get("max children reached")
    if previous is not None and reached is not None:
        started, before = previous
        if started == status.get("start time") and reached > before:
            return reason("php_fpm.max_children",
                          n_("The maximum number of PHP processes was reached "
                             "({n} time since the last check)",
                             "The maximum number of PHP processes was reached "
                             "({n} times since the last check)", reached - before))
    idle = status["idle processes"]
    if idle < config.min_idle_processes:
        return reason("php_fpm.no_idle",
                      _("Not enough free PHP processes ({idle}, {busy})", idle=idle_count(idle),
                        busy=busy_count(status["active processes"])))
    return None


async def read_body(response: aiohttp.ClientResponse, limit: int = MAX_BODY) -> bytes:
    """The response body, refusing one larger than ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise ProbeFailed(reason("php_fpm.too_large",
                                     _("The status page is too large to be one")),
                              status=Status.UNKNOWN)
        chunks.append(chunk)
    return b"".join(chunks)


class PhpFpmProbe(Probe):
    """Reads a PHP-FPM pool's status page and judges its saturation."""

    kind = "php_fpm"
    public_words = PUBLIC_WORDS
    Config = PhpFpmConfig
    description = "PHP-FPM pool status page: listen queue, idle processes, max children"
    samples = (
        SampleSpec("php_fpm_active_processes", "PHP processes serving a request"),
        SampleSpec("php_fpm_idle_processes", "PHP processes waiting for a request"),
        SampleSpec("php_fpm_total_processes", "PHP processes in the pool"),
        SampleSpec("php_fpm_listen_queue", "Requests waiting for a free PHP process"),
        SampleSpec("php_fpm_accepted_connections", "Requests accepted since the pool started"),
        SampleSpec("php_fpm_max_children_reached",
                   "Times the pool hit pm.max_children since it started"),
    )
    info_keys = ("pool", "process_manager")

    def __init__(self) -> None:
        #: check key → (pool start time, max children reached) seen at its last run
        self._last: dict[str, tuple[Any, int]] = {}

    async def check(self, config: PhpFpmConfig, ctx: ProbeContext) -> ProbeResult:
        """Fetch the status page once and judge it."""
        tls = {} if config.verify_tls else {"ssl": False}
        async with ctx.http.get(config.status_url(), headers={"Accept": "application/json"},
                                **tls) as response:
            if response.status != 200:
                raise ProbeFailed(reason(
                    "php_fpm.http_status",
                    _("The PHP-FPM status page answered {got} instead of 200",
                      got=response.status)))
            body = await read_body(response)
        status = parse_status(body)
        samples = {
            "php_fpm_active_processes": float(status["active processes"]),
            "php_fpm_idle_processes": float(status["idle processes"]),
            "php_fpm_total_processes": float(status["total processes"]),
            "php_fpm_accepted_connections": float(status["accepted conn"]),
        }
        if "listen queue" in status:
            samples["php_fpm_listen_queue"] = float(status["listen queue"])
        if "max children reached" in status:
            samples["php_fpm_max_children_reached"] = float(status["max children reached"])
        info = {"pool": str(status["pool"])}
        if "process manager" in status:
            info["process_manager"] = str(status["process manager"])

        key = ctx.check.key
        why = saturation(status, config, self._last.get(key))
        if "max children reached" in status:
            self._last[key] = (status.get("start time"), status["max children reached"])
        if why is not None:
            return ProbeResult.degraded(why, samples=samples, info=info)
        return ProbeResult.up(samples=samples, info=info)


@hookimpl
def vigie_register_probes():
    """Register the ``php_fpm`` probe kind."""
    return [PhpFpmProbe]
