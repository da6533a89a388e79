"""The ``tcp`` probe: connect to a port, optionally over TLS, send a line, expect an answer.

Covers the services that only need "does it accept connections and greet correctly":
an SMTP, IMAP or POP3 banner, an SSH greeting, a database port, a custom daemon.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator, model_validator

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
from plugins import _tlsinfo

_ESCAPE = re.compile(r"\\(r|n|t|0|\\|x[0-9A-Fa-f]{2})")
_SIMPLE_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}


def unescape(text: str) -> bytes:
    r"""UTF-8 bytes of ``text`` with ``\r``, ``\n``, ``\t``, ``\0``, ``\\`` and ``\xNN`` decoded.

    YAML double-quoted strings already decode these; this makes single-quoted and plain
    strings (``send: QUIT\r\n``) work the same.
    """
    out, pos = bytearray(), 0
    for match in _ESCAPE.finditer(text):
        out += text[pos:match.start()].encode()
        code = match.group(1)
        out += bytes([int(code[1:], 16)]) if code[0] == "x" else _SIMPLE_ESCAPES[code]
        pos = match.end()
    out += text[pos:].encode()
    return bytes(out)


class TcpConfig(ProbeConfig):
    """Keys of a ``tcp`` check (see docs/probes/tcp.md)."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    send: str | None = Field(default=None, min_length=1)
    expect: str | None = Field(default=None, min_length=1)
    expect_regex: str | None = Field(default=None, min_length=1)
    tls: bool = False
    verify_tls: bool = True
    ca_file: Path | None = None
    read_bytes: int = Field(default=4096, ge=1, le=1024 * 1024)

    @field_validator("expect_regex")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value.encode())
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"ca_file: no such file {str(value)!r}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> TcpConfig:
        if self.expect is not None and self.expect_regex is not None:
            raise ValueError("give either 'expect' (plain text) or 'expect_regex', not both")
        if (self.ca_file is not None or not self.verify_tls) and not self.tls:
            raise ValueError("verify_tls and ca_file only apply with tls: true")
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file has no effect with verify_tls: false; remove one of them")
        if self.tls:
            try:
                _unused = self.ssl_context  # loaded now, so a bad ca_file is reported at load
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"ca_file: cannot load {str(self.ca_file)!r}: {exc}") from None
        return self

    @cached_property
    def payload(self) -> bytes | None:
        """The bytes to send after connecting."""
        return unescape(self.send) if self.send is not None else None

    @cached_property
    def matcher(self) -> re.Pattern[bytes] | None:
        """What the answer must contain, as a compiled bytes pattern."""
        if self.expect_regex is not None:
            return re.compile(self.expect_regex.encode())
        if self.expect is not None:
            return re.compile(re.escape(unescape(self.expect)))
        return None

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The client TLS context (shared and cached), or None without TLS."""
        if not self.tls:
            return None
        return _tlsinfo.client_context(self.verify_tls, str(self.ca_file) if self.ca_file else None)


def connect_failure_reason(exc: OSError, host: str, port: int) -> Reason:
    """Why a TCP (or TLS) connection to ``host:port`` failed, in plain words."""
    where = f"{host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _tlsinfo.verify_failure_reason(exc, host, None)
    if isinstance(exc, ssl.SSLError):
        return _tlsinfo.handshake_failure_reason(host, port)
    if isinstance(exc, ConnectionRefusedError):
        return reason("connection.refused", _("Connection refused by {where}", where=where))
    if isinstance(exc, ConnectionResetError):
        return reason("connection.reset", _("{host} reset the connection", host=where))
    if isinstance(exc, socket.gaierror):
        return reason("dns.error", _("The name {host} could not be resolved (DNS)", host=host))
    return reason("connection.error", _("Could not connect to {where} ({err})", where=where,
                                        err=exc.strerror or type(exc).__name__))


class TcpProbe(Probe):
    """Open a TCP (or TLS) connection; optionally send bytes and check the answer."""

    kind = "tcp"
    Config = TcpConfig
    public_words = {"tcp.unexpected": _("The service answers with something unexpected"),
                    **_tlsinfo.PUBLIC_WORDS}
    description = "Connect to a TCP port (optionally TLS), send a line and check the answer"
    samples = (
        SampleSpec("tcp_connect_seconds",
                   "Seconds to open the connection (name resolution and TLS handshake included)"),
    )

    async def check(self, config: TcpConfig, ctx: ProbeContext) -> ProbeResult:
        """Connect, send, read until the expected answer, close."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        writer: asyncio.StreamWriter | None = None
        samples: dict[str, float | dict[str, float]] = {}
        stage = "connect"
        received = bytearray()
        clean = False
        try:
            async with asyncio.timeout(ctx.remaining()):
                try:
                    tls = config.ssl_context
                    reader, writer = await asyncio.open_connection(
                        config.host, config.port, ssl=tls,
                        server_hostname=config.host if tls is not None else None)
                except OSError as exc:
                    raise ProbeFailed(connect_failure_reason(exc, config.host, config.port)) \
                        from None
                samples["tcp_connect_seconds"] = loop.time() - start
                stage = "send"
                if config.payload is not None:
                    writer.write(config.payload)
                    await writer.drain()
                if config.matcher is not None:
                    stage = "answer"
                    await _read_until(reader, config.matcher, config.read_bytes, received,
                                      samples)
            clean = True
        except TimeoutError:
            raise ProbeFailed(_timeout_reason(config, ctx.timeout, stage, bytes(received)),
                              samples=samples) from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ProbeFailed(connect_failure_reason(exc, config.host, config.port),
                              samples=samples) from None
        finally:
            if writer is not None:
                if clean:
                    writer.close()
                else:  # failed or cancelled: drop the connection at once
                    writer.transport.abort()
        return ProbeResult(Status.UP, None, samples)


async def _read_until(reader: asyncio.StreamReader, matcher: re.Pattern[bytes], limit: int,
                      data: bytearray, samples: dict[str, float | dict[str, float]]) -> None:
    """Read into ``data`` until ``matcher`` matches it; fail at ``limit`` bytes or end of stream.

    ``data`` is the caller's, so a timeout can still show what was received.
    """
    while len(data) < limit:
        chunk = await reader.read(limit - len(data))
        if not chunk:
            if not data:
                raise ProbeFailed(reason(
                    "connection.closed", _("The server closed the connection without answering")),
                    samples=samples)
            break
        data += chunk
        if matcher.search(data) is not None:
            return
    raise ProbeFailed(_unexpected(bytes(data)), samples=samples)


def _unexpected(data: bytes) -> Reason:
    # line ends shown as written (\r\n), the rest made safe; the target's words:
    # volunteers only (see monitor.probe.Reason)
    shown = data[:60].decode("utf-8", errors="replace").strip()
    shown = clean_line(shown.replace("\r", "\\r").replace("\n", "\\n"), 80)
    return reason("tcp.unexpected", _("Unexpected answer: “{got}”", got=shown), public=False)


def _timeout_reason(config: TcpConfig, timeout: float, stage: str, data: bytes) -> Reason:
    limit = Number(timeout)
    where = f"{config.host}:{config.port}"
    if stage == "answer" and data:
        return _unexpected(data)
    if stage == "connect":
        return reason("timeout", _("Could not connect to {where} within {s} s", where=where,
                                   s=limit))
    return reason("timeout", _("No answer from {host} within {s} s", host=where, s=limit))


@hookimpl
def vigie_register_probes() -> list[type[Probe]]:
    """The ``tcp`` probe kind."""
    return [TcpProbe]
