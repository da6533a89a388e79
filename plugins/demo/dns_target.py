"""A tiny authoritative DNS server for the zone ``demo.coop.test`` (UDP and TCP).

Built on dnspython (a runtime dependency of the ``dns`` probe). It answers authoritatively
for the names of :data:`ZONE_TEXT`, ``NXDOMAIN`` for other names of the zone (with the SOA
in the authority section, as a real server does), an empty answer for a name without
records of the asked type, and ``REFUSED`` for names outside the zone.
"""

from __future__ import annotations

import asyncio
import logging
import struct

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

from plugins.demo.streams import IDLE_TIMEOUT, StreamTarget

log = logging.getLogger(__name__)

ORIGIN = "demo.coop.test."
#: the zone served, as a zone file (192.0.2.0/24 and 2001:db8::/32 are documentation ranges)
ZONE_TEXT = """\
$TTL 300
@     IN SOA  ns1 hostmaster 2024060101 3600 600 1209600 300
@     IN NS   ns1
@     IN A    192.0.2.10
@     IN MX   10 mail
@     IN TXT  "v=spf1 mx -all"
www   IN A    192.0.2.10
www   IN AAAA 2001:db8::10
mail  IN A    192.0.2.25
ns1   IN A    192.0.2.53
"""


def load_zone() -> dns.zone.Zone:
    """The demo zone, with absolute names."""
    return dns.zone.from_text(ZONE_TEXT, origin=ORIGIN, relativize=False)


def answer(zone: dns.zone.Zone, wire: bytes) -> dns.message.Message | None:
    """The response to the query ``wire``, or None when it is not a DNS query."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    if query.flags & dns.flags.QR or len(query.question) != 1:
        return None
    response = dns.message.make_response(query)
    question = query.question[0]
    if question.rdclass != dns.rdataclass.IN or not question.name.is_subdomain(zone.origin):
        response.set_rcode(dns.rcode.REFUSED)
        return response
    response.flags |= dns.flags.AA
    soa = zone.find_rrset(zone.origin, dns.rdatatype.SOA)
    node = zone.get_node(question.name)
    if node is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(soa)
        return response
    found = node.get_rdataset(dns.rdataclass.IN, question.rdtype)
    if found is None:
        response.authority.append(soa)  # NOERROR, no data
    else:
        response.answer.append(dns.rrset.from_rdata_list(question.name, found.ttl, found))
    return response


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, zone: dns.zone.Zone) -> None:
        self.zone = zone
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        response = answer(self.zone, data)
        if response is not None and self.transport is not None:
            # the zone's answers are far below 512 bytes: no truncation needed
            self.transport.sendto(response.to_wire(), addr)


class DNSTarget:
    """The demo zone served on one port, over UDP and TCP."""

    def __init__(self) -> None:
        self.zone = load_zone()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp = StreamTarget(self._tcp_session)

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (UDP and TCP).

        :raises OSError: the port is taken.
        """
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _UDP(self.zone), local_addr=(host, port))
        await self._tcp.start(host, port)

    async def _tcp_session(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        # RFC 1035 4.2.2: each message is preceded by its length on two bytes
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    (size,) = struct.unpack("!H", await reader.readexactly(2))
                    wire = await reader.readexactly(size)
            except (TimeoutError, asyncio.IncompleteReadError):
                return
            response = answer(self.zone, wire)
            if response is None:
                return
            out = response.to_wire()
            writer.write(struct.pack("!H", len(out)) + out)
            await writer.drain()

    async def close(self) -> None:
        """Stop answering and free the port."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        await self._tcp.close()
