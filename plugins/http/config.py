"""Configuration of an ``http`` check: its keys, validated once at load.

Config models are frozen and shared by every run of a check, so everything that can be
computed once is computed when the configuration is loaded and kept on the model
(:attr:`HttpConfig.plan`, made by :mod:`plugins.http.plan`).
"""

from __future__ import annotations

import re
import ssl
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.api import Duration, ProbeConfig, StrictModel, http_url_problem
from plugins.http.jsonpath import compile_path

if TYPE_CHECKING:
    from plugins.http.plan import Plan

MIB = 1024 * 1024
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]@?#]+)(:\d{1,5})?$")
_STATUS_ITEM = re.compile(r"^\s*(\d{3})\s*(?:-\s*(\d{3}))?\s*$|^\s*([1-5])xx\s*$",
                          re.IGNORECASE)


def parse_status_ranges(value: Any) -> tuple[tuple[int, int], ...]:
    """``200``, ``"200-399"``, ``"2xx"`` or a list of those → ``((200, 399), …)``; a
    ``[200, 399]`` pair in the list too (the model's own JSON, sent to remote agents)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError("give at least one status code, e.g. 200-399")
    out = []
    for item in items:
        match = None
        if (isinstance(item, (list, tuple)) and len(item) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in item)):
            item = f"{item[0]}-{item[1]}"
        if isinstance(item, (int, str)) and not isinstance(item, bool):
            match = _STATUS_ITEM.match(str(item))
        if match is None:
            raise ValueError(f"invalid status {item!r} (use e.g. 200, 200-399 or 2xx)")
        if match.group(3):
            low = int(match.group(3)) * 100
            high = low + 99
        else:
            low = int(match.group(1))
            high = int(match.group(2) or low)
        if not 100 <= low <= high <= 599:
            raise ValueError(f"invalid status range {item!r} (codes go from 100 to 599)")
        out.append((low, high))
    return tuple(out)


def format_status_ranges(ranges: tuple[tuple[int, int], ...]) -> str:
    """``((200, 399), (404, 404))`` → ``200-399, 404``."""
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def split_backend(value: str) -> tuple[str, int | None]:
    """``10.0.0.5``, ``10.0.0.5:8443``, ``[2001:db8::1]:443``, ``2001:db8::1`` → (host, port)."""
    text = value.strip()
    port: str | None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
        if not sep or (rest and port is None):
            raise ValueError(f"invalid backend {value!r} (use ip, ip:port or [ipv6]:port)")
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None
    if not host or (port is not None and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"invalid backend {value!r} (use ip, ip:port or [ipv6]:port)")
    return host, int(port) if port is not None else None


class BasicAuth(StrictModel):
    """HTTP basic authentication (``password_file:`` reads the password from a file)."""

    username: str = Field(min_length=1)
    password: SecretStr


class JsonCondition(StrictModel):
    """A condition on one value of a JSON answer: ``{path: status.ok, equals: true}``.

    Without ``equals`` or ``not_equals`` the value only has to be present.
    """

    path: str = Field(min_length=1)
    equals: Any = None
    not_equals: Any = None

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        compile_path(value)
        return value

    @cached_property
    def steps(self) -> tuple[str | int, ...]:
        """The parsed path."""
        return compile_path(self.path)


class HttpConfig(ProbeConfig):
    """Keys of an ``http`` check (see docs/probes/http.md)."""

    url: str
    method: str = Field(default="GET", pattern=r"^[A-Za-z]{1,20}$")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    basic_auth: BasicAuth | None = None
    expected_status: tuple[tuple[int, int], ...] = ((200, 399),)
    keyword: str | None = Field(default=None, min_length=1)
    keyword_absent: str | None = Field(default=None, min_length=1)
    regex: str | None = Field(default=None, min_length=1)
    regex_absent: str | None = Field(default=None, min_length=1)
    json_path: list[JsonCondition] = Field(default_factory=list)
    degraded_after: Duration | None = None
    follow_redirects: bool = True
    max_redirects: int = Field(default=10, ge=0, le=50)
    verify_tls: bool = True
    ca_file: Path | None = None
    host_header: str | None = Field(default=None, min_length=1)
    backend: str | None = Field(default=None, min_length=1)
    ip_version: Literal["any", 4, 6] = "any"
    max_body_bytes: int = Field(default=MIB, ge=0, le=64 * MIB)
    phases: bool = False
    #: plain ``http://`` requests through Vigie's own lean HTTP/1.1 client (the fast
    #: path); ``false`` sends them through aiohttp's client, like ``https://`` ones. Set
    #: for every check at once with ``probes: {http: {fast_client: false}}``
    fast_client: bool = True

    # The prepared plan lives in a slot: an entry in the instance __dict__ (a cached
    # property) could grow that dict past its size class, and a pydantic private
    # attribute costs a dict per check. Copies and pickles simply prepare again.
    __slots__ = ("_vigie_plan",)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # the messages never repeat the URL: it may hold a password or a token
        problem = http_url_problem(value)
        if problem == "invalid":
            raise ValueError("not a valid URL (e.g. https://www.example.coop/)")
        if problem == "scheme":
            raise ValueError("expected an http:// or https:// URL "
                             "(e.g. https://www.example.coop/)")
        if problem == "host":
            raise ValueError("the URL has no host name: expected an http:// or https:// URL "
                             "with a host (e.g. https://www.example.coop/)")
        return value

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("headers")
    @classmethod
    def _no_host(cls, value: dict[str, str]) -> dict[str, str]:
        if any(name.lower() == "host" for name in value):
            raise ValueError("set the Host header with 'host_header' (it also sets the TLS "
                             "server name)")
        return value

    @field_validator("host_header")
    @classmethod
    def _host_header(cls, value: str | None) -> str | None:
        if value is not None and not _HOST_PORT.match(value):
            raise ValueError(f"invalid host_header {value!r} (use e.g. www.example.org "
                             "or www.example.org:8080)")
        return value

    @field_validator("expected_status", mode="before")
    @classmethod
    def _statuses(cls, value: Any) -> tuple[tuple[int, int], ...]:
        return parse_status_ranges(value)

    @field_validator("regex", "regex_absent")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @field_validator("json_path", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if isinstance(value, str):  # a bare path: the value only has to be present
            return [{"path": value}]
        return [value] if isinstance(value, dict) else value

    @field_validator("ip_version", mode="before")
    @classmethod
    def _ip_version(cls, value: Any) -> Any:
        return int(value) if value in ("4", "6") else value

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str | None) -> str | None:
        if value is not None:
            split_backend(value)
        return value

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"ca_file: no such file {str(value)!r}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> HttpConfig:
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file has no effect with verify_tls: false; remove one of them")
        needs_body = (self.keyword or self.keyword_absent or self.regex or self.regex_absent
                      or self.json_path)
        if needs_body and self.max_body_bytes == 0:
            raise ValueError("max_body_bytes: 0 reads no body, so keyword, regex and "
                             "json_path cannot be checked")
        if needs_body and self.method == "HEAD":
            raise ValueError("a HEAD request has no body: keyword, regex and json_path "
                             "need GET (or another method)")
        try:
            _ = self.plan  # prepared now, so a bad ca_file is reported at load
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"ca_file: cannot load {str(self.ca_file)!r}: {exc}") from None
        return self

    @property
    def plan(self) -> Plan:
        """Everything a run needs, prepared once (at load)."""
        try:
            return self._vigie_plan
        except AttributeError:
            # imported here: the plan module builds on this one
            from plugins.http.plan import Plan

            plan = Plan.build(self)
            object.__setattr__(self, "_vigie_plan", plan)
            return plan
