"""Self-monitoring: call a dead-man URL after every completed cycle.

A dead-man service on *another* machine (Healthchecks, Uptime Kuma's push monitors,
Cronitor…) expects a request every few minutes and alerts when none comes: so someone
hears about it when Vigie itself dies, hangs, or loses its network — the one failure
Vigie cannot report on its own.

Configuration (top-level section ``deadman``, absent = off)::

    deadman:
      url: ${VIGIE_DEADMAN_URL}          # e.g. https://hc-ping.com/<uuid>; url_file works
      fail_url: ${VIGIE_DEADMAN_URL}/fail  # optional: called instead while the database is away
      method: GET                        # GET, POST (a short text body) or HEAD
      timeout: 10s

``vigie_startup`` registers a :class:`DeadmanPinger` (``ctx.add_plugin``); its
``vigie_cycle_completed`` hookimpl calls the URL each time every check has run once
more. It never raises and never retries (the next cycle is the retry): a failing ping is
logged once, and once again when it works again. The URLs are secrets (the address is
the credential), so they never appear in logs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator

from monitor.api import Duration, StrictModel, hookimpl, http_url_problem
from plugins._lazy import LazyModule

if TYPE_CHECKING:
    from monitor.api import StartupContext

# imported by the first ping, not by loading the plugin (megabytes with its SSL
# contexts, once no other module imports aiohttp at start)
aiohttp = LazyModule("aiohttp")

log = logging.getLogger(__name__)

#: name under which the pinger is registered with the plugin manager
PINGER_NAME = "deadman.pinger"


def check_http_url(value: SecretStr | None) -> SecretStr | None:
    """Accept an http(s) address with a host; the error never repeats the value."""
    if value is None:
        return value
    # the message never repeats the value: the address is the secret
    if http_url_problem(value.get_secret_value()) is not None:
        raise ValueError("expected an http:// or https:// address with a host "
                         "(e.g. https://hc-ping.com/<uuid>)")
    return value


class DeadmanSettings(StrictModel):
    """The ``deadman`` section: a URL called after every completed cycle."""

    # validation errors must not echo the input: it holds secrets
    model_config = StrictModel.model_config | {"hide_input_in_errors": True}

    url: SecretStr = Field(description=(
        "Address called after every completed cycle (a Healthchecks ping URL, an Uptime "
        "Kuma push URL…). A secret: give it with `${ENV}` or `url_file`."))
    fail_url: SecretStr | None = Field(default=None, description=(
        "Address called instead of `url` when a cycle completes while the database is "
        "unreachable (Vigie probes, but saves nothing). Healthchecks: `url` + `/fail`; "
        "Uptime Kuma: `url` with `?status=down`. Unset: `url` is called as usual."))
    method: Literal["GET", "POST", "HEAD"] = Field(default="GET", description=(
        "HTTP method. POST sends a one-line text summary of the cycle (Healthchecks "
        "shows it in the ping's log)."))
    timeout: Duration = Field(default=10.0, description=(
        "Longest wait for the dead-man service to answer."))
    verify_tls: bool = Field(default=True, description=(
        "Verify the dead-man service's TLS certificate."))

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url", "fail_url")
    @classmethod
    def _http_urls(cls, value: SecretStr | None) -> SecretStr | None:
        return check_http_url(value)


def _describe(exc: BaseException) -> str:
    """Why a ping failed, without the URL (aiohttp puts it in most messages)."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS error"
    return type(exc).__name__


class DeadmanPinger:
    """Calls the dead-man URL after each completed cycle; registered as a plugin object.

    :param settings: the ``deadman`` section.
    :param store_up: returns False while the database is unreachable (then ``fail_url``,
        when set, is called instead of ``url``).
    """

    def __init__(self, settings: DeadmanSettings, store_up: Any = lambda: True) -> None:
        self.settings = settings
        self._store_up = store_up
        self._session: aiohttp.ClientSession | None = None
        #: the last ping failed (so the next failure is not logged again)
        self.failing = False
        self.pings = 0

    def _client(self) -> aiohttp.ClientSession:
        # created on first use, inside the running event loop
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True),
                headers={"User-Agent": "Vigie dead-man ping"})
        return self._session

    @hookimpl
    async def vigie_cycle_completed(self, at: float, checks: int, duration: float) -> None:
        """Ping the dead-man service; log (once) when that fails, never raise."""
        settings = self.settings
        url = settings.url
        if settings.fail_url is not None and not self._store_up():
            url = settings.fail_url
        body = None
        if settings.method == "POST":
            body = (f"Vigie: cycle of {checks} checks completed in {duration:.1f} s; "
                    f"database {'up' if self._store_up() else 'unreachable'}\n").encode()
        try:
            async with asyncio.timeout(settings.timeout):
                async with self._client().request(
                        settings.method, url.get_secret_value(), data=body,
                        ssl=settings.verify_tls,
                        headers={"Content-Type": "text/plain; charset=utf-8"} if body else None,
                        allow_redirects=True) as response:
                    await response.read()
                    ok, why = response.status < 400, f"HTTP {response.status}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — a ping must never break a cycle
            ok, why = False, _describe(exc)
        self._record(ok, why)

    def _record(self, ok: bool, why: str) -> None:
        if ok:
            self.pings += 1
            if self.failing:
                log.info("dead-man: the ping works again")
            self.failing = False
        elif not self.failing:
            self.failing = True
            log.warning("dead-man: the ping failed (%s); the dead-man service will raise an "
                        "alert if this lasts. Logged once until it works again.", why)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


@hookimpl
def vigie_register_config_sections() -> dict[str, type[StrictModel]]:
    """The ``deadman`` section."""
    return {"deadman": DeadmanSettings}


@hookimpl
def vigie_startup(ctx: StartupContext) -> None:
    """Start pinging after each cycle when the ``deadman`` section is present."""
    settings = ctx.config.sections.get("deadman")
    if settings is None:
        return
    pinger = DeadmanPinger(settings, ctx.database_up)
    ctx.add_plugin(pinger, PINGER_NAME)
    log.info("dead-man: calling the configured URL (%s) after each completed cycle",
             settings.method)


@hookimpl
async def vigie_shutdown(ctx: StartupContext) -> None:
    """Stop pinging and close the HTTP session."""
    pinger = ctx.remove_plugin(PINGER_NAME)
    if pinger is not None:
        await pinger.aclose()
