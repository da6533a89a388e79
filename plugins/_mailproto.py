"""Line-based conversations with mail servers (SMTP, IMAP, POP3) over asyncio streams.

Shared by the ``smtp``, ``imap``, ``pop3`` and ``tls`` probes: a :class:`LineStream`
whose every read and write is bounded by the run's deadline (``ctx.remaining()``), the
greeting and STARTTLS steps of each protocol (``tls`` uses them to reach the certificate
behind STARTTLS), the config keys the mail kinds share and :class:`MailCheck`, the
skeleton of one mail probe run.

Every failure becomes :class:`ProbeFailed` with a bilingual reason naming the step, and a
stream is always closed, also when the run is cancelled at its hard deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import ClassVar, Literal

from pydantic import Field, FilePath, SecretStr, model_validator

from monitor.api import (
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Reason,
    SampleSpec,
    Status,
    Words,
    _,
    reason,
)
from plugins._mailstream import (
    GREETING,
    LineStream,
    Step,
    shown,
    unexpected,
)
from plugins._tlsinfo import (
    PUBLIC_WORDS,
    TLSSettings,
    cert_info_fields,
    expiry_verdict,
    negotiate_tls,
)


#: what members read for the mail protocols' reasons (smtp, imap, pop3 and the tls
#: probe's STARTTLS), with the certificate words of :mod:`plugins._tlsinfo`
MAIL_WORDS: dict[str, Words] = {
    "imap": _("The mail server does not work as it should"),
    "mail": _("The mail server does not work as it should"),
    "mail.auth_unavailable": _("The mail server does not accept logins"),
    "mail.greeting": _("The mail server refuses connections"),
    "mail.login_refused": _("The mail server does not accept logins"),
    "mail.starttls_missing": _("The mail server does not offer encryption"),
    "mail.starttls_refused": _("The mail server does not offer encryption"),
    "pop3": _("The mail server does not work as it should"),
    "smtp": _("The mail server does not work as it should"),
    "smtp.auth_missing": _("The mail server does not accept logins"),
    **PUBLIC_WORDS,
}


# SMTP (RFC 5321, STARTTLS RFC 3207) -----------------------------------------------------

EHLO_STEP = _("the EHLO answer")
STARTTLS_STEP = _("the STARTTLS answer")


async def smtp_reply(stream: LineStream, step: Step) -> tuple[int, list[str]]:
    """Read one (possibly multi-line) SMTP reply: its code and its text lines."""
    lines: list[str] = []
    while True:
        line = await stream.read_line(step)
        if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in ("", " ", "-"):
            raise unexpected("SMTP", line, step)
        lines.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), lines


async def smtp_greeting(stream: LineStream) -> None:
    """Wait for the ``220`` greeting; a 421/554 (or anything else) is a refusal."""
    code, lines = await smtp_reply(stream, GREETING)
    if code != 220:
        raise greeting_refused("SMTP", f"{code} {lines[0]}")


async def smtp_ehlo(stream: LineStream, name: str) -> dict[str, str]:
    """Send EHLO; return the extensions offered (keyword upper-case → parameters)."""
    await stream.send(f"EHLO {name}", EHLO_STEP)
    code, lines = await smtp_reply(stream, EHLO_STEP)
    if code != 250:
        raise ProbeFailed(reason(
            "smtp.ehlo", _("The SMTP server refused EHLO: “{line}”",
                           line=shown(f"{code} {lines[0]}")), public=False))
    extensions = {}
    for line in lines[1:]:  # the first line is the server's name
        keyword, _unused, params = line.strip().partition(" ")
        if keyword.upper().startswith("AUTH="):  # pre-RFC 4954 form "AUTH=PLAIN LOGIN"
            keyword, params = "AUTH", f"{keyword[5:]} {params}".strip()
        extensions.setdefault(keyword.upper(), params)
    return extensions


async def smtp_starttls(stream: LineStream, extensions: dict[str, str]) -> None:
    """Ask for STARTTLS (it must be offered) and wait for the ``220`` go-ahead."""
    if "STARTTLS" not in extensions:
        raise starttls_missing("SMTP")
    await stream.send("STARTTLS", STARTTLS_STEP)
    code, lines = await smtp_reply(stream, STARTTLS_STEP)
    if code != 220:
        raise starttls_refused("SMTP", f"{code} {lines[0]}")


async def smtp_prelude(stream: LineStream, ehlo_name: str) -> None:
    """Greeting, EHLO, STARTTLS: everything before the handshake on port 587/25."""
    await smtp_greeting(stream)
    await smtp_starttls(stream, await smtp_ehlo(stream, ehlo_name))


# IMAP (RFC 3501 / 9051) -----------------------------------------------------------------


async def imap_greeting(stream: LineStream) -> str:
    """Wait for ``* OK`` (or ``* PREAUTH``); return its text. ``* BYE`` is a refusal."""
    line = await stream.read_line(GREETING)
    status, _unused, text = line[2:].partition(" ") if line.startswith("* ") else ("", "", "")
    if status.upper() in ("OK", "PREAUTH"):
        return text
    if status.upper() == "BYE":
        raise greeting_refused("IMAP", line)
    raise unexpected("IMAP", line, GREETING)


async def imap_command(stream: LineStream, tag: str, command: str | list[str | bytes],
                       step: Step) -> tuple[str, str, list[str]]:
    """Run one tagged command; return (status, text, untagged lines).

    ``command`` may be a list of parts, ``bytes`` parts being sent as synchronizing
    literals (``{n}``, then the bytes once the server answers ``+``).
    """
    parts = [command] if isinstance(command, str) else command
    untagged: list[str] = []
    out = f"{tag} "
    for part in parts:
        if isinstance(part, str):
            out += part
            continue
        await stream.send(f"{out}{{{len(part)}}}", step)
        while (line := await stream.read_line(step)).startswith("* "):
            untagged.append(line[2:])
        if not line.startswith("+"):
            return _imap_tagged(tag, line, step, untagged)
        await stream.send(part, step)
        out = ""
    await stream.send(out, step)
    while (line := await stream.read_line(step)).startswith("* "):
        untagged.append(line[2:])
    return _imap_tagged(tag, line, step, untagged)


def _imap_tagged(tag: str, line: str, step: Step,
                 untagged: list[str]) -> tuple[str, str, list[str]]:
    got_tag, _unused, rest = line.partition(" ")
    status, _unused, text = rest.partition(" ")
    if got_tag != tag or status.upper() not in ("OK", "NO", "BAD"):
        raise unexpected("IMAP", line, step)
    return status.upper(), text, untagged


async def imap_starttls(stream: LineStream, tag: str = "v1") -> None:
    """Send STARTTLS and require ``OK`` (the caller checked the capability if it wanted)."""
    status, text, _unused = await imap_command(stream, tag, "STARTTLS", STARTTLS_STEP)
    if status != "OK":
        raise starttls_refused("IMAP", f"{status} {text}")


async def imap_prelude(stream: LineStream) -> None:
    """Greeting and STARTTLS: everything before the handshake on port 143."""
    await imap_greeting(stream)
    await imap_starttls(stream)


# POP3 (RFC 1939, STLS RFC 2595) ---------------------------------------------------------


async def pop3_greeting(stream: LineStream) -> str:
    """Wait for ``+OK``; return its text. ``-ERR`` is a refusal."""
    line = await stream.read_line(GREETING)
    if line.startswith("+OK"):
        return line[3:].strip()
    if line.startswith("-ERR"):
        raise greeting_refused("POP3", line)
    raise unexpected("POP3", line, GREETING)


async def pop3_command(stream: LineStream, command: str, step: Step) -> tuple[bool, str]:
    """Send one command; return (True, text) for ``+OK``, (False, text) for ``-ERR``."""
    await stream.send(command, step)
    line = await stream.read_line(step)
    if line.startswith("+OK"):
        return True, line[3:].strip()
    if line.startswith("-ERR"):
        return False, line[4:].strip()
    raise unexpected("POP3", line, step)


async def pop3_multiline(stream: LineStream, step: Step) -> list[str]:
    """The body of a multi-line ``+OK`` answer, up to the lone ``.`` (dot-unstuffed)."""
    lines = []
    while (line := await stream.read_line(step)) != ".":
        lines.append(line[1:] if line.startswith("..") else line)
    return lines


async def pop3_stls(stream: LineStream) -> None:
    """Send STLS and require ``+OK``."""
    ok, text = await pop3_command(stream, "STLS", STARTTLS_STEP)
    if not ok:
        raise starttls_refused("POP3", f"-ERR {text}")


async def pop3_prelude(stream: LineStream) -> None:
    """Greeting and STLS: everything before the handshake on port 110."""
    await pop3_greeting(stream)
    await pop3_stls(stream)


# Reasons shared by the protocols ----------------------------------------------------------


def greeting_refused(protocol: str, line: str) -> ProbeFailed:
    """The server greeted with a refusal (SMTP 421/554, IMAP BYE, POP3 -ERR)."""
    return ProbeFailed(reason(
        "mail.greeting", _("The {protocol} server refuses connections: “{line}”",
                           protocol=protocol, line=shown(line)), public=False))


def starttls_missing(protocol: str) -> ProbeFailed:
    """STARTTLS is not among the capabilities the server announced."""
    return ProbeFailed(reason(
        "mail.starttls_missing", _("The {protocol} server does not offer encryption (STARTTLS)",
                                   protocol=protocol)))


def starttls_refused(protocol: str, line: str) -> ProbeFailed:
    """The server answered STARTTLS with an error."""
    return ProbeFailed(reason(
        "mail.starttls_refused", _("The {protocol} server refuses STARTTLS: “{line}”",
                                   protocol=protocol, line=shown(line)), public=False))


def login_refused(protocol: str, username: str, detail: str, password: str) -> ProbeFailed:
    """The monitoring account could not log in; ``detail`` is scrubbed of the password."""
    if password:
        detail = detail.replace(password, "***")
    return ProbeFailed(reason(
        "mail.login_refused",
        _("{protocol} login of the monitoring account {user} refused: “{detail}”",
          protocol=protocol, user=username, detail=shown(detail)), public=False))


def auth_unavailable(protocol: str, why: Words) -> ProbeFailed:
    """Logging in is impossible (no mechanism offered, login disabled…)."""
    return ProbeFailed(reason(
        "mail.auth_unavailable", _("{protocol} login impossible: {why}", protocol=protocol,
                                   why=why)))


async def farewell(stream: LineStream, command: str) -> None:
    """Say goodbye politely (QUIT, LOGOUT) without letting a mute server fail the run."""
    try:
        async with asyncio.timeout(min(0.5, stream.ctx.remaining())):
            stream.writer.write(command.encode("ascii") + b"\r\n")
            await stream.writer.drain()
            await stream.reader.readline()
    except (TimeoutError, OSError, ValueError):
        pass


# What the smtp, imap and pop3 probes share -------------------------------------------------


class MailConfig(ProbeConfig):
    """Keys common to the ``smtp``, ``imap`` and ``pop3`` probe kinds."""

    #: the port used when ``port`` is not given, by ``tls`` mode (set by each kind)
    DEFAULT_PORTS: ClassVar[dict[str, int]] = {}

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    #: ``starttls`` (upgrade after the greeting), ``implicit`` (TLS from the first byte)
    #: or ``none`` (plain text: only for a server that cannot do better)
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    #: name sent as SNI and checked against the certificate (default: ``host``)
    server_name: str | None = None
    verify_tls: bool = True
    #: trust only this CA file (PEM) instead of the system's authorities
    ca_file: FilePath | None = None
    #: the certificate expiring within this many days makes the check degraded
    warn_days: float = Field(default=14, ge=0)
    #: the monitoring account (optional): log in with it when given
    username: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None

    @model_validator(mode="after")
    def _credentials(self) -> MailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both 'username' and 'password' (or 'password_file'), or neither")
        password = self.password.get_secret_value() if self.password else None
        for name, value in (("username", self.username), ("password", password)):
            if value is not None and any(ch in value for ch in "\r\n\0"):
                raise ValueError(f"'{name}' must not contain line breaks or NUL characters")
        return self

    @property
    def effective_port(self) -> int:
        """``port``, or the protocol's usual port for the ``tls`` mode."""
        return self.port if self.port is not None else self.DEFAULT_PORTS[self.tls]

    def tls_settings(self) -> TLSSettings:
        """The TLS part of the config."""
        return TLSSettings(server_name=self.server_name or self.host, verify=self.verify_tls,
                           ca_file=str(self.ca_file) if self.ca_file else None,
                           warn_days=self.warn_days)


