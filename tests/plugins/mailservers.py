"""Real local servers for the tls, smtp, imap and pop3 probe tests (127.0.0.1 only).

- :class:`PKI`: a throw-away certificate authority (trustme) issuing server certificates,
  valid, expiring, expired or for another name.
- :func:`serve`: an asyncio TCP (or TLS) server on a free port running a handler, which
  tells whether the client closed its connection (no leaked sockets).
- :class:`IMAPServer` and :class:`POP3Server`: minimal but faithful IMAP4rev1 (RFC 3501:
  greeting, CAPABILITY, STARTTLS, LOGIN with quoted strings and literals, LOGOUT) and
  POP3 (RFC 1939/2449/2595: greeting, CAPA, STLS, USER, PASS, QUIT) servers. Debian's
  dovecot would be the real thing but cannot be started cheaply from a test.

The SMTP tests use aiosmtpd, a real SMTP server, instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import trustme

from monitor.probe import CheckRef, ProbeContext
from monitor.runner import probe_context

HOSTNAME = "mail.vigie.test"
USERS = {"probe": "s3cret pass"}

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def make_ctx(http: aiohttp.ClientSession, kind: str, timeout: float = 3.0) -> ProbeContext:
    """A ProbeContext as the runner builds it."""
    return probe_context(CheckRef("mail", f"{kind}-check", kind), timeout, http)


class PKI:
    """A test CA; ``server_context()`` gives a server SSLContext with a fresh leaf cert."""

    def __init__(self) -> None:
        self.ca = trustme.CA()

    def server_context(self, *names: str, days_left: float | None = None,
                       starts_in_days: float = -400) -> ssl.SSLContext:
        """Server context for ``names`` (default HOSTNAME); ``days_left`` < 0 is expired,
        ``starts_in_days`` > 0 not yet valid."""
        kwargs = {}
        if days_left is not None:
            now = dt.datetime.now(dt.UTC)
            kwargs = {"not_before": now + dt.timedelta(days=starts_in_days),
                      "not_after": now + dt.timedelta(days=days_left)}
        cert = self.ca.issue_cert(*(names or (HOSTNAME,)), **kwargs)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    def ca_file(self, directory: Path) -> str:
        """Write the CA certificate as PEM in ``directory``; return its path."""
        path = directory / f"ca-{id(self)}.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)


@dataclass
class Served:
    """A running test server: its port and what its clients did."""

    port: int
    connections: int = 0
    #: set once every accepted connection has been closed by the client (or the server)
    all_closed: asyncio.Event = field(default_factory=asyncio.Event)
    lines: list[str] = field(default_factory=list)


@asynccontextmanager
async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Served]:
    """Run ``handler`` for each connection on 127.0.0.1 (a free port), TLS from the start
    when ``tls`` is given. Handler tasks still running at exit are cancelled."""
    tasks: dict[asyncio.Task, asyncio.StreamWriter] = {}
    served = Served(port=0)
    served.all_closed.set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks[task] = writer
        served.connections += 1
        served.all_closed.clear()
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            del tasks[task]
            if not tasks:
                served.all_closed.set()

    server = await asyncio.start_server(connection, "127.0.0.1", 0, ssl=tls)
    served.port = server.sockets[0].getsockname()[1]
    try:
        yield served
    finally:
        server.close()
        # end handlers by cutting their connections (asyncio logs an error for a
        # cancelled client_connected_cb task in 3.11)
        for writer in list(tasks.values()):
            writer.transport.abort()
        await asyncio.wait_for(served.all_closed.wait(), 2)
        await server.wait_closed()


async def server_start_tls(writer: asyncio.StreamWriter, context: ssl.SSLContext) -> None:
    """Server side of STARTTLS.

    In Python 3.11, when the client leaves right after the handshake (it refused the
    certificate), ``loop.start_tls`` returns None, which ``StreamWriter.start_tls`` stores
    as its transport and then fails on; put the old transport back (so the writer can
    still be closed and collected) and report the lost connection it is.
    """
    transport = writer.transport
    try:
        await writer.start_tls(context)
    except AttributeError:
        writer._transport = transport
        raise ConnectionResetError("client left during the TLS handshake") from None


def greet_then_wait(greeting: bytes | None) -> Handler:
    """A handler that sends ``greeting`` (None: nothing at all) and reads until EOF."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if greeting is not None:
            writer.write(greeting)
            await writer.drain()
        while await reader.read(4096):
            pass

    return handler


_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_LITERAL = re.compile(r"\{(\d+)\}$")


