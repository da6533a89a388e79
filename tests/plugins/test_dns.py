"""The ``dns`` probe against real local authoritative DNS servers (UDP and TCP).

:class:`ZoneServer` is a tiny authoritative server built on dnspython's message code:
it answers from a dict of records, follows one CNAME, truncates UDP answers that do not
fit (so clients retry over TCP), answers SERVFAIL or REFUSED for chosen names, NXDOMAIN
for unknown ones, or stays silent.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Self

import aiohttp
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from pydantic import ValidationError

from monitor.config import Check, LocalizedText
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import CheckRef, ProbeFailed, Status
from monitor.runner import probe_context, run_check
from plugins.dns import DNSConfig, DNSProbe
from tests.conftest import free_port

ZONE = "vigie.test."
RECORDS = {
    ("www.vigie.test.", "A"): ["192.0.2.10", "192.0.2.11"],
    ("www.vigie.test.", "AAAA"): ["2001:db8::10"],
    ("vigie.test.", "MX"): ["10 mail.vigie.test.", "20 backup.vigie.test."],
    ("vigie.test.", "TXT"): ['"v=spf1 mx -all"'],
    ("alias.vigie.test.", "CNAME"): ["www.vigie.test."],
    ("big.vigie.test.", "TXT"): [f'"{i:03d}-{"x" * 200}"' for i in range(12)],
}


class ZoneServer:
    """An authoritative server for ``vigie.test`` on 127.0.0.1 (UDP and TCP, same port)."""

    def __init__(self, serial: int = 2024010101, silent: bool = False,
                 servfail: tuple[str, ...] = (), refused: tuple[str, ...] = ()) -> None:
        self.serial = serial
        self.silent = silent
        self.servfail = {dns.name.from_text(n) for n in servfail}
        self.refused = {dns.name.from_text(n) for n in refused}
        self.queries = {"udp": 0, "tcp": 0}
        self.port = 0

    def _soa(self) -> dns.rrset.RRset:
        return dns.rrset.from_text(ZONE, 300, "IN", "SOA",
                                   f"ns1.{ZONE} hostmaster.{ZONE} {self.serial} 3600 600 86400 300")

    def _rrset(self, name: dns.name.Name, rdtype: str) -> dns.rrset.RRset | None:
        texts = RECORDS.get((name.to_text(), rdtype))
        return dns.rrset.from_text_list(name, 300, "IN", rdtype, texts) if texts else None

    def answer(self, wire: bytes, max_size: int) -> bytes | None:
        """The response to one query (None: stay silent)."""
        if self.silent:
            return None
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name, rdtype = question.name, dns.rdatatype.to_text(question.rdtype)
        known = {dns.name.from_text(n) for n, _ in RECORDS} | {dns.name.from_text(ZONE)}
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in self.refused:
            response.set_rcode(dns.rcode.REFUSED)
        elif rdtype == "SOA" and name == dns.name.from_text(ZONE):
            response.answer.append(self._soa())
        elif name not in known:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self._soa())
        else:
            cname = self._rrset(name, "CNAME")
            if cname is not None and rdtype != "CNAME":
                response.answer.append(cname)
                name = cname[0].target
            found = self._rrset(name, rdtype)
            if found is not None:
                response.answer.append(found)
            else:
                response.authority.append(self._soa())
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            response.answer.clear()
            response.authority.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        server = self

        class UDP(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.transport = transport

            def datagram_received(self, data, addr):
                server.queries["udp"] += 1
                reply = server.answer(data, 1232)
                if reply is not None:
                    self.transport.sendto(reply, addr)

        for _ in range(5):  # the free UDP port may be taken for TCP: pick another one
            self._udp, _ = await loop.create_datagram_endpoint(UDP, local_addr=("127.0.0.1", 0))
            self.port = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, "127.0.0.1", self.port)
                return self
            except OSError:
                self._udp.close()
        raise RuntimeError("no port free for both UDP and TCP")

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while header := await reader.readexactly(2):
                data = await reader.readexactly(struct.unpack("!H", header)[0])
                self.queries["tcp"] += 1
                reply = self.answer(data, 65535)
                if reply is None:
                    await reader.read()  # silent: hold the connection until the client leaves
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.transport.abort()

    async def __aexit__(self, *exc) -> None:
        self._udp.close()
        self._tcp.close()
        await self._tcp.wait_closed()

    @property
    def address(self) -> str:
        """``127.0.0.1:port`` as written in ``soa_serial_agreement``."""
        return f"127.0.0.1:{self.port}"


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def config(server: ZoneServer | None, name: str, **extra) -> DNSConfig:
    return DNSConfig(query_name=name, server="127.0.0.1", port=server.port if server else free_port(),
                     **extra)


async def run(cfg: DNSConfig, http, timeout: float = 3.0):
    ctx = probe_context(CheckRef("dns", "lookup", "dns"), timeout, http)
    return await DNSProbe().check(cfg, ctx)


async def failure(cfg: DNSConfig, http, timeout: float = 3.0) -> ProbeFailed:
    with pytest.raises(ProbeFailed) as caught:
        await run(cfg, http, timeout)
    return caught.value


async def test_lookup_with_expected_records(http):
    async with ZoneServer() as server:
        result = await run(config(server, "www.vigie.test", expected=["192.0.2.10"]), http)
    assert result.status == Status.UP, result.reason
    assert 0 < result.samples["dns_lookup_seconds"] < 3
    assert server.queries == {"udp": 1, "tcp": 0}


async def test_exact_match_refuses_extra_records(http):
    async with ZoneServer() as server:
        contains = await run(config(server, "www.vigie.test", expected=["192.0.2.11"]), http)
        exact = await failure(config(server, "www.vigie.test", expected=["192.0.2.11"],
                                     match="exact"), http)
        both = await run(config(server, "www.vigie.test", match="exact",
                                expected=["192.0.2.11", "192.0.2.10"]), http)
    assert contains.status == Status.UP
    assert exact.reason.code == "dns.unexpected"
    assert "192.0.2.10, 192.0.2.11" in exact.reason.en
    assert both.status == Status.UP


async def test_missing_expected_record_is_down(http):
    async with ZoneServer() as server:
        exc = await failure(config(server, "www.vigie.test", expected=["192.0.2.99"]), http)
    assert exc.reason.code == "dns.unexpected"
    assert "192.0.2.99" in exc.reason.fr
    assert "dns_lookup_seconds" in exc.samples


async def test_records_compare_as_dns_data(http):
    async with ZoneServer() as server:
        mx = await run(config(server, "vigie.test", record_type="mx",
                              expected=["10 Mail.Vigie.Test", "20 backup.vigie.test."]), http)
        aaaa = await run(config(server, "www.vigie.test", record_type="AAAA",
                                expected=["2001:DB8:0:0::10"]), http)
        txt = await run(config(server, "vigie.test", record_type="TXT",
                               expected=["v=spf1 mx -all"], match="exact"), http)
        wrong_txt = await failure(config(server, "vigie.test", record_type="TXT",
                                         expected=["v=spf1 -all"]), http)
    assert (mx.status, aaaa.status, txt.status) == (Status.UP, Status.UP, Status.UP)
    assert wrong_txt.reason.code == "dns.unexpected"


async def test_cname_chain(http):
    async with ZoneServer() as server:
        result = await run(config(server, "alias.vigie.test", expected=["192.0.2.10"]), http)
        cname = await run(config(server, "alias.vigie.test", record_type="CNAME",
                                 expected=["www.vigie.test"]), http)
    assert result.status == Status.UP and cname.status == Status.UP


async def test_nxdomain(http):
    async with ZoneServer() as server:
        exc = await failure(config(server, "nope.vigie.test"), http)
    assert exc.reason.code == "dns.nxdomain"
    assert "nope.vigie.test" in exc.reason.fr


async def test_servfail_and_refused(http):
    async with ZoneServer(servfail=("www.vigie.test",), refused=("vigie.test",)) as server:
        servfail = await failure(config(server, "www.vigie.test"), http)
        refused = await failure(config(server, "vigie.test", record_type="MX"), http)
    assert servfail.reason.code == "dns.servfail"
    assert refused.reason.code == "dns.rcode" and "REFUSED" in refused.reason.en


async def test_no_record_of_that_type(http):
    async with ZoneServer() as server:
        exc = await failure(config(server, "vigie.test", record_type="AAAA"), http)
    assert exc.reason.code == "dns.no_answer"


async def test_silent_server_times_out(http):
    async with ZoneServer(silent=True) as server:
        exc = await failure(config(server, "www.vigie.test"), http, timeout=0.5)
    assert exc.reason.code == "timeout"
    assert f"127.0.0.1:{server.port}" in exc.reason.en


async def test_tcp(http):
    async with ZoneServer() as server:
        result = await run(config(server, "www.vigie.test", protocol="tcp"), http)
    assert result.status == Status.UP
    assert server.queries == {"udp": 0, "tcp": 1}


async def test_truncated_udp_answer_is_asked_again_over_tcp(http):
    async with ZoneServer() as server:
        result = await run(config(server, "big.vigie.test", record_type="TXT",
                                  expected=[f"005-{'x' * 200}"]), http)
    assert result.status == Status.UP, result.reason
    assert server.queries == {"udp": 1, "tcp": 1}


async def test_unreachable_server(http):
    exc = await failure(config(None, "www.vigie.test", protocol="tcp"), http)
    assert exc.reason.code == "dns.unreachable"


async def test_default_server_comes_from_resolv_conf(http, tmp_path, monkeypatch):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search vigie.test\nnameserver 127.0.0.1\n")
    empty = tmp_path / "empty.conf"
    empty.write_text("# no nameserver line\n")
    async with ZoneServer() as server:
        monkeypatch.setattr("plugins.dns.RESOLV_CONF", str(resolv))
        result = await run(DNSConfig(query_name="www.vigie.test", port=server.port), http)
        monkeypatch.setattr("plugins.dns.RESOLV_CONF", str(empty))
        exc = await failure(DNSConfig(query_name="www.vigie.test", port=server.port), http)
    assert result.status == Status.UP
    assert server.queries["udp"] == 1
    assert exc.status == Status.UNKNOWN and exc.reason.code == "dns.no_server"


async def test_soa_serials_agree(http):
    async with ZoneServer() as main, ZoneServer() as secondary:
        result = await run(config(main, "www.vigie.test", zone="vigie.test",
                                  soa_serial_agreement=[main.address, secondary.address]), http)
    assert result.status == Status.UP
    assert result.samples["dns_soa_serial"] == {main.address: 2024010101.0,
                                               secondary.address: 2024010101.0}


async def test_soa_serial_mismatch_is_degraded(http):
    async with ZoneServer() as main, ZoneServer(serial=2024010100) as stale:
        # the zone defaults to the name; below the apex the SOA comes in the authority section
        result = await run(config(main, "www.vigie.test",
                                  soa_serial_agreement=[main.address, stale.address]), http)
    assert result.status == Status.DEGRADED
    assert result.reason.code == "dns.serial_mismatch"
    assert f"{stale.address} = 2024010100" in result.reason.en
    assert result.samples["dns_soa_serial"][stale.address] == 2024010100.0


async def test_silent_secondary_is_degraded(http):
    async with ZoneServer() as main, ZoneServer(silent=True) as dead:
        result = await run(config(main, "www.vigie.test", zone="vigie.test",
                                  soa_serial_agreement=[main.address, dead.address]), http,
                           timeout=0.5)
    assert result.status == Status.DEGRADED
    assert result.reason.code == "dns.serial_missing"
    assert dead.address in result.reason.fr
    assert list(result.samples["dns_soa_serial"]) == [main.address]


async def test_through_the_runner(http):
    async with ZoneServer(silent=True) as server:
        check = Check(ref=CheckRef("dns", "www", "dns"), name=LocalizedText(fr="DNS"),
                      interval=300, timeout=1.0, confirm=2, retry_interval=30,
                      options=config(server, "www.vigie.test"))
        result = await run_check(check, DNSProbe(), http)
    # the probe's own deadline fires first, so the reason names the silent server
    assert result.status == Status.DOWN
    assert result.reason.code == "timeout" and "DNS" in result.reason.en


def test_config_is_checked_at_load():
    with pytest.raises(ValidationError, match="unknown DNS record type"):
        DNSConfig(query_name="x.test", record_type="AAAAA")
    with pytest.raises(ValidationError, match="not a valid A record"):
        DNSConfig(query_name="x.test", expected=["192.0.2.300"])
    with pytest.raises(ValidationError, match="must be an IP address"):
        DNSConfig(query_name="x.test", server="ns1.example.org")
    with pytest.raises(ValidationError, match="must be an IP address"):
        DNSConfig(query_name="x.test", soa_serial_agreement=["ns1.example.org"])
    with pytest.raises(ValidationError):
        DNSConfig(query_name="x.test", protocol="doh")
    cfg = DNSConfig(query_name="x.test", record_type="mx", soa_serial_agreement=["[2001:db8::1]:5353"])
    assert cfg.record_type == "MX"


def test_registered_through_the_entry_point():
    registry = ProbeRegistry.from_plugin_manager(build_plugin_manager())
    assert registry.get("dns").probe_class is DNSProbe
