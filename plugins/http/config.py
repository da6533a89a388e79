"""Configuration of an ``http`` check, and its :class:`Plan`: the check prepared for running.

Config models are frozen and shared by every run of a check, so everything that can be
computed once (URL, headers, compiled patterns, TLS context, JSON paths) is computed when
the configuration is loaded and kept on the model (:attr:`HttpConfig.plan`).
"""

from __future__ import annotations

import base64
import functools
import operator
import re
import socket
import ssl
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from yarl import URL

from monitor.api import Duration, ProbeConfig, StrictModel, http_url_problem, redact
from plugins import _tlsinfo
from plugins.http import fastpath
from plugins.http.jsonpath import compile_path

MIB = 1024 * 1024
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]@?#]+)(:\d{1,5})?$")
_STATUS_ITEM = re.compile(r"^\s*(\d{3})\s*(?:-\s*(\d{3}))?\s*$|^\s*([1-5])xx\s*$",
                          re.IGNORECASE)


def parse_status_ranges(value: Any) -> tuple[tuple[int, int], ...]:
    """``200``, ``"200-399"``, ``"2xx"`` or a list of those → ``((200, 399), …)``."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError("give at least one status code, e.g. 200-399")
    out = []
    for item in items:
        match = None
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
            plan = Plan.build(self)
            object.__setattr__(self, "_vigie_plan", plan)
            return plan


@functools.lru_cache(maxsize=256)
def accepted_codes(expected: tuple[tuple[int, int], ...]) -> frozenset[int]:
    """Every status code in the ``(low, high)`` ranges; shared between checks that expect
    the same codes (10,000 checks must not hold 10,000 copies of ``200-399``)."""
    return frozenset(c for low, high in expected for c in range(low, high + 1))


#: the fast path's ``(host, port, Host header)``, one tuple per host (most checks share a
#: handful)
_ORIGINS: dict[tuple[str, int, str], tuple[str, int, str]] = {}


@functools.lru_cache(maxsize=4096)
def _shared_rest(host_port: str, headers: tuple[tuple[str, str], ...], body: bytes | None,
                 user_agent: str) -> bytes:
    """The end of a fast-path request, one bytes object per distinct host and headers."""
    return fastpath.request_rest(host_port, dict(headers), body, user_agent)


@functools.lru_cache(maxsize=64)
def _method_prefix(method: str) -> bytes:
    return f"{method} ".encode("latin-1")


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class Rules:
    """How an http check requests and judges, everything but its URL: one object shared
    by every check whose other options are equal (see :func:`shared_rules`).

    Frozen, its headers a read-only mapping: a change would reach every check sharing it.
    """

    #: the check's options with the URL left out (``url`` is empty), for reading its keys
    options: HttpConfig
    method: str
    #: request headers (``Connection: close``, credentials, the configured ones)
    headers: Mapping[str, str]
    body: bytes | None
    ssl: ssl.SSLContext | bool
    #: the ``Host`` header to send (IDNA-encoded), or None
    host_header: str | None
    #: name checked in the certificate (and sent as SNI) when ``host_header`` is set
    host_header_name: str | None
    backend: tuple[str, int | None] | None
    #: socket.AF_INET / AF_INET6 for ``ip_version``, 0 for any
    family: int
    #: nothing to reroute: the URL is requested as is
    direct: bool
    follow: bool
    max_redirects: int
    max_body: int
    read_body: bool
    expected: tuple[tuple[int, int], ...]
    #: every accepted status code, for a set lookup on each run
    accepted: frozenset[int]
    #: the body must be decoded to text (keyword or regex rules)
    needs_text: bool
    keyword: str | None
    keyword_absent: str | None
    regex: re.Pattern[str] | None
    regex_absent: re.Pattern[str] | None
    json: tuple[JsonCondition, ...]
    degraded_after: float | None
    phases: bool
    #: plain ``http://`` requests may take the fast path (:mod:`plugins.http.fastpath`)
    fast_client: bool

    @classmethod
    def build(cls, config: HttpConfig) -> Rules:
        """Prepare everything of ``config`` but its URL."""
        headers = {**_DEFAULT_HEADERS, **config.headers} if config.headers else _DEFAULT_HEADERS
        if config.basic_auth is not None:
            headers = dict(headers)
            pair = f"{config.basic_auth.username}:{config.basic_auth.password.get_secret_value()}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        tls: ssl.SSLContext | bool
        if not config.verify_tls:
            tls = False
        elif config.ca_file is not None:
            tls = _tlsinfo.client_context(True, str(config.ca_file))
        else:
            tls = True  # aiohttp's own cached default context
        host_header = host_header_name = None
        if config.host_header is not None:
            given = URL(f"http://{config.host_header}/")
            host_header, host_header_name = given.host_port_subcomponent, given.raw_host
        backend = split_backend(config.backend) if config.backend else None
        family = {"any": 0, 4: socket.AF_INET, 6: socket.AF_INET6}[config.ip_version]
        return cls(
            options=config.model_copy(update={"url": ""}),
            method=config.method,
            headers=headers if headers is _DEFAULT_HEADERS else MappingProxyType(headers),
            body=config.body.encode() if config.body is not None else None,
            ssl=tls,
            host_header=host_header,
            host_header_name=host_header_name,
            backend=backend,
            family=family,
            direct=backend is None and not family and config.host_header is None,
            follow=config.follow_redirects,
            max_redirects=config.max_redirects,
            max_body=config.max_body_bytes,
            read_body=config.method != "HEAD" and config.max_body_bytes > 0,
            expected=config.expected_status,
            accepted=accepted_codes(tuple(config.expected_status)),
            needs_text=bool(config.keyword or config.keyword_absent or config.regex
                            or config.regex_absent),
            keyword=config.keyword,
            keyword_absent=config.keyword_absent,
            regex=re.compile(config.regex) if config.regex else None,
            regex_absent=re.compile(config.regex_absent) if config.regex_absent else None,
            json=tuple(config.json_path),
            degraded_after=config.degraded_after,
            phases=config.phases,
            fast_client=config.fast_client,
        )


#: the headers of every check that sets none of its own (shared, read-only)
_DEFAULT_HEADERS: Mapping[str, str] = MappingProxyType({"Connection": "close"})
#: the rules in use, by their options (see :func:`shared_rules`); an entry goes with the
#: last check holding it
_RULES: weakref.WeakValueDictionary[tuple, Rules] = weakref.WeakValueDictionary()


def _frozen(value: Any) -> Any:
    """A hashable form of an option's value that tells apart what validation tells apart
    (``1``, ``1.0`` and ``True`` differ; so do two passwords)."""
    if isinstance(value, dict):
        return (dict, tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_frozen(v) for v in value))
    if isinstance(value, BaseModel):
        return (type(value), _frozen({k: getattr(value, k) for k in type(value).model_fields}))
    if isinstance(value, SecretStr):
        return (SecretStr, value.get_secret_value())
    return (type(value), value)


def shared_rules(config: HttpConfig) -> Rules:
    """The :class:`Rules` of ``config``: the same object for every check whose options
    other than the URL are equal (100,000 checks, a handful of distinct rules)."""
    key = _frozen({k: getattr(config, k) for k in HttpConfig.model_fields if k != "url"})
    rules = _RULES.get(key)
    if rules is None:
        rules = _RULES[key] = Rules.build(config)
    return rules


@dataclass(frozen=True, slots=True)
class Plan:
    """A check's request and verdict rules, ready to run.

    With tens of thousands of checks a plan is kept small: what is not about the URL is
    in the shared :attr:`rules` (read through as ``plan.method``, ``plan.accepted``…),
    the URL is kept as text and parsed on first use (a plain-HTTP check that answers
    never needs the parsed form: the fast path sends bytes prepared once, see
    :meth:`request`).
    """

    url_text: str
    rules: Rules
    #: the request target (path and query, as sent) when the first request can take the
    #: plain-HTTP fast path (``http://``, nothing rerouted, no phases, ``fast_client``),
    #: else None
    target: bytes | None = None
    #: ``(host, port, Host header)`` of the fast path, shared by the checks of a host
    origin: tuple[str, int, str] | None = None
    _url: URL | None = field(default=None, repr=False, compare=False)
    #: the end of the fast path's request (shared between checks, see :meth:`request`)
    #: and the User-Agent it was made with
    _rest: bytes = field(default=b"", repr=False, compare=False)
    _rest_agent: str | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> URL:
        """The configured URL, parsed (on first use)."""
        url = self._url
        if url is None:
            url = URL(self.url_text)
            object.__setattr__(self, "_url", url)
        return url

    @property
    def fast(self) -> tuple[str, int, bytes, str] | None:
        """``(host, port, request target, Host header)`` when the first request can take
        the fast path, else None."""
        if self.target is None or self.origin is None:
            return None
        host, port, host_port = self.origin
        return host, port, self.target, host_port

    def request(self, user_agent: str) -> bytes:
        """The fast path's request bytes (what :func:`fastpath.build_request` gives).

        Only the request target is kept per check; the rest (headers, body) is made once
        and shared by every check of the same host with the same headers.
        """
        assert self.target is not None and self.origin is not None
        if self._rest_agent != user_agent:
            rules = self.rules
            rest = _shared_rest(self.origin[2], tuple(rules.headers.items()), rules.body,
                                user_agent)
            object.__setattr__(self, "_rest", rest)
            object.__setattr__(self, "_rest_agent", user_agent)
        return b"".join((self.method_prefix, self.target, self._rest))

    @property
    def method_prefix(self) -> bytes:
        """``GET `` (the method and its space), shared."""
        return _method_prefix(self.rules.method)

    @classmethod
    def build(cls, config: HttpConfig) -> Plan:
        """Prepare ``config`` for running."""
        rules = shared_rules(config)
        url = URL(config.url)  # parsed here to prepare, not kept (see Plan.url)
        if not (rules.fast_client and rules.direct and not rules.phases
                and url.scheme == "http"):
            return cls(url_text=config.url, rules=rules)
        origin = (url.raw_host or "", url.port or 80, url.host_port_subcomponent)
        return cls(url_text=config.url, rules=rules, target=fastpath.request_target(url),
                   origin=_ORIGINS.setdefault(origin, origin))


# every rule reads through the plan (plan.method is plan.rules.method), so the code that
# runs a check sees one object
for _name in Rules.__dataclass_fields__:
    if _name != "options":
        setattr(Plan, _name, property(operator.attrgetter(f"rules.{_name}"),
                                      doc=f"``rules.{_name}`` (shared, see :class:`Rules`)"))
del _name


class HttpCheckOptions:
    """An http check's options as kept for its lifetime (what :meth:`HttpProbe.prepare`
    makes of a validated :class:`HttpConfig`): its URL and its :class:`Plan`, whose rules
    are shared with every check configured alike. Read-only; every key of
    :class:`HttpConfig` reads as on the model (``options.url``, ``options.keyword``…)."""

    __slots__ = ("plan", "url")

    url: str
    plan: Plan

    def __init__(self, config: HttpConfig) -> None:
        object.__setattr__(self, "url", config.url)
        object.__setattr__(self, "plan", config.plan)

    def __getattr__(self, name: str) -> Any:
        # only called for what is not a slot: the other keys, from the shared options
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.plan.rules.options, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"http check options are read-only (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"http check options are read-only (cannot delete {name!r})")

    def __copy__(self) -> HttpCheckOptions:
        return self  # read-only: a copy would be the same

    def __deepcopy__(self, memo: dict[int, Any]) -> HttpCheckOptions:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as its options; unpickling prepares again (and shares again)
        return HttpCheckOptions, (self.plan.rules.options.model_copy(update={"url": self.url}),)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HttpCheckOptions):
            return NotImplemented
        return self.url == other.url and self.plan.rules is other.plan.rules

    def __hash__(self) -> int:
        return hash((self.url, id(self.plan.rules)))

    def __repr__(self) -> str:
        # the URL may carry a password or a token: shown as logs show it
        return f"HttpCheckOptions(url={redact(self.url)!r}, rules={self.plan.rules.options!r})"
