"""Probe kind ``dns``: resolve a name against a given server, compare the records, time it.

One query (UDP, falling back to TCP when the answer is truncated, or TCP only) for
``query_name``/``record_type`` to ``server``; NXDOMAIN, SERVFAIL, any other error code, an
empty answer, records other than ``expected`` or no answer in time make the check down.
Optionally every server of ``soa_serial_agreement`` is asked for the zone's SOA at the
same time: serials that disagree (a secondary not following its primary) or a server that
does not answer make the check degraded.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from functools import cache
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

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
    _,
    clean_line,
    hookimpl,
    reason,
)
from plugins._lazy import LazyModule

# dnspython is imported when a dns check is configured, not by every Vigie (plugins._lazy)
dns = LazyModule("dns", "asyncquery", "exception", "message", "name", "query", "rcode",
                 "rdata", "rdataclass", "rdatatype", "resolver")

#: TXT and SPF (dns.rdatatype.TXT, .SPF; IntEnum members compare equal to their numbers)
_TEXT_TYPES = frozenset({16, 99})


def _parse_server(value: str, default_port: int = 53) -> tuple[str, int]:
    """``192.0.2.1``, ``192.0.2.1:5353``, ``2001:db8::1`` or ``[2001:db8::1]:5353``."""
    text = value.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _unused, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"invalid name server {value!r}")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _unused, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"invalid name server {value!r}")
        port = int(port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"name server {value!r} must be an IP address, optionally with a port "
            "(192.0.2.1, 192.0.2.1:5353, [2001:db8::1]:5353)") from None
    if not 0 < port < 65536:
        raise ValueError(f"invalid port in name server {value!r}")
    return host, port


def _shown_server(host: str, port: int) -> str:
    if port == 53:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class DNSConfig(ProbeConfig):
    """Keys of a ``dns`` check."""

    #: the name to resolve (``name`` is the check's display name, common to every kind)
    query_name: str = Field(min_length=1)
    record_type: str = "A"
    #: IP address of the server to ask (default: the first name server of /etc/resolv.conf)
    server: str | None = None
    port: int = Field(default=53, ge=1, le=65535)
    protocol: Literal["udp", "tcp"] = "udp"
    #: values that must be in the answer (written as in a zone file; TXT: the text itself)
    expected: list[str] = Field(default_factory=list)
    #: ``contains``: every expected value is in the answer; ``exact``: nothing else either
    match: Literal["contains", "exact"] = "contains"
    #: name servers (IP[:port]) that must all report the same SOA serial for ``zone``
    soa_serial_agreement: list[str] = Field(default_factory=list)
    #: zone whose serial is compared (default: ``query_name``; a name below the apex works)
    zone: str | None = None

    @field_validator("record_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        try:
            dns.rdatatype.from_text(value.upper())
        except dns.rdatatype.UnknownRdatatype:
            raise ValueError(f"unknown DNS record type {value!r} (e.g. A, AAAA, MX, TXT)") from None
        return value.upper()

    @field_validator("server")
    @classmethod
    def _ip_server(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"'server' must be an IP address, got {value!r}") from None
        return value

    @field_validator("soa_serial_agreement")
    @classmethod
    def _servers(cls, value: list[str]) -> list[str]:
        for item in value:
            _parse_server(item)
        return value

    @field_validator("expected")
    @classmethod
    def _expected_parse(cls, value: list[str], info: ValidationInfo) -> list[str]:
        record_type = info.data.get("record_type")
        if record_type is not None:  # else record_type itself is already reported
            _parse_expected(record_type, value)
        return value

    def expected_rdata(self) -> list[dns.rdata.Rdata | str]:
        """Expected values parsed as records (TXT/SPF stay text)."""
        return _parse_expected(self.record_type, self.expected)


def _parse_expected(record_type: str, values: list[str]) -> list[dns.rdata.Rdata | str]:
    rdtype = dns.rdatatype.from_text(record_type)
    if rdtype in _TEXT_TYPES:
        return list(values)
    out: list[dns.rdata.Rdata | str] = []
    for value in values:
        try:
            out.append(dns.rdata.from_text(dns.rdataclass.IN, rdtype, value,
                                           origin=dns.name.root, relativize=False))
        except (dns.exception.DNSException, ValueError):
            raise ValueError(f"{value!r} is not a valid {record_type} record") from None
    return out


RESOLV_CONF = "/etc/resolv.conf"


@cache
def _system_nameserver(path: str) -> str:
    """First name server of the resolver configuration at ``path`` (read once)."""
    servers = dns.resolver.Resolver(filename=path).nameservers
    if not servers:
        raise LookupError(f"no name server in {path}")
    return str(servers[0])


async def _query(qname: str, rdtype: str, host: str, port: int, protocol: str,
                 timeout: float) -> dns.message.Message:
    """One query within ``timeout`` seconds; dnspython errors are left to the caller."""
    query = dns.message.make_query(qname, rdtype, use_edns=0, payload=1232)
    # dnspython's timeout is per attempt (UDP, then TCP when truncated): bound the whole
    async with asyncio.timeout(timeout):
        if protocol == "tcp":
            return await dns.asyncquery.tcp(query, host, timeout=timeout, port=port)
        response, _unused = await dns.asyncquery.udp_with_fallback(
            query, host, timeout=timeout, port=port)
        return response


def _failure(exc: Exception, server: str, seconds: float) -> Reason:
    """Reason for a query that got no usable answer."""
    if isinstance(exc, (dns.exception.Timeout, TimeoutError)):
        return reason("timeout", _("No answer from the DNS server {server} within {s} s",
                                   server=server, s=Number(seconds, ".3g")))
    if isinstance(exc, OSError):
        return reason("dns.unreachable", _("DNS server {server} unreachable", server=server))
    return reason("dns.bad_answer", _("Invalid answer from the DNS server {server}",
                                      server=server))


def _rcode_failure(response: dns.message.Message, name: str, server: str) -> Reason | None:
    rcode = response.rcode()
    if rcode == dns.rcode.NOERROR:
        return None
    if rcode == dns.rcode.NXDOMAIN:
        return reason("dns.nxdomain", _("The name {name} does not exist (NXDOMAIN) according "
                                        "to {server}", name=name, server=server))
    if rcode == dns.rcode.SERVFAIL:
        return reason("dns.servfail", _("The DNS server {server} failed to answer for {name} "
                                        "(SERVFAIL)", name=name, server=server))
    return reason("dns.rcode", _("The DNS server {server} answered {rcode} for {name}",
                                 name=name, server=server, rcode=dns.rcode.to_text(rcode)))


def _answer_records(response: dns.message.Message, rdtype: int) -> list[dns.rdata.Rdata]:
    # the answer may hold a CNAME chain before the records of the asked type
    return [rd for rrset in response.answer if rrset.rdtype == rdtype for rd in rrset]


def _as_text(rd: dns.rdata.Rdata) -> str:
    if rd.rdtype in _TEXT_TYPES:
        return b"".join(rd.strings).decode("utf-8", errors="replace")
    return rd.to_text()


def _matches(config: DNSConfig, records: list[dns.rdata.Rdata]) -> bool:
    # records compare as DNS data (names case-insensitive, 2001:DB8:0::1 == 2001:db8::1)
    expected = config.expected_rdata()
    got = [_as_text(rd) if rd.rdtype in _TEXT_TYPES else rd for rd in records]
    if not all(value in got for value in expected):
        return False
    return config.match != "exact" or all(value in expected for value in got)


def _serial(response: dns.message.Message) -> int | None:
    # the apex answers the SOA; a name below it gives the zone's SOA in the authority section
    for section in (response.answer, response.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.SOA:
                return rrset[0].serial
    return None


class DNSProbe(Probe):
    """Resolves a name against a given server and checks the answer."""

    kind = "dns"
    Config = DNSConfig
    public_words = {
        "dns.bad_answer": _("The name servers give wrong answers"),
        "dns.no_answer": _("A name is missing from the name servers"),
        "dns.no_server": _("Vigie could not check the name servers; the volunteers know"),
        "dns.nxdomain": _("A name is missing from the name servers"),
        "dns.rcode": _("The name servers give wrong answers"),
        "dns.serial_missing": _("The name servers are not all up to date"),
        "dns.serial_mismatch": _("The name servers are not all up to date"),
        "dns.servfail": _("The name servers give wrong answers"),
        "dns.unexpected": _("The name servers give wrong answers"),
        "dns.unreachable": _("The name servers cannot be reached"),
    }
    description = "DNS: resolve a name on a given server, expected records, SOA serial agreement"
    samples = (
        SampleSpec("dns_lookup_seconds", "Duration of the DNS lookup"),
        SampleSpec("dns_soa_serial", "SOA serial of the zone reported by each listed name server",
                   label="server"),
    )

    async def check(self, config: DNSConfig, ctx: ProbeContext) -> ProbeResult:
        """Query the name (and the SOA serials, at the same time) and judge the answers."""
        host = config.server or await self._system_server()
        # the run's own deadline, a little before the runner's: the reason names the server
        budget = ctx.remaining()
        soa_servers = [_parse_server(item) for item in config.soa_serial_agreement]
        zone = config.zone or config.query_name
        started = time.perf_counter()

        async def timed() -> tuple[dns.message.Message, float]:
            response = await _query(config.query_name, config.record_type, host, config.port,
                                    config.protocol, budget)
            return response, time.perf_counter() - started

        outcomes = await asyncio.gather(
            timed(),
            *(_query(zone, "SOA", h, p, config.protocol, budget) for h, p in soa_servers),
            return_exceptions=True)
        main, soa = outcomes[0], outcomes[1:]
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome  # cancellation and the like are not results
        server = _shown_server(host, config.port)
        if isinstance(main, Exception):
            raise ProbeFailed(_failure(main, server, ctx.timeout))
        response, elapsed = main
        samples: dict[str, float | dict[str, float]] = {"dns_lookup_seconds": elapsed}
        self._judge_answer(config, response, server, samples)
        warning = self._judge_serials(zone, soa_servers, soa, samples)
        if warning is not None:
            return ProbeResult.degraded(warning, samples=samples)
        return ProbeResult.up(samples=samples)

    async def _system_server(self) -> str:
        try:
            return await asyncio.to_thread(_system_nameserver, RESOLV_CONF)
        except (LookupError, OSError, dns.exception.DNSException):
            raise ProbeFailed(reason(
                "dns.no_server", _("No DNS server to ask (neither 'server' nor /etc/resolv.conf)")),
                status=Status.UNKNOWN) from None

    def _judge_answer(self, config: DNSConfig, response: dns.message.Message, server: str,
                      samples: dict) -> None:
        failure = _rcode_failure(response, config.query_name, server)
        if failure is not None:
            raise ProbeFailed(failure, samples=samples)
        records = _answer_records(response, dns.rdatatype.from_text(config.record_type))
        if not records:
            raise ProbeFailed(reason(
                "dns.no_answer", _("No {type} record for {name} on {server}",
                                   type=config.record_type, name=config.query_name,
                                   server=server)), samples=samples)
        if config.expected and not _matches(config, records):
            got = ", ".join(sorted(_as_text(rd) for rd in records))
            want = ", ".join(config.expected)
            raise ProbeFailed(reason(
                "dns.unexpected",
                _("Unexpected {type} records for {name}: {got} (expected: {want})",
                  type=config.record_type, name=config.query_name, got=clean_line(got, 200),
                  want=want[:200]),
                public=False),  # the server's records: volunteers only
                samples=samples)

    def _judge_serials(self, zone: str, servers: list[tuple[str, int]], outcomes: list,
                       samples: dict) -> Reason | None:
        if not servers:
            return None
        serials: dict[str, float] = {}
        missing: list[str] = []
        for (host, port), outcome in zip(servers, outcomes):
            name = _shown_server(host, port)
            serial = None if isinstance(outcome, Exception) else _serial(outcome)
            if serial is None or outcome.rcode() != dns.rcode.NOERROR:
                missing.append(name)
            else:
                serials[name] = float(serial)
        if serials:
            samples["dns_soa_serial"] = serials
        if len(set(serials.values())) > 1:
            detail = ", ".join(f"{name} = {int(value)}" for name, value in serials.items())
            return reason(
                "dns.serial_mismatch",
                _("The name servers disagree on the serial of {zone}: {detail}", zone=zone,
                  detail=detail))
        if missing:
            return reason(
                "dns.serial_missing", _("No serial for {zone} from {servers}", zone=zone,
                                        servers=", ".join(missing)))
        return None


@hookimpl
def vigie_register_probes() -> list[type[Probe]]:
    """The ``dns`` probe kind."""
    return [DNSProbe]
