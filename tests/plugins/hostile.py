"""Hostile local targets: servers of every text protocol Vigie probes, answering what the
test puts in ``payload`` (any bytes) wherever a real server puts text of its own.

One :class:`HostileTargets` runs them all on 127.0.0.1 and writes the configuration of
the checks that probe them (:meth:`HostileTargets.config_yaml`): ``tcp``, ``smtp``,
``imap`` and ``pop3`` (the greeting, then the answer to the first command), ``http`` (the status line's phrase, a
header and the body; JSON values), ``nextcloud`` (status.php's version and product
name), ``php_fpm`` and ``apache_status`` (the status page's text fields), ``sympa`` (the
home page's content type and version, the SOAP fault text and element), ``dns`` (TXT
records), ``nagios`` (a script printing the bytes). Heartbeat messages come over HTTP:
see :func:`push_beat`.

The servers are raw asyncio sockets, not HTTP or mail libraries, so nothing on the way
cleans what the probes receive. Changing ``payload`` changes every answer from the next
connection on: one set of servers serves every example of a property test.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from plugins import (
    apache_status,
    dns as dns_plugin,
    heartbeat,
    http,
    imap,
    nagios,
    nextcloud,
    php_fpm,
    pop3,
    smtp,
    sympa,
    tcp,
)

#: the plugins registering the probe kinds of the hostile checks
PROBE_PLUGINS = (tcp, smtp, imap, pop3, http, nextcloud, php_fpm, apache_status, sympa,
                 dns_plugin, nagios, heartbeat)
#: the heartbeat check's token (the push address's secret)
HEARTBEAT_TOKEN = "hostile-heartbeat-token-0123456789"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def line(payload: bytes) -> bytes:
    """``payload`` as one protocol line: its own line breaks kept, one added at the end."""
    return payload + b"\r\n"


def one_line(payload: bytes) -> bytes:
    """``payload`` without line breaks (a header value, a status phrase)."""
    return payload.replace(b"\r", b" ").replace(b"\n", b" ")


def text(payload: bytes) -> str:
    """``payload`` as text, each byte one character (what a JSON or XML writer would send
    for a server that mixes encodings)."""
    return payload.decode("latin-1")


@dataclass
class HttpAnswer:
    """One HTTP response, as bytes on the wire."""

    body: bytes
    content_type: bytes = b"text/plain"
    status: bytes = b"200 OK"
    extra: bytes = b""

    def wire(self) -> bytes:
        head = (b"HTTP/1.1 " + self.status + b"\r\nContent-Type: " + self.content_type
                + b"\r\nContent-Length: " + str(len(self.body)).encode()
                + b"\r\nConnection: close\r\n" + self.extra + b"\r\n")
        return head + self.body


class HostileTargets:
    """Every hostile server, started by ``async with``; ``payload`` is what they quote."""

    def __init__(self, folder: Path) -> None:
        self.payload = b""
        self.folder = folder
        self._servers: list[asyncio.AbstractServer] = []
        self.ports: dict[str, int] = {}
        self.script = folder / "hostile-plugin.sh"
        self.output = folder / "hostile-output"

    # What each server answers ---------------------------------------------------------

    def mail_lines(self, kind: str) -> list[bytes]:
        """What a mail server of ``kind`` says: its greeting, then the answer to the first
        command, then it hangs up (so a probe waiting for more never waits long)."""
        p = self.payload
        ok = {"smtp": b"220 mail.vigie.test ESMTP", "imap": b"* OK ready",
              "pop3": b"+OK ready"}[kind.split("-")[0]]
        if kind.endswith("-greeting"):
            return [line(p)]
        return [ok + b"\r\n", line(p)]

    def http_answer(self, path: str) -> HttpAnswer:
        """The answer of the HTTP server for ``path`` (query string left out)."""
        p, t = self.payload, text(self.payload)
        if path == "/page":
            return HttpAnswer(p, status=b"200 " + one_line(p),
                              extra=b"X-Hostile: " + one_line(p) + b"\r\n")
        if path == "/json":
            return HttpAnswer(json.dumps({"state": t}).encode(), b"application/json")
        if path == "/nextcloud/status.php":
            return HttpAnswer(json.dumps({
                "installed": True, "maintenance": False, "needsDbUpgrade": False,
                "version": t, "versionstring": t, "edition": t, "productname": "Nextcloud",
                "extendedSupport": False}).encode(), b"application/json")
        if path == "/themed/status.php":
            return HttpAnswer(json.dumps({
                "installed": True, "maintenance": False, "needsDbUpgrade": False,
                "version": "30.0.4.1", "versionstring": "30.0.4", "edition": "",
                "productname": t, "extendedSupport": False}).encode(), b"application/json")
        if path == "/fpm-status":
            return HttpAnswer(json.dumps({
                "pool": t, "process manager": t, "start time": 1717000000,
                "start since": 86400, "accepted conn": 1, "listen queue": 0,
                "max listen queue": 0, "listen queue len": 511, "idle processes": 0,
                "active processes": 2, "total processes": 2, "max active processes": 2,
                "max children reached": 0, "slow requests": 0}).encode(), b"application/json")
        if path == "/server-status":
            return HttpAnswer(b"127.0.0.1\nServerVersion: " + one_line(p) + b"\nServerMPM: "
                              + one_line(p) + b"\nBusyWorkers: 3\nIdleWorkers: 0\n"
                              + p + b"\n")
        if path == "/sympa-type":
            return HttpAnswer(b"<html>Sympa</html>", b"text/" + one_line(p))
        if path in ("/sympa", "/sympa-tag"):
            return HttpAnswer(b'<html><head><meta name="generator" content="Sympa '
                              + p.replace(b'"', b"'") + b'" /></head><body>sympa</body></html>',
                              b"text/html")
        if path == "/sympa/wsdl":
            return HttpAnswer(self._wsdl(), b"text/xml")
        if path == "/sympasoap":
            return HttpAnswer(_envelope(
                "<soap:Fault><faultcode>soap:Server</faultcode>"
                f"<faultstring>{escape(t)}</faultstring></soap:Fault>"),
                b"text/xml", b"500 Internal Server Error")
        if path == "/sympasoap-tag":
            name = "".join(c for c in t if c.isalnum()) or "empty"
            return HttpAnswer(_envelope(f"<x{name} xmlns=\"urn:hostile\"/>"), b"text/xml")
        return HttpAnswer(b"not found", status=b"404 Not Found")

    def _wsdl(self) -> bytes:
        soap = f"http://127.0.0.1:{self.ports['http']}/sympasoap"
        return (
            '<?xml version="1.0"?><definitions xmlns="http://schemas.xmlsoap.org/wsdl/" '
            'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"><service name="SympaSOAP">'
            f'<port name="SympaPort"><soap:address location="{soap}"/></port></service>'
            '</definitions>').encode()

    def txt_records(self) -> list[bytes]:
        """The TXT strings of the DNS answer (at most 255 bytes each)."""
        p = self.payload
        return [p[i:i + 255] for i in range(0, len(p), 255)] or [b""]

    # Servers ---------------------------------------------------------------------------

    async def __aenter__(self) -> HostileTargets:
        for kind in ("tcp", "smtp-greeting", "smtp", "imap-greeting", "imap", "pop3-greeting",
                     "pop3"):
            await self._listen(kind, self._mail_handler(kind))
        await self._listen("http", self._http_client)
        await self._listen("dns", self._dns_client)
        self.script.write_text(f"#!/bin/sh\ncat '{self.output}'\nexit 2\n")
        self.script.chmod(0o755)
        self.output.write_bytes(b"")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _listen(self, name: str, handler: Handler) -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        self._servers.append(server)
        self.ports[name] = server.sockets[0].getsockname()[1]

    def set_payload(self, payload: bytes) -> None:
        """What every server answers from the next connection on."""
        self.payload = payload
        self.output.write_bytes(payload)

    def _mail_handler(self, kind: str) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            lines = [self.payload] if kind == "tcp" else self.mail_lines(kind)
            try:
                for index, answer in enumerate(lines):
                    if index:
                        await reader.readline()
                    writer.write(answer)
                    await writer.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.transport.abort()
        return handle

    async def _http_client(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *headers = head.decode("latin-1").split("\r\n")
            length = next((int(h.split(":", 1)[1]) for h in headers
                           if h.lower().startswith("content-length:")), 0)
            if length:
                await reader.readexactly(length)
            path = request_line.split(" ")[1].split("?")[0]
            writer.write(self.http_answer(path).wire())
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, IndexError):
            pass
        finally:
            writer.close()

    async def _dns_client(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            while header := await reader.readexactly(2):
                query = dns.message.from_wire(
                    await reader.readexactly(struct.unpack("!H", header)[0]))
                response = dns.message.make_response(query)
                rdata = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT,
                                                self.txt_records())
                response.answer.append(dns.rrset.from_rdata(query.question[0].name, 300, rdata))
                wire = response.to_wire()
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    # The checks ------------------------------------------------------------------------

    def options(self) -> dict[str, tuple[str, dict]]:
        """Check id → (kind, options) of every check probing these servers."""
        web = f"http://127.0.0.1:{self.ports['http']}"
        mail = {"host": "127.0.0.1", "tls": "none"}
        return {
            "tcp": ("tcp", {"host": "127.0.0.1", "port": self.ports["tcp"], "expect": "220 "}),
            "smtp_greeting": ("smtp", {**mail, "port": self.ports["smtp-greeting"]}),
            "smtp_ehlo": ("smtp", {**mail, "port": self.ports["smtp"]}),
            "imap_greeting": ("imap", {**mail, "port": self.ports["imap-greeting"]}),
            "imap_capability": ("imap", {**mail, "port": self.ports["imap"]}),
            "pop3_greeting": ("pop3", {**mail, "port": self.ports["pop3-greeting"]}),
            "pop3_capa": ("pop3", {**mail, "port": self.ports["pop3"]}),
            "http_page": ("http", {"url": f"{web}/page", "keyword": "Vigie-OK"}),
            "http_json": ("http", {"url": f"{web}/json",
                                   "json_path": [{"path": "state", "equals": "running"}]}),
            "nextcloud_version": ("nextcloud", {"url": f"{web}/nextcloud",
                                                "min_version": "99.0"}),
            "nextcloud_product": ("nextcloud", {"url": f"{web}/themed"}),
            "php_fpm": ("php_fpm", {"url": f"{web}/fpm-status"}),
            "apache_status": ("apache_status", {"url": f"{web}/server-status"}),
            "sympa_type": ("sympa", {"url": f"{web}/sympa-type", "wsdl": False,
                                     "soap": False}),
            "sympa_soap": ("sympa", {"url": f"{web}/sympa"}),
            "sympa_tag": ("sympa", {"url": f"{web}/sympa-tag", "wsdl": False,
                                    "soap_url": f"{web}/sympasoap-tag"}),
            "dns_txt": ("dns", {"query_name": "vigie.test", "record_type": "TXT",
                                "server": "127.0.0.1", "port": self.ports["dns"],
                                "protocol": "tcp", "expected": ["v=spf1 -all"]}),
            "nagios": ("nagios", {"command": [str(self.script)]}),
            "heartbeat": ("heartbeat", {"token": HEARTBEAT_TOKEN, "expected_every": "1d"}),
        }

    def config_yaml(self) -> str:
        """The ``services:`` section of a configuration with these checks, each in a
        service of its own (named as the check), confirmed at the first failure."""
        lines = ["services:"]
        for check_id, (kind, options) in self.options().items():
            fields = {"id": check_id, "kind": kind, "confirm": 1, "timeout": "5s", **options}
            lines += [f"  - id: {check_id}", f"    name: Cible {check_id}",
                      f"    checks: [{json.dumps(fields)}]"]
        return "\n".join(lines) + "\n"


def push_beat(app: heartbeat.PushApp, message: bytes) -> None:
    """A failing beat whose message is ``message``, through the push receiver's HTTP
    interface (form-encoded, as ``curl --data-urlencode`` sends it)."""
    from urllib.parse import quote_from_bytes

    from werkzeug.test import Client

    body = b"status=fail&msg=" + quote_from_bytes(message).encode()
    answer = Client(app).post(f"/{HEARTBEAT_TOKEN}", data=body,
                              content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200, answer.data


def _envelope(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><soap:Envelope '
            'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            f"<soap:Body>{body}</soap:Body></soap:Envelope>").encode("utf-8", "surrogatepass")
