"""Probe kind ``sympa``: the layers of a Sympa 6.2 mailing-list server, each judged apart.

Sympa has no health API, so the probe checks what members and tools use:

- ``web``: the WWSympa home page (``url``, Sympa's ``wwsympa_url``) answers HTML 200 and
  looks like Sympa: its ``<meta name="generator" content="Sympa 6.2.x">`` tag (the
  version is reported), else the word "Sympa" somewhere in the page (the ``/static-sympa/``
  paths, the footer), or ``home_keyword`` when set;
- ``wsdl``: ``<url>/wsdl`` is a WSDL document with a ``<soap:address location=...>``;
- ``soap``: the SOAP daemon (``soap_url``, else the WSDL's address) answers a
  ``checkCookie`` call. Without a login it answers a SOAP Fault (``Client`` /
  ``User not authenticated``), usually with HTTP 500: that fault proves the daemon alive,
  so the body is parsed and the status code alone means nothing;
- ``smtp`` (optional, ``smtp_host``): the list robot's mail server greets (220), answers
  EHLO and QUIT.

The web page, the WSDL→SOAP chain and SMTP run concurrently; every layer that fails is
named in the reason, the first one in that order giving the reason's code.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urljoin

from pydantic import Field, field_validator, model_validator

from monitor.api import (
    Bilingual,
    Number,
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Reason,
    SampleSpec,
    Words,
    _,
    clean_line,
    hookimpl,
    http_url_problem,
    reason,
)
from plugins import _mailproto, _mailstream
from plugins._lazy import LazyModule

# imported by the first check of this kind, not by loading the plugin: the XML parser
# (pyexpat) and aiohttp (megabytes with its SSL contexts, once no other module imports
# it at start; figures in docs/performance.md)
aiohttp = LazyModule("aiohttp")
ElementTree = LazyModule("xml.etree.ElementTree")

#: read at most this much of any answer (the WSDL is ~22 KiB)
MAX_BODY = 1 << 20

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
SYMPA_NS = "urn:sympasoap"
SOAP_ACTION = '"urn:sympasoap#checkCookie"'
#: an rpc/encoded call of checkCookie, which takes no parameter
CHECK_COOKIE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}" '
    'xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'soap:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">'
    f'<soap:Body><checkCookie xmlns="{SYMPA_NS}"/></soap:Body></soap:Envelope>'
).encode()

_GENERATOR = re.compile(
    rb"""<meta\s+name\s*=\s*["']generator["']\s+content\s*=\s*["']Sympa\s*([^"'<>]*)["']""",
    re.IGNORECASE)

#: layer → (French name, English name), in reporting order
LAYERS = {
    "web": _("Lists web interface"),
    "wsdl": _("SOAP description (WSDL)"),
    "soap": _("Sympa SOAP server"),
    "smtp": _("Lists mail server"),
}

#: what members read for the sympa kind's reasons, by layer (``sympa.<layer>.<problem>``)
PUBLIC_WORDS: dict[str, Words] = {
    "sympa": _("The mailing lists do not work as they should"),
    "sympa.smtp": _("The mailing lists' mail server does not work: messages to the lists "
                    "may be delayed"),
    "sympa.soap": _("The mailing lists' service for other applications does not work"),
    "sympa.web": _("The mailing lists' web interface does not work"),
    "sympa.wsdl": _("The mailing lists' service for other applications does not work"),
}


class SympaConfig(ProbeConfig):
    """Keys of a ``sympa`` check."""

    #: Sympa's ``wwsympa_url``, e.g. ``https://listes.example.coop/sympa``
    url: str
    #: the SOAP server's address; default: the ``soap:address`` of the WSDL
    soap_url: str | None = None
    #: check that ``<url>/wsdl`` is served
    wsdl: bool = True
    #: check that the SOAP daemon answers
    soap: bool = True
    #: text the home page must contain (instead of the Sympa markers), for a themed site
    home_keyword: str | None = Field(default=None, min_length=1)
    #: the list robot's mail server (optional SMTP layer)
    smtp_host: str | None = Field(default=None, min_length=1)
    smtp_port: int = Field(default=25, ge=1, le=65535)
    #: name given in EHLO
    smtp_ehlo_name: str = Field(default="vigie.invalid", pattern=r"^[A-Za-z0-9.\-\[\]:]+$")
    #: verify TLS certificates of https addresses (the ``tls`` probe watches expiry)
    verify_tls: bool = True

    @field_validator("url", "soap_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if http_url_problem(value) is not None:
            raise ValueError("expected an http(s) address, e.g. https://listes.example.coop/sympa, "
                             f"got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _soap_address_known(self) -> SympaConfig:
        if self.soap and not self.wsdl and self.soap_url is None:
            raise ValueError("with 'wsdl: false', give 'soap_url' (or set 'soap: false')")
        return self


class _LayerFailed(Exception):
    """One layer failed; carries the layer's own reason."""

    def __init__(self, why: Reason) -> None:
        super().__init__(why.en)
        self.reason = why


@dataclass(slots=True)
class _Outcome:
    layer: str
    seconds: float | None = None
    failure: Reason | None = None
    value: Any = None


def _fail(layer: str, problem: str, words: Words, *, public: bool = True) -> _LayerFailed:
    """A layer failure whose sentences start with the layer's name."""
    return _LayerFailed(reason(f"sympa.{layer}.{problem}",
                               _("{layer}: {problem}", layer=LAYERS[layer], problem=words),
                               public=public))


def _shown(text: str, limit: int = 80) -> str:
    """Text from the server made safe to quote in a reason: printable and short."""
    return clean_line(text, limit)


def _lower_first(sentence: str) -> str:
    """A sentence continued after a colon: "Pas de réponse" → "pas de réponse"."""
    return sentence[:1].lower() + sentence[1:]


def _xml(body: bytes) -> ElementTree.Element | None:
    """The parsed document, or None when it is not XML (or declares entities)."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return None
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None


class SympaProbe(Probe):
    """Checks Sympa's web interface, WSDL, SOAP daemon and, optionally, its mail server."""

    kind = "sympa"
    Config = SympaConfig
    public_words = PUBLIC_WORDS
    description = "Sympa mailing lists: web interface, WSDL, SOAP daemon, optional SMTP greeting"
    samples = (
        SampleSpec("sympa_layer_seconds", "Response time of each layer that answered correctly",
                   label="layer"),
    )
    info_keys: ClassVar[tuple[str, ...]] = ("version",)

    async def check(self, config: SympaConfig, ctx: ProbeContext) -> ProbeResult:
        """Check every configured layer; down when any fails, naming each failed layer."""
        async with asyncio.TaskGroup() as group:
            web = group.create_task(self._layer("web", self._web(config, ctx)))
            chain = group.create_task(self._soap_chain(config, ctx))
            smtp = (group.create_task(self._layer("smtp", self._smtp(config, ctx)))
                    if config.smtp_host else None)
        outcomes = [web.result(), *chain.result(), *([smtp.result()] if smtp else [])]
        samples: dict[str, Any] = {}
        timings = {o.layer: o.seconds for o in outcomes
                   if o.failure is None and o.seconds is not None}
        if timings:
            samples["sympa_layer_seconds"] = timings
        version = outcomes[0].value
        info = {"version": version} if version else {}
        failures = [o.failure for o in outcomes if o.failure is not None]
        if failures:
            said = Bilingual(" ; ".join(f.fr for f in failures),
                             "; ".join(f.en for f in failures))
            raise ProbeFailed(Reason(failures[0].code, said, all(f.public for f in failures)),
                              samples=samples, info=info)
        return ProbeResult.up(samples=samples, info=info)

    async def _layer(self, layer: str, work: Any) -> _Outcome:
        started = time.perf_counter()
        try:
            value = await work
        except _LayerFailed as failed:
            return _Outcome(layer, failure=failed.reason)
        return _Outcome(layer, time.perf_counter() - started, value=value)

    async def _soap_chain(self, config: SympaConfig, ctx: ProbeContext) -> list[_Outcome]:
        """The WSDL, then the SOAP daemon at the address it gives (or ``soap_url``)."""
        outcomes = []
        soap_url = config.soap_url
        if config.wsdl:
            wsdl = await self._layer("wsdl", self._wsdl(config, ctx))
            outcomes.append(wsdl)
            soap_url = soap_url or wsdl.value
        if config.soap and soap_url:
            outcomes.append(await self._layer("soap", self._soap(soap_url, config, ctx)))
        return outcomes

    async def _request(self, layer: str, ctx: ProbeContext, method: str,
                       url: str, verify_tls: bool, **kwargs: Any) -> tuple[int, str, bytes]:
        """One request → (status, content type, body); no answer → the layer fails."""
        try:
            # a few milliseconds at least, so a late layer still ends with its own reason
            left = aiohttp.ClientTimeout(total=max(0.05, ctx.remaining()))
            async with ctx.http.request(method, url, ssl=verify_tls, timeout=left,
                                        **kwargs) as resp:
                return resp.status, resp.content_type, await resp.content.read(MAX_BODY)
        except TimeoutError:
            raise _fail(layer, "timeout", _("no answer within {s} s",
                                            s=Number(ctx.timeout))) from None
        except (aiohttp.ClientSSLError, aiohttp.ClientConnectorCertificateError):
            raise _fail(layer, "tls", _("TLS error (certificate refused)")) from None
        except aiohttp.ClientConnectorError:
            raise _fail(layer, "connect", _("cannot connect to the server")) from None
        except aiohttp.ClientError:
            raise _fail(layer, "connection", _("the connection failed")) from None

    async def _web(self, config: SympaConfig, ctx: ProbeContext) -> str | None:
        """The home page; returns Sympa's version when the page gives it."""
        status, content_type, body = await self._request(
            "web", ctx, "GET", config.url, config.verify_tls,
            headers={"Accept": "text/html"})
        if status != 200:
            raise _fail("web", "status", _("answered {got} instead of 200", got=status))
        if content_type != "text/html":
            raise _fail("web", "not_html", _("the page is not HTML ({got})",
                                             got=_shown(content_type or "?", 40)),
                        public=False)  # the server's words: volunteers only
        match = _GENERATOR.search(body)
        if config.home_keyword is not None:
            looks_right = config.home_keyword.encode() in body
        else:
            looks_right = match is not None or b"sympa" in body.lower()
        if not looks_right:
            raise _fail("web", "not_sympa", _("the page does not look like Sympa"))
        if match is None:
            return None
        return _shown(match.group(1).decode("utf-8", "replace"), 20) or None

    async def _wsdl(self, config: SympaConfig, ctx: ProbeContext) -> str | None:
        """The WSDL; returns the absolute SOAP address it gives, or None."""
        wsdl_url = config.url + "/wsdl"
        status, _type, body = await self._request("wsdl", ctx, "GET", wsdl_url,
                                                  config.verify_tls)
        if status == 404:
            raise _fail("wsdl", "missing", _("missing (404)"))
        if status != 200:
            raise _fail("wsdl", "status", _("answered {got} instead of 200", got=status))
        root = _xml(body)
        if root is None or root.tag != f"{{{WSDL_NS}}}definitions":
            raise _fail("wsdl", "invalid", _("this is not a WSDL document"))
        address = root.find(f".//{{{WSDL_NS}}}service/{{{WSDL_NS}}}port/{{{WSDL_SOAP_NS}}}address")
        location = (address.get("location") or "").strip() if address is not None else ""
        if not location:
            if config.soap_url or not config.soap:
                return None
            raise _fail("wsdl", "no_address", _("no SOAP address (soap:address); set soap_url"))
        return urljoin(wsdl_url, location)

    async def _soap(self, soap_url: str, config: SympaConfig, ctx: ProbeContext) -> None:
        """Call checkCookie; the 'not authenticated' fault or a real answer means alive."""
        status, _type, body = await self._request(
            "soap", ctx, "POST", soap_url, config.verify_tls, data=CHECK_COOKIE,
            allow_redirects=False,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": SOAP_ACTION})
        root = _xml(body)
        payload = None
        if root is not None and root.tag == f"{{{SOAP_ENV}}}Envelope":
            soap_body = root.find(f"{{{SOAP_ENV}}}Body")
            payload = soap_body[0] if soap_body is not None and len(soap_body) else None
        if payload is None:
            raise _fail("soap", "not_soap", _("answered {got}, which is not SOAP", got=status))
        if payload.tag == f"{{{SYMPA_NS}}}checkCookieResponse":
            return
        if payload.tag == f"{{{SOAP_ENV}}}Fault":
            code = (payload.findtext("faultcode") or "").strip().rpartition(":")[2]
            text = (payload.findtext("faultstring") or "").strip()
            if code == "Client" and text == "User not authenticated":
                return
            raise _fail("soap", "fault", _("unexpected fault “{fault}”",
                                           fault=_shown(f"{code}: {text}")),
                        public=False)  # the server's words: volunteers only
        raise _fail("soap", "unexpected", _("unexpected SOAP answer ({tag})",
                                            tag=_shown(payload.tag, 60)),
                    public=False)  # the server's words: volunteers only

    async def _smtp(self, config: SympaConfig, ctx: ProbeContext) -> None:
        """Greeting, EHLO and QUIT on the list robot's mail server."""
        assert config.smtp_host is not None
        try:
            stream = await _mailstream.LineStream.open(config.smtp_host, config.smtp_port,
                                                      ctx)
            try:
                await _mailproto.smtp_greeting(stream)
                await _mailproto.smtp_ehlo(stream, config.smtp_ehlo_name)
                await _mailproto.farewell(stream, "QUIT")
            finally:
                await stream.close()
        except ProbeFailed as failed:
            inner, layer = failed.reason, LAYERS["smtp"]
            problem = Bilingual(_lower_first(inner.fr), _lower_first(inner.en))
            raise _LayerFailed(reason(f"sympa.smtp.{inner.code}",
                                      _("{layer}: {problem}", layer=layer, problem=problem),
                                      public=inner.public)) from None


@hookimpl
def vigie_register_probes() -> list[type[Probe]]:
    """Register the ``sympa`` probe kind."""
    return [SympaProbe]
