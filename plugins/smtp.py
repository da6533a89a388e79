"""Probe kind ``smtp``: greeting, EHLO, STARTTLS or implicit TLS, optional AUTH login.

On the submission port (587) the server must greet with ``220``, offer ``STARTTLS`` in its
EHLO answer, complete the handshake with a valid certificate and, after TLS, offer
``AUTH``; with a monitoring account the probe logs in (PLAIN, else LOGIN) and quits.
Port 465 is TLS from the first byte (``tls: implicit``); port 25 between servers is
usually ``tls: starttls`` without a login.
"""

from __future__ import annotations

import base64
import socket
from functools import partial
from typing import ClassVar

from pydantic import Field

from monitor.api import Probe, ProbeContext, ProbeFailed, ProbeResult, _, hookimpl, reason
from plugins._mailproto import (
    MailCheck,
    MailConfig,
    MAIL_WORDS,
    auth_unavailable,
    farewell,
    login_refused,
    mail_samples,
    smtp_ehlo,
    smtp_greeting,
    smtp_prelude,
    smtp_reply,
    smtp_starttls,
)
from plugins._mailstream import LineStream, shown, unexpected
from plugins._tlsinfo import INFO_KEYS

AUTH_STEP = _("the authentication answer")


class SMTPConfig(MailConfig):
    """Keys of an ``smtp`` check."""

    DEFAULT_PORTS: ClassVar[dict[str, int]] = {"starttls": 587, "implicit": 465, "none": 25}

    #: the name Vigie gives in EHLO (default: this machine's host name)
    ehlo_name: str = Field(default_factory=socket.gethostname, min_length=1)
    #: fail when the server does not offer AUTH (after TLS): a submission port must
    require_auth: bool = False


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def authenticate(stream: LineStream, config: SMTPConfig, extensions: dict[str, str]) -> None:
    """Log in with the monitoring account (AUTH PLAIN, else AUTH LOGIN; RFC 4954)."""
    assert config.username is not None and config.password is not None
    user, password = config.username, config.password.get_secret_value()
    if "AUTH" not in extensions:
        raise auth_unavailable("SMTP", _("the server does not offer AUTH"))
    mechanisms = extensions["AUTH"].upper().split()
    if "PLAIN" in mechanisms:
        token = _b64(b"\0" + user.encode() + b"\0" + password.encode())
        await stream.send(f"AUTH PLAIN {token}", AUTH_STEP)
        code, lines = await smtp_reply(stream, AUTH_STEP)
    elif "LOGIN" in mechanisms:
        await stream.send("AUTH LOGIN", AUTH_STEP)
        for secret in (user, password):
            code, lines = await smtp_reply(stream, AUTH_STEP)
            if code != 334:
                break
            await stream.send(_b64(secret.encode()), AUTH_STEP)
        else:
            code, lines = await smtp_reply(stream, AUTH_STEP)
    else:
        offered = shown(extensions["AUTH"], 60)
        raise auth_unavailable(
            "SMTP", _("no supported mechanism (PLAIN, LOGIN) among “{offered}”",
                      offered=offered))
    if code == 235:
        return
    if code == 334:  # the server asks for more than PLAIN/LOGIN ever send
        raise unexpected("SMTP", f"{code} {lines[0]}", AUTH_STEP)
    raise login_refused("SMTP", user, f"{code} {lines[0]}", password)


class SMTPProbe(Probe):
    """Checks an SMTP server the way a member's mail client sees it."""

    kind = "smtp"
    Config = SMTPConfig
    public_words = MAIL_WORDS
    description = ("SMTP server: greeting, EHLO, STARTTLS or implicit TLS, certificate, "
                   "optional login")
    samples = mail_samples("smtp", "SMTP")
    info_keys = INFO_KEYS

    async def check(self, config: SMTPConfig, ctx: ProbeContext) -> ProbeResult:
        """Greet, EHLO, secure, optionally log in, quit."""
        run = MailCheck(self.kind, config, ctx, partial(smtp_prelude, ehlo_name=config.ehlo_name))
        return await run.run(partial(self._dialog, config=config, run=run))

    async def _dialog(self, stream: LineStream, config: SMTPConfig, run: MailCheck) -> None:
        await smtp_greeting(stream)
        run.greeted()
        extensions = await smtp_ehlo(stream, config.ehlo_name)
        if config.tls == "starttls":
            await smtp_starttls(stream, extensions)
            await run.secure(stream)
            # RFC 3207: forget what was learnt before TLS and ask again
            extensions = await smtp_ehlo(stream, config.ehlo_name)
        if config.username is not None:
            await authenticate(stream, config, extensions)
        elif config.require_auth and "AUTH" not in extensions:
            raise ProbeFailed(reason(
                "smtp.auth_missing", _("The SMTP server does not offer authentication (AUTH)")))
        await farewell(stream, "QUIT")


@hookimpl
def vigie_register_probes() -> list[type[Probe]]:
    """The ``smtp`` probe kind."""
    return [SMTPProbe]