@dataclass
class IMAPServer:
    """A minimal IMAP4rev1 server: see the module docstring. Use ``handle`` with :func:`serve`."""

    tls_context: ssl.SSLContext | None = None
    #: the connection is TLS from the first byte (port 993)
    implicit: bool = False
    greeting: str = "* OK [CAPABILITY IMAP4rev1] Vigie test IMAP server ready"
    capabilities: tuple[str, ...] = ("IMAP4rev1",)
    starttls: bool = True
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    logins: list[str] = field(default_factory=list)

    def _caps(self, secure: bool) -> str:
        caps = list(self.capabilities)
        if not secure and self.starttls and self.tls_context is not None:
            caps += ["STARTTLS", "LOGINDISABLED"]
        else:
            caps.append("AUTH=PLAIN")
        return " ".join(caps)

    async def _arguments(self, text: str, reader, writer) -> list[str]:
        args: list[str] = []
        while True:
            literal = _LITERAL.search(text)
            head = text[: literal.start()] if literal else text
            for quoted, atom in _TOKEN.findall(head):
                args.append(re.sub(r"\\(.)", r"\1", quoted) if quoted or not atom else atom)
            if literal is None:
                return args
            writer.write(b"+ Ready for literal data\r\n")
            await writer.drain()
            args.append((await reader.readexactly(int(literal.group(1)))).decode())
            text = (await reader.readline()).decode().rstrip("\r\n")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client."""
        secure = self.implicit
        writer.write(self.greeting.encode() + b"\r\n")
        while line := await reader.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, text = rest.partition(" ")
            command = command.upper()
            args = await self._arguments(text, reader, writer)
            if command == "CAPABILITY":
                writer.write(f"* CAPABILITY {self._caps(secure)}\r\n{tag} OK done\r\n".encode())
            elif command == "STARTTLS" and not secure and self.starttls and self.tls_context:
                writer.write(f"{tag} OK Begin TLS negotiation now\r\n".encode())
                await writer.drain()
                await server_start_tls(writer, self.tls_context)
                secure = True
            elif command == "LOGIN" and len(args) == 2:
                if not secure and self.tls_context is not None:
                    writer.write(f"{tag} NO [PRIVACYREQUIRED] Use STARTTLS first\r\n".encode())
                elif self.users.get(args[0]) == args[1]:
                    self.logins.append(args[0])
                    writer.write(f"{tag} OK [CAPABILITY IMAP4rev1] Logged in\r\n".encode())
                else:
                    writer.write(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".encode())
            elif command == "LOGOUT":
                writer.write(f"* BYE Logging out\r\n{tag} OK Logout completed.\r\n".encode())
                await writer.drain()
                return
            else:
                writer.write(f"{tag} BAD Error in IMAP command\r\n".encode())
            await writer.drain()


@dataclass
class POP3Server:
    """A minimal POP3 server: see the module docstring. Use ``handle`` with :func:`serve`."""

    tls_context: ssl.SSLContext | None = None
    implicit: bool = False
    greeting: str = "+OK Vigie test POP3 server ready."
    #: answer CAPA (an RFC 1939-only server answers -ERR)
    capa: bool = True
    stls: bool = True
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    logins: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client."""
        secure = self.implicit
        user = None
        writer.write(self.greeting.encode() + b"\r\n")
        while line := await reader.readline():
            command, _, arg = line.decode().rstrip("\r\n").partition(" ")
            command = command.upper()
            offers_stls = not secure and self.stls and self.tls_context is not None
            if command == "CAPA" and self.capa:
                caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE"]
                caps += ["STLS"] if offers_stls else ["USER", "SASL PLAIN"]
                writer.write(("+OK\r\n" + "".join(f"{c}\r\n" for c in caps) + ".\r\n").encode())
            elif command == "STLS" and offers_stls:
                writer.write(b"+OK Begin TLS negotiation\r\n")
                await writer.drain()
                await server_start_tls(writer, self.tls_context)
                secure = True
            elif command == "USER":
                user = arg
                writer.write(b"+OK\r\n")
            elif command == "PASS" and user is not None:
                if not secure and self.tls_context is not None:
                    writer.write(b"-ERR [AUTH] Plaintext authentication disallowed\r\n")
                elif self.users.get(user) == arg:
                    self.logins.append(user)
                    writer.write(b"+OK Logged in.\r\n")
                else:
                    writer.write(b"-ERR [AUTH] Authentication failed.\r\n")
            elif command == "QUIT":
                writer.write(b"+OK Logging out.\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"-ERR Unknown command.\r\n")
            await writer.drain()
