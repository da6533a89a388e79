"""Probe kind ``nextcloud``: Nextcloud's own health page, plus optional deeper checks.

``status.php`` (public, no login) decides the verdict: down when it fails, is not a
Nextcloud status page or says ``installed: false``; maintenance when Nextcloud announces
it; degraded when the database waits for ``occ upgrade`` or the version is older than
``min_version``; up otherwise. Two optional checks run only when Nextcloud is not in
maintenance:

- a WebDAV ``PROPFIND`` on a test account's files (``webdav_user`` + an app password),
  the functional proof that members can reach their files;
- the serverinfo API (``serverinfo_token``, sent as ``NC-Token``) for numbers: active
  users, free space, accounts and files. It never makes the service look broken: when
  it cannot be read (token refused, error) the result is ``unknown`` unless a real
  verdict (degraded, down, maintenance) outranks it.
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import SecretStr, field_validator, model_validator

from monitor.api import (
    Number,
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
    clean_line,
    hookimpl,
    http_url_problem,
    reason,
    worst,
)
from plugins._lazy import LazyModule

# imported by the first check of this kind, not by loading the plugin: the XML parser
# (pyexpat) and aiohttp (megabytes with its SSL contexts, once no other module imports
# it at start; figures in docs/performance.md)
aiohttp = LazyModule("aiohttp")
ElementTree = LazyModule("xml.etree.ElementTree")

#: read at most this much of any answer (status.php is ~200 bytes, serverinfo a few KiB)
MAX_BODY = 1 << 20
#: keys status.php has had since Nextcloud 13 (``extendedSupport`` came later: optional)
STATUS_KEYS = ("installed", "maintenance", "needsDbUpgrade", "version", "versionstring",
               "edition", "productname")
SERVERINFO_PATH = ("/ocs/v2.php/apps/serverinfo/api/v1/info"
                   "?format=json&skipApps=true&skipUpdate=true")
#: serverinfo's activeUsers keys → value of the ``window`` label
ACTIVE_WINDOWS = {"last5minutes": "5m", "last1hour": "1h", "last24hours": "24h"}
PROPFIND_BODY = (b'<?xml version="1.0" encoding="utf-8"?>'
                 b'<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>')



class NextcloudConfig(ProbeConfig):
    """Keys of a ``nextcloud`` check."""

    # validation errors must not echo the input: it holds secrets
    model_config = ProbeConfig.model_config | {"hide_input_in_errors": True}

    #: base address of the instance, e.g. ``https://cloud.example.coop`` (status.php is
    #: looked up below it)
    url: str
    #: expected ``productname``; set it for a themed instance, or null to accept any
    productname: str | None = "Nextcloud"
    #: degraded when the reported ``version`` is older, e.g. ``29.0.8``
    min_version: str | None = None
    #: token of the serverinfo app (``occ config:app:set serverinfo token --value ...``)
    serverinfo_token: SecretStr | None = None
    #: test account for the WebDAV check (with ``webdav_password``, an app password)
    webdav_user: str | None = None
    webdav_password: SecretStr | None = None
    #: verify the TLS certificate (leave on; the ``tls`` probe watches expiry)
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if http_url_problem(value) is not None:
            raise ValueError("expected an http(s) address, e.g. https://cloud.example.coop, "
                             f"got {value!r}")
        return value.rstrip("/")

    @field_validator("min_version")
    @classmethod
    def _dotted(cls, value: str | None) -> str | None:
        if value is not None:
            _version_tuple(value, strict=True)
        return value

    @model_validator(mode="after")
    def _webdav_pair(self) -> NextcloudConfig:
        if (self.webdav_user is None) != (self.webdav_password is None):
            raise ValueError("give both 'webdav_user' and 'webdav_password' (an app password), "
                             "or neither")
        return self


def _version_tuple(text: str, strict: bool = False) -> tuple[int, ...]:
    """``"30.0.4.1"`` → ``(30, 0, 4, 1)``; a non-numeric part ends the tuple unless strict."""
    out = []
    for part in text.split("."):
        if not part.isdigit():
            if strict:
                raise ValueError(f"expected a version such as 29.0.8, got {text!r}")
            break
        out.append(int(part))
    return tuple(out)


def _time_left(ctx: ProbeContext) -> aiohttp.ClientTimeout:
    """The run's remaining time, shared by its successive requests (a few milliseconds at
    least, so a late request still ends with its own reason)."""
    return aiohttp.ClientTimeout(total=max(0.05, ctx.remaining()))


def _transport_reason(exc: BaseException, what: Words, seconds: float) -> Reason:
    """A reason for a request that got no HTTP answer at all."""
    if isinstance(exc, TimeoutError):
        return reason("nextcloud.timeout", _("{what}: no answer within {s} s", what=what,
                                             s=Number(max(seconds, 1), ".0f")))
    if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.ClientConnectorCertificateError)):
        return reason("nextcloud.tls", _("{what}: TLS error (certificate refused)", what=what))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return reason("nextcloud.connect", _("{what}: cannot connect to the server", what=what))
    return reason("nextcloud.connection", _("{what}: the connection failed", what=what))


#: what members read for the nextcloud kind's reasons
PUBLIC_WORDS: dict[str, Words] = {
    "nextcloud": _("Nextcloud does not work as it should"),
    "nextcloud.connect": _("Nextcloud cannot be reached"),
    "nextcloud.connection": _("Nextcloud cannot be reached"),
    "nextcloud.internal_error": _("Nextcloud has an internal error"),
    "nextcloud.maintenance": _("Nextcloud is in maintenance"),
    "nextcloud.needs_upgrade": _("Nextcloud is waiting for an update to finish"),
    "nextcloud.not_installed": _("Nextcloud does not work as it should"),
    "nextcloud.old_version": _("Nextcloud needs an update"),
    "nextcloud.serverinfo_token":
        _("Vigie could not read Nextcloud's figures; the volunteers know"),
    "nextcloud.serverinfo_unreadable":
        _("Vigie could not read Nextcloud's figures; the volunteers know"),
    "nextcloud.timeout": _("Nextcloud does not answer in time"),
    "nextcloud.tls": _("Nextcloud's security certificate is refused"),
    "nextcloud.webdav_auth": _("Logging in to Nextcloud fails"),
    "nextcloud.webdav_body": _("Access to files through WebDAV does not work"),
    "nextcloud.webdav_status": _("Access to files through WebDAV does not work"),
}


class NextcloudProbe(Probe):
    """Checks a Nextcloud instance through status.php, and optionally WebDAV and serverinfo."""

    kind = "nextcloud"
    Config = NextcloudConfig
    public_words = PUBLIC_WORDS
    description = ("Nextcloud: status.php (maintenance aware), optional WebDAV login "
                   "and serverinfo numbers")
    samples = (
        SampleSpec("nextcloud_active_users",
                   "Users active in the last 5 minutes, hour, day (serverinfo)", label="window"),
        SampleSpec("nextcloud_free_space_bytes", "Free space of the data directory (serverinfo)"),
        SampleSpec("nextcloud_users", "Number of accounts (serverinfo)"),
        SampleSpec("nextcloud_files", "Number of files (serverinfo)"),
    )
    info_keys: ClassVar[tuple[str, ...]] = ("version",)

    async def check(self, config: NextcloudConfig, ctx: ProbeContext) -> ProbeResult:
        """Read status.php, then WebDAV and serverinfo when configured; combine the verdicts."""
        data = await self._status_php(config, ctx)
        info = {"version": str(data["version"]), "versionstring": str(data["versionstring"])}
        if not data["installed"]:
            raise ProbeFailed(reason("nextcloud.not_installed",
                                     _("Nextcloud answers but is not installed")), info=info)
        if data["maintenance"]:
            return ProbeResult(Status.MAINTENANCE, _MAINTENANCE, info=info)

        verdicts: list[tuple[Status, Reason | None]] = [(Status.UP, None)]
        if data["needsDbUpgrade"]:
            verdicts.append((Status.DEGRADED, reason(
                "nextcloud.needs_upgrade",
                _("Nextcloud waits for its database upgrade (occ upgrade)"))))
        if (config.min_version
                and _version_tuple(info["version"]) < _version_tuple(config.min_version)):
            verdicts.append((Status.DEGRADED, reason(
                "nextcloud.old_version",
                _("Nextcloud {got} is older than the minimum version {min}",
                  got=clean_line(info["versionstring"] or info["version"], 40),
                  min=config.min_version),
                public=False)))  # the server's words: volunteers only
        samples: dict[str, Any] = {}
        if config.webdav_user is not None:
            verdicts.append(await self._webdav(config, ctx, info))
        if config.serverinfo_token is not None:
            verdict, samples = await self._serverinfo(config, ctx)
            verdicts.append(verdict)
        # the one order (monitor.status): any real judgement outranks "could not read
        # serverinfo"; degraded outranks maintenance announced by WebDAV alone
        status, why = worst(verdicts, key=lambda v: v[0])
        return ProbeResult(status, why, samples=samples, info=info)

    async def _fetch(self, ctx: ProbeContext, method: str, url: str,
                     what: Words, verify_tls: bool, **kwargs: Any,
                     ) -> tuple[int, Any, bytes]:
        """One request → (status, headers, body); no answer at all → ProbeFailed (down)."""
        try:
            async with ctx.http.request(method, url, timeout=_time_left(ctx),
                                        ssl=verify_tls, **kwargs) as resp:
                return resp.status, resp.headers, await resp.content.read(MAX_BODY)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProbeFailed(_transport_reason(exc, what, ctx.timeout)) from None

    async def _status_php(self, config: NextcloudConfig, ctx: ProbeContext) -> dict[str, Any]:
        status, _headers, body = await self._fetch(
            ctx, "GET", f"{config.url}/status.php",
            _("Nextcloud's status page"), config.verify_tls,
            headers={"Accept": "application/json"})
        if status == 500 and not body.strip():
            raise ProbeFailed(reason(
                "nextcloud.internal_error",
                _("Nextcloud has an internal error (status.php answers 500 with an empty body; "
                  "see nextcloud.log)")))
        if status != 200:
            raise ProbeFailed(reason(
                "nextcloud.status", _("Nextcloud's status page answered {got} instead of 200",
                                      got=status)))
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if (not isinstance(data, dict) or any(k not in data for k in STATUS_KEYS)
                or not all(isinstance(data[k], bool)
                           for k in ("installed", "maintenance", "needsDbUpgrade"))):
            raise ProbeFailed(_NOT_NEXTCLOUD)
        if config.productname is not None and data["productname"] != config.productname:
            raise ProbeFailed(reason(
                "nextcloud.not_nextcloud",
                _("This is not a Nextcloud status page (product “{got}”)",
                  got=clean_line(data["productname"], 40)),
                public=False))  # the server's words: volunteers only
        return data

    async def _webdav(self, config: NextcloudConfig, ctx: ProbeContext,
                      info: dict[str, str]) -> tuple[Status, Reason | None]:
        user = config.webdav_user or ""
        assert config.webdav_password is not None  # the config validator pairs them
        status, headers, body = await self._fetch(
            ctx, "PROPFIND", f"{config.url}/remote.php/dav/files/{quote(user, safe='')}/",
            _("WebDAV"), config.verify_tls,
            headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8",
                     "Authorization": _basic_auth(user, config.webdav_password)},
            data=PROPFIND_BODY, allow_redirects=False)
        if status == 207 and _is_multistatus(body):
            return Status.UP, None
        if status == 503 and headers.get("X-Nextcloud-Maintenance-Mode") == "1":
            return Status.MAINTENANCE, _MAINTENANCE
        if status == 401:
            raise ProbeFailed(reason(
                "nextcloud.webdav_auth",
                _("WebDAV refuses the test account {user} (bad or revoked app password)",
                  user=user)), info=info)
        if status == 207:
            raise ProbeFailed(reason(
                "nextcloud.webdav_body", _("WebDAV answered 207 without a multistatus document")),
                info=info)
        raise ProbeFailed(reason(
            "nextcloud.webdav_status", _("WebDAV answered {got} instead of 207 (multistatus)",
                                         got=status)), info=info)

    async def _serverinfo(self, config: NextcloudConfig, ctx: ProbeContext,
                          ) -> tuple[tuple[Status, Reason | None], dict[str, Any]]:
        assert config.serverinfo_token is not None
        try:
            status, _headers, body = await self._fetch(
                ctx, "GET", config.url + SERVERINFO_PATH, _("serverinfo"),
                config.verify_tls,
                headers={"NC-Token": config.serverinfo_token.get_secret_value(),
                         "OCS-APIRequest": "true", "Accept": "application/json"},
                # a redirect elsewhere would carry the token along
                allow_redirects=False)
        except ProbeFailed as failed:
            # serverinfo only gives numbers: failing to read it is not a verdict on Nextcloud
            return (Status.UNKNOWN, failed.reason), {}
        if status == 401:
            return (Status.UNKNOWN, reason(
                "nextcloud.serverinfo_token",
                _("The serverinfo token was refused (serverinfo_token)"))), {}
        samples = _serverinfo_samples(body) if status == 200 else None
        if samples is None:
            return (Status.UNKNOWN, reason(
                "nextcloud.serverinfo_unreadable",
                _("serverinfo's numbers cannot be read (answer {got})", got=status))), {}
        return (Status.UP, None), samples


_MAINTENANCE = reason("nextcloud.maintenance", _("Nextcloud is in maintenance mode"))
_NOT_NEXTCLOUD = reason("nextcloud.not_nextcloud", _("This is not a Nextcloud status page"))


def _basic_auth(user: str, password: SecretStr) -> str:
    """The ``Authorization`` header value for HTTP basic authentication."""
    raw = f"{user}:{password.get_secret_value()}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _is_multistatus(body: bytes) -> bool:
    """True when ``body`` is a WebDAV multistatus document."""
    if b"<!DOCTYPE" in body:  # no entity tricks from the answer
        return False
    try:
        return ElementTree.fromstring(body).tag == "{DAV:}multistatus"
    except ElementTree.ParseError:
        return False


def _number(value: Any) -> float | None:
    """A JSON number (or numeric string, as older serverinfo versions send) as float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _serverinfo_samples(body: bytes) -> dict[str, Any] | None:
    """Samples from serverinfo's OCS envelope, or None when it is not that envelope."""
    try:
        doc = json.loads(body)
        data = doc["ocs"]["data"]
        nextcloud = data["nextcloud"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(nextcloud, dict):
        return None
    samples: dict[str, Any] = {}
    active = data.get("activeUsers")
    if isinstance(active, dict):
        windows = {label: _number(active.get(key)) for key, label in ACTIVE_WINDOWS.items()}
        windows = {label: value for label, value in windows.items() if value is not None}
        if windows:
            samples["nextcloud_active_users"] = windows
    system = nextcloud.get("system") if isinstance(nextcloud.get("system"), dict) else {}
    storage = nextcloud.get("storage") if isinstance(nextcloud.get("storage"), dict) else {}
    for name, value in (("nextcloud_free_space_bytes", system.get("freespace")),
                        ("nextcloud_users", storage.get("num_users")),
                        ("nextcloud_files", storage.get("num_files"))):
        number = _number(value)
        if number is not None:
            samples[name] = number
    return samples


@hookimpl
def vigie_register_probes() -> list[type[Probe]]:
    """Register the ``nextcloud`` probe kind."""
    return [NextcloudProbe]
