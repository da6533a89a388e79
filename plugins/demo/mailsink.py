"""The demo's stand-in mailboxes: SMTP servers on 127.0.0.1 that keep what they receive.

``vigie demo`` starts two (:mod:`plugins.demo.targets`), each a :class:`MailSink` with its
:class:`Role`:

- :data:`HELPDESK` stands in for a desk's intake address: the demo configuration's
  ``helpdesk:`` section is an e-mail desk (``type: email``, ``security: none``) pointing at
  it, so the ``tickets`` plugin delivers members' requests from ``/assistance/`` (and
  tickets for serious incidents) there, as it would to a real desk. Each message is kept
  as ``NNNN-<reference>.eml`` (Vigie's ``X-Vigie-Reference``), its attachments (the
  member's screenshots) beside it in ``NNNN-<reference>/``, and logged as
  ``demo helpdesk: ticket <reference> received: <subject> (attachments: N), kept in <file>``;
- :data:`MAILBOX` stands in for the members' mailboxes: the demo configuration's ``mail:``
  section points at it, so what Vigie mails to members (the confirmation of a subscription
  from ``/abonnement/``, the news of incidents and maintenance, the receipt of a request
  for help) arrives there. Each message is kept as ``NNNN-<recipient>.eml``, its text
  decoded beside it as ``NNNN-<recipient>.txt`` (where a link can be read and copied), and
  logged as ``demo mailbox: mail to <recipient>: <subject>, kept in <file>``. The line
  names the file, never the links of the mail: a confirmation or manage link is a secret
  that belongs in the mailbox only.

Every message is also remembered in memory (the last :data:`KEEP`), for the tests.

A sink speaks just the SMTP that :mod:`smtplib` needs (EHLO/HELO, MAIL, RCPT, DATA, RSET,
NOOP, QUIT), in plain text, and accepts every recipient: it is a sink, not a relay.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.message import EmailMessage
from pathlib import Path

from monitor.api import clean_line
from plugins.demo.streams import read_line, send

log = logging.getLogger(__name__)

#: messages remembered in memory (every one is kept on disk)
KEEP = 50
#: the largest message accepted: a request's 15 MB of screenshots, base64-encoded
MAX_MESSAGE = 32 * 1024 * 1024
#: the domain of the sinks' names (``helpdesk.demo.coop.test``…)
DOMAIN = "demo.coop.test"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One message a stand-in mailbox accepted."""

    received_at: float
    #: Vigie's ``X-Vigie-Reference`` (a request's ``DEM-…``, an incident's reference), or ""
    reference: str
    subject: str
    recipients: tuple[str, ...]
    #: ``(file name, media type)`` of each attachment
    attachments: tuple[tuple[str, str], ...]
    #: where the message was written (None without a folder)
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class Role:
    """What a stand-in mailbox stands for: its name (greeting, log), how its files are
    named and what its log line says of a message."""

    #: the sink's name: ``demo <name>:`` starts its log lines, ``<name>.demo.coop.test``
    #: greets SMTP clients
    name: str
    #: the words naming a message's file, after its number (made safe for a file name)
    label: Callable[[ReceivedMail], str]
    #: the log line's words for one message: never a secret (the links stay in the file)
    says: Callable[[ReceivedMail], str]
    #: whether attachments are written beside the message, in a folder of its name
    unpack: bool = False
    #: whether the message's text is written beside it, decoded (``NNNN-….txt``): an
    #: ``.eml`` holds it quoted-printable, its long links cut across lines
    text: bool = False


HELPDESK = Role(
    "helpdesk", label=lambda mail: mail.reference,
    says=lambda mail: (f"ticket {mail.reference or '?'} received: {mail.subject} "
                       f"(attachments: {len(mail.attachments)})"),
    unpack=True)
"""The desk's intake address: tickets named by their reference, screenshots beside."""

MAILBOX = Role(
    "mailbox", label=lambda mail: mail.recipients[0] if mail.recipients else "",
    says=lambda mail: f"mail to {', '.join(mail.recipients)}: {mail.subject}", text=True)
"""The members' mailboxes: mails named by their recipient, their text readable beside."""


def _safe_name(name: str, fallback: str) -> str:
    """A file name that stays in its folder (no path, no odd characters)."""
    cleaned = _UNSAFE.sub("-", Path(name or "").name).strip(".-")[:100]
    return cleaned or fallback


