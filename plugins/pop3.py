"""Probe kind ``pop3``: greeting, CAPA, STLS or implicit TLS, optional USER/PASS login.

The server must greet with ``+OK``, offer ``STLS`` on port 110 (``tls: starttls``) or speak
TLS from the first byte on port 995 (``tls: implicit``), with a valid certificate. With a
monitoring account the probe logs in with ``USER``/``PASS`` and quits (which, on a POP3
server, changes nothing in the mailbox: no message is marked for deletion).
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from monitor.api import Probe, ProbeContext, ProbeResult, _, hookimpl
from plugins._mailproto import (
    MailCheck,
    MailConfig,
    MAIL_WORDS,
    auth_unavailable,
    farewell,
    login_refused,
    mail_samples,
    pop3_command,
    pop3_greeting,
    pop3_multiline,
    pop3_prelude,
    pop3_stls,
    starttls_missing,
)
from plugins._mailstream import LineStream
from plugins._tlsinfo import INFO_KEYS

CAPA_STEP = _("the CAPA answer")
USER_STEP = _("the USER answer")
PASS_STEP = _("the password answer")


class POP3Config(MailConfig):
    """Keys of a ``pop3`` check."""

    DEFAULT_PORTS: ClassVar[dict[str, int]] = {"starttls": 110, "implicit": 995, "none": 110}


async def capa(stream: LineStream) -> set[str] | None:
    """Capabilities from CAPA (RFC 2449), upper-case; None for an old server without CAPA."""
    ok, _unused = await pop3_command(stream, "CAPA", CAPA_STEP)
    if not ok:
        return None
    return {line.split(" ", 1)[0].upper() for line in await pop3_multiline(stream, CAPA_STEP)}


class POP3Probe(Probe):
    """Checks a POP3 server the way a member's mail client sees it."""

    kind = "pop3"
    Config = POP3Config
    public_words = MAIL_WORDS
    description = "POP3 server: greeting, STLS or implicit TLS, certificate, optional login"
    samples = mail_samples("pop3", "POP3")
    info_keys = INFO_KEYS

    async def check(self, config: POP3Config, ctx: ProbeContext) -> ProbeResult:
        """Greet, CAPA, secure, optionally log in, quit."""
        run = MailCheck(self.kind, config, ctx, pop3_prelude)
        return await run.run(partial(self._dialog, config=config, run=run))

    async def _dialog(self, stream: LineStream, config: POP3Config, run: MailCheck) -> None:
        await pop3_greeting(stream)
        run.greeted()
        caps = await capa(stream)
        if config.tls == "starttls":
            # a server without CAPA may still know STLS: then its answer decides
            if caps is not None and "STLS" not in caps:
                raise starttls_missing("POP3")
            await pop3_stls(stream)
            await run.secure(stream)
            caps = await capa(stream)
        if config.username is not None and config.password is not None:
            if caps is not None and "USER" not in caps:
                raise auth_unavailable("POP3", _("the server does not offer USER/PASS"))
            password = config.password.get_secret_value()
            ok, text = await pop3_command(stream, f"USER {config.username}", USER_STEP)
            if ok:
                ok, text = await pop3_command(stream, f"PASS {password}", PASS_STEP)
            if not ok:
                raise login_refused("POP3", config.username, f"-ERR {text}", password)
        await farewell(stream, "QUIT")


@hookimpl
def vigie_register_probes() -> list[type[Probe]]:
    """The ``pop3`` probe kind."""
    return [POP3Probe]