Prelude = Callable[[LineStream], Awaitable[None]]


class MailCheck:
    """One run of a mail probe: connection, TLS outcome and the samples gathered so far.

    A probe calls :meth:`run` with its dialog; the dialog calls :meth:`greeted` once the
    greeting is in and :meth:`secure` after the server accepted STARTTLS. Samples and
    info gathered before a failure travel with it (a refused login still reports the
    certificate expiry); an expiring certificate turns a passing run into DEGRADED.
    """

    def __init__(self, kind: str, config: MailConfig, ctx: ProbeContext, prelude: Prelude) -> None:
        self.kind = kind
        self.config = config
        self.prelude = prelude
        self.ctx = ctx
        self.settings = config.tls_settings()
        self.samples: dict[str, float | dict[str, float]] = {}
        self.info: dict[str, str] = {}
        self.warning: Reason | None = None
        self._started = time.perf_counter()

    async def run(self, dialog: Prelude) -> ProbeResult:
        """Connect (with TLS when implicit), run ``dialog``, close; return the result."""
        try:
            stream = await self._open()
            try:
                if self.config.tls == "implicit":
                    await self.secure(stream)
                await dialog(stream)
            finally:
                await stream.close()
        except ProbeFailed as exc:
            exc.samples = {**self.samples, **exc.samples}
            exc.info = {**self.info, **exc.info}
            raise
        if self.warning is not None:
            return ProbeResult.degraded(self.warning, samples=self.samples, info=self.info)
        return ProbeResult.up(samples=self.samples, info=self.info)

    async def _open(self) -> LineStream:
        return await LineStream.open(self.config.host, self.config.effective_port, self.ctx)

    async def _reconnect(self) -> LineStream:
        """A second connection brought to the point of the handshake (to read the cert)."""
        stream = await self._open()
        if self.config.tls == "starttls":
            try:
                await self.prelude(stream)
            except BaseException:
                await stream.close()
                raise
        return stream

    def greeted(self) -> None:
        """Record the time from the start of the run to the greeting."""
        self.samples[f"{self.kind}_greeting_seconds"] = time.perf_counter() - self._started

    async def secure(self, stream: LineStream) -> None:
        """Do the TLS handshake and judge the certificate (expired: DOWN, expiring: noted)."""
        report = await negotiate_tls(stream, self.settings, self._reconnect,
                                     f"{self.kind}_cert_expiry_timestamp_seconds")
        self.info.update(cert_info_fields(report))
        if report.cert is None:
            return
        self.samples[f"{self.kind}_cert_expiry_timestamp_seconds"] = report.cert.not_after
        verdict = expiry_verdict(report.cert, self.settings)
        if verdict is None:
            return
        status, why = verdict
        if status == Status.DEGRADED:
            self.warning = why
        else:
            raise ProbeFailed(why, status=status)


def mail_samples(kind: str, protocol: str) -> tuple[SampleSpec, ...]:
    """The samples a mail probe kind declares."""
    return (
        SampleSpec(f"{kind}_greeting_seconds",
                   f"Time from the start of the {protocol} check to the server greeting "
                   "(connection and, with implicit TLS, handshake included)"),
        SampleSpec(f"{kind}_cert_expiry_timestamp_seconds",
                   f"Expiry time (Unix) of the {protocol} server's TLS certificate"),
    )