class MailSink:
    """What one stand-in mailbox received; written under ``folder`` when one is given."""

    def __init__(self, role: Role, folder: Path | None = None, keep: int = KEEP) -> None:
        self.role = role
        self.folder = folder
        self.mails: deque[ReceivedMail] = deque(maxlen=keep)
        self._count = 0
        self._changed = asyncio.Condition()

    @property
    def host_name(self) -> str:
        """The name the sink greets SMTP clients with."""
        return f"{self.role.name}.{DOMAIN}"

    async def add(self, data: bytes, recipients: tuple[str, ...]) -> ReceivedMail:
        """Keep one message (parsed and written in a thread: it may weigh megabytes)."""
        self._count += 1
        mail = await asyncio.to_thread(self._keep, self._count, data, recipients)
        self.mails.append(mail)
        where = f", kept in {mail.path}" if mail.path is not None else ""
        log.info("demo %s: %s%s", self.role.name, self.role.says(mail), where)
        async with self._changed:
            self._changed.notify_all()
        return mail

    def _keep(self, number: int, data: bytes, recipients: tuple[str, ...]) -> ReceivedMail:
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        parts = [(part, _safe_name(part.get_filename() or "", f"piece-{n}"))
                 for n, part in enumerate(message.iter_attachments(), 1)]
        mail = ReceivedMail(time.time(),
                            clean_line(str(message.get("X-Vigie-Reference", "")), 60),
                            clean_line(str(message.get("Subject", "")), 200), recipients,
                            tuple((name, part.get_content_type()) for part, name in parts))
        if self.folder is None:
            return mail
        stem = f"{number:04d}-{_safe_name(self.role.label(mail), 'message')}"
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{stem}.eml"
        path.write_bytes(data)
        body = message.get_body(("plain",)) if self.role.text else None
        if body is not None:
            text = "\n".join(body.get_content().splitlines()) + "\n"
            (self.folder / f"{stem}.txt").write_text(text, encoding="utf-8")
        if parts and self.role.unpack:
            beside = self.folder / stem
            beside.mkdir(exist_ok=True)
            for part, name in parts:
                content = part.get_payload(decode=True)
                (beside / name).write_bytes(content if isinstance(content, bytes) else b"")
        return replace(mail, path=path)

    async def wait_for(self, predicate: Callable[[ReceivedMail], bool],
                       timeout: float) -> ReceivedMail:
        """The first message kept in memory that ``predicate`` accepts, waiting for it.

        :raises TimeoutError: none came within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout), self._changed:
            while True:
                found = next((m for m in self.mails if predicate(m)), None)
                if found is not None:
                    return found
                await self._changed.wait()


def _address(argument: bytes) -> str:
    """The address of ``MAIL FROM:<a>`` / ``RCPT TO:<a>`` (parameters dropped), as one
    safe line (it is logged)."""
    text = argument.decode("utf-8", "replace").partition(":")[2].strip()
    return clean_line(text.partition(">")[0].lstrip("<"), 254)


async def _read_data(reader: asyncio.StreamReader) -> bytes | None:
    """The message after ``DATA``, dots unstuffed; None when it is too large (read to its
    end all the same) or the client went away."""
    lines: list[bytes] = []
    size = 0
    while True:
        line = await read_line(reader)
        if not line:
            return None
        if line in (b".\r\n", b".\n"):
            return b"".join(lines) if size <= MAX_MESSAGE else None
        if line.startswith(b"."):
            line = line[1:]
        size += len(line)
        if size <= MAX_MESSAGE:
            lines.append(line)


def sink_session(sink: MailSink):
    """The SMTP dialogue of a stand-in mailbox, keeping each message in ``sink``."""
    name = sink.host_name

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, f"220 {name} ESMTP Vigie demo {sink.role.name}")
        sender: str | None = None
        recipients: list[str] = []
        while line := await read_line(reader):
            verb, _, argument = line.strip().partition(b" ")
            verb = verb.upper()
            if verb == b"EHLO":
                await send(writer, f"250-{name}", f"250-SIZE {MAX_MESSAGE}",
                           "250-8BITMIME", "250 SMTPUTF8")
            elif verb == b"HELO":
                await send(writer, f"250 {name}")
            elif verb == b"MAIL":
                sender, recipients = _address(argument), []
                await send(writer, "250 2.1.0 Ok")
            elif verb == b"RCPT":
                if sender is None:
                    await send(writer, "503 5.5.1 Error: need MAIL command")
                    continue
                recipients.append(_address(argument))
                await send(writer, "250 2.1.5 Ok")
            elif verb == b"DATA":
                if not recipients:
                    await send(writer, "503 5.5.1 Error: need RCPT command")
                    continue
                await send(writer, "354 End data with <CR><LF>.<CR><LF>")
                data = await _read_data(reader)
                if data is None:
                    await send(writer, "552 5.3.4 Error: message too large")
                else:
                    mail = await sink.add(data, tuple(recipients))
                    kept = mail.path.name if mail.path is not None else "message"
                    await send(writer, f"250 2.0.0 Ok: kept as {kept}")
                sender, recipients = None, []
            elif verb in (b"RSET", b"NOOP"):
                if verb == b"RSET":
                    sender, recipients = None, []
                await send(writer, "250 2.0.0 Ok")
            elif verb == b"QUIT":
                await send(writer, "221 2.0.0 Bye")
                break
            else:
                await send(writer, "502 5.5.2 Error: command not recognized")
    return session
