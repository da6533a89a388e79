"""Probe kind ``imap``: greeting, CAPABILITY, STARTTLS or implicit TLS, optional LOGIN.

The server must greet with ``* OK`` (or ``* PREAUTH``), list ``IMAP4rev1`` or ``IMAP4rev2``
in its capabilities, offer ``STARTTLS`` on port 143 (``tls: starttls``) or speak TLS from
the first byte on port 993 (``tls: implicit``), with a valid certificate. With a
monitoring account the probe logs in (``LOGIN``) and logs out.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from monitor.api import Probe, ProbeContext, ProbeFailed, ProbeResult, _, hookimpl, reason
from plugins._mailproto import (
    MailCheck,
    MailConfig,
    MAIL_WORDS,
    auth_unavailable,
    farewell,
    imap_command,
    imap_greeting,
    imap_prelude,
    imap_starttls,
    login_refused,
    mail_samples,
    starttls_missing,
)
from plugins._mailstream import LineStream, unexpected
from plugins._tlsinfo import INFO_KEYS

CAPABILITY_STEP = _("the CAPABILITY answer")
LOGIN_STEP = _("the LOGIN answer")


class IMAPConfig(MailConfig):
    """Keys of an ``imap`` check."""

    DEFAULT_PORTS: ClassVar[dict[str, int]] = {"starttls": 143, "implicit": 993, "none": 143}


def astring(value: str) -> str | bytes:
    """``value`` as an IMAP string: quoted when plain ASCII, else a literal (bytes)."""
    if all(" " <= ch <= "~" for ch in value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value.encode("utf-8")


async def capabilities(stream: LineStream, tag: str) -> set[str]:
    """Ask CAPABILITY; return the capabilities, upper-case."""
    status, text, untagged = await imap_command(stream, tag, "CAPABILITY", CAPABILITY_STEP)
    if status != "OK":
        raise unexpected("IMAP", f"{tag} {status} {text}", CAPABILITY_STEP)
    found: set[str] = set()
    for line in untagged:
        name, _unused, rest = line.partition(" ")
        if name.upper() == "CAPABILITY":
            found.update(word.upper() for word in rest.split())
    return found


class IMAPProbe(Probe):
    """Checks an IMAP server the way a member's mail client sees it."""

    kind = "imap"
    Config = IMAPConfig
    public_words = MAIL_WORDS
    description = ("IMAP server: greeting, capabilities, STARTTLS or implicit TLS, certificate, "
                   "optional login")
    samples = mail_samples("imap", "IMAP")
    info_keys = INFO_KEYS

    async def check(self, config: IMAPConfig, ctx: ProbeContext) -> ProbeResult:
        """Greet, CAPABILITY, secure, optionally log in, log out."""
        run = MailCheck(self.kind, config, ctx, imap_prelude)
        return await run.run(partial(self._dialog, config=config, run=run))

    async def _dialog(self, stream: LineStream, config: IMAPConfig, run: MailCheck) -> None:
        await imap_greeting(stream)
        run.greeted()
        caps = await capabilities(stream, "v1")
        if config.tls == "starttls":
            if "STARTTLS" not in caps:
                raise starttls_missing("IMAP")
            await imap_starttls(stream, "v2")
            await run.secure(stream)
            # RFC 3501 6.2.1: capabilities learnt before TLS must be discarded
            caps = await capabilities(stream, "v3")
        if not caps & {"IMAP4REV1", "IMAP4REV2"}:
            raise ProbeFailed(reason(
                "imap.capability", _("The IMAP server announces neither IMAP4rev1 nor IMAP4rev2")))
        if config.username is not None and config.password is not None:
            if "LOGINDISABLED" in caps:
                raise auth_unavailable("IMAP", _("the server disabled LOGIN (LOGINDISABLED)"))
            password = config.password.get_secret_value()
            status, text, _unused = await imap_command(
                stream, "v4", ["LOGIN ", astring(config.username), " ", astring(password)],
                LOGIN_STEP)
            if status != "OK":
                raise login_refused("IMAP", config.username, f"{status} {text}", password)
        await farewell(stream, "v5 LOGOUT")


@hookimpl
def vigie_register_probes() -> list[type[Probe]]:
    """The ``imap`` probe kind."""
    return [IMAPProbe]
