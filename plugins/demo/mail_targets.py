"""Demo mail servers: an SMTP greeter, an IMAP greeter and an SMTP-like TCP echo.

They speak just enough of each protocol for the ``smtp``, ``imap``, ``tcp`` and ``nagios``
(``check_tcp``) probes, in plain text (no TLS: the demo has no certificate): no message
is ever accepted, no login ever succeeds.
"""

from __future__ import annotations

import asyncio

from plugins.demo.streams import read_line, send

#: greeting of the TCP echo (an SMTP-like banner, so ``expect: "220 "`` works)
BANNER = b"220 demo.vigie.test ESMTP Vigie demo\r\n"

SMTP_NAME = "mail.demo.coop.test"
#: the EHLO answer of a Postfix without TLS (the server's name, then its extensions)
SMTP_EHLO = (f"250-{SMTP_NAME}", "250-PIPELINING", "250-SIZE 10240000", "250-8BITMIME",
             "250-ENHANCEDSTATUSCODES", "250 SMTPUTF8")

IMAP_CAPABILITIES = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN"


async def echo_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An SMTP-like banner, then every line sent back; ``QUIT`` ends with ``221 Bye``."""
    writer.write(BANNER)
    await writer.drain()
    while line := await read_line(reader):
        if line.strip().upper() == b"QUIT":
            await send(writer, b"221 Bye")
            break
        writer.write(line)
        await writer.drain()


async def smtp_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A Postfix-like SMTP dialogue: greeting, EHLO/HELO, NOOP, RSET, QUIT."""
    await send(writer, f"220 {SMTP_NAME} ESMTP Postfix (Debian/GNU)")
    while line := await read_line(reader):
        verb = line.strip().partition(b" ")[0].upper()
        if verb == b"EHLO":
            await send(writer, *SMTP_EHLO)
        elif verb == b"HELO":
            await send(writer, f"250 {SMTP_NAME}")
        elif verb in (b"NOOP", b"RSET"):
            await send(writer, "250 2.0.0 Ok")
        elif verb == b"QUIT":
            await send(writer, "221 2.0.0 Bye")
            break
        else:  # a demo accepts no mail
            await send(writer, "502 5.5.2 Error: command not recognized")


async def imap_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A Dovecot-like IMAP dialogue: greeting, CAPABILITY, NOOP, LOGIN (refused), LOGOUT."""
    await send(writer, f"* OK [CAPABILITY {IMAP_CAPABILITIES}] Dovecot (Debian) ready.")
    while line := await read_line(reader):
        tag, _, rest = line.strip().decode("ascii", "replace").partition(" ")
        command = rest.partition(" ")[0].upper()
        if not tag or not command:
            await send(writer, "* BAD Error in IMAP command received by server.")
        elif command == "CAPABILITY":
            await send(writer, f"* CAPABILITY {IMAP_CAPABILITIES}",
                       f"{tag} OK Pre-login capabilities listed, post-login capabilities "
                       "have more.")
        elif command == "NOOP":
            await send(writer, f"{tag} OK NOOP completed.")
        elif command == "LOGIN":  # the demo has no mailbox
            await send(writer, f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.")
        elif command == "LOGOUT":
            await send(writer, "* BYE Logging out", f"{tag} OK Logout completed.")
            break
        else:
            await send(writer, f"{tag} BAD Error in IMAP command received by server.")
