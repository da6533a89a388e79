"""An ``http`` check prepared for running: its :class:`Plan`, the :class:`Rules` it shares.

The model (:mod:`plugins.http.config`) is validated once; what can be computed once (URL,
headers, compiled patterns, TLS context, JSON paths) is computed here, when the
configuration is loaded, and kept on the model (:attr:`HttpConfig.plan`). With tens of
thousands of checks, everything but the URL lives in :class:`Rules` objects shared by the
checks configured alike, and a plain-HTTP check keeps its fast-path request as bytes.
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
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, SecretStr
from yarl import URL

from monitor.api import redact
from plugins import _tlsinfo
from plugins.http import fastpath
from plugins.http.config import HttpConfig, JsonCondition, split_backend


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
