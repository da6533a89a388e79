"""The demo's helpdesk: an SMTP server on 127.0.0.1 standing in for a desk's intake address.

The demo configuration's ``helpdesk:`` section is an e-mail desk (``type: email``,
``security: none``) pointing at this target, so the ``tickets`` plugin delivers members'
requests from ``/assistance/`` (and tickets for serious incidents) here, as it would to a
real desk's intake address. Each message accepted is:

- kept under the demo's data folder (``data/demo/helpdesk/`` by default) as
  ``NNNN-<reference>.eml``, with its attachments (the member's screenshots) beside it in
  ``NNNN-<reference>/``, so that the person running the demo can open them;
- logged in one line (the reference, the subject, the attachments, the file);
- remembered in memory (the last :data:`KEEP`), for the tests.

It speaks just the SMTP that :mod:`smtplib` needs (EHLO/HELO, MAIL, RCPT, DATA, RSET,
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
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from monitor.api import clean_line
from plugins.demo.streams import read_line, send

log = logging.getLogger(__name__)

#: messages remembered in memory (every one is kept on disk)
KEEP = 50
#: the largest message accepted: a request's 15 MB of screenshots, base64-encoded
MAX_MESSAGE = 32 * 1024 * 1024
NAME = "helpdesk.demo.coop.test"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One message the stand-in desk accepted."""

    received_at: float
    #: Vigie's ``X-Vigie-Reference`` (a request's ``DEM-…``, an incident's reference)
    reference: str
    subject: str
    recipients: tuple[str, ...]
    #: ``(file name, media type)`` of each attachment
    attachments: tuple[tuple[str, str], ...]
    #: where the message was written (None without a folder)
    path: Path | None


def _safe_name(name: str, fallback: str) -> str:
    """A file name that stays in its folder (no path, no odd characters)."""
    cleaned = _UNSAFE.sub("-", Path(name or "").name).strip(".-")[:100]
    return cleaned or fallback


class HelpdeskInbox:
    """What the stand-in desk received; written under ``folder`` when one is given."""

    def __init__(self, folder: Path | None = None, keep: int = KEEP) -> None:
        self.folder = folder
        self.mails: deque[ReceivedMail] = deque(maxlen=keep)
        self._count = 0
        self._changed = asyncio.Condition()

    async def add(self, data: bytes, recipients: tuple[str, ...]) -> ReceivedMail:
        """Keep one message (parsed and written in a thread: it may weigh megabytes)."""
        self._count += 1
        mail = await asyncio.to_thread(self._keep, self._count, data, recipients)
        self.mails.append(mail)
        where = f", kept in {mail.path}" if mail.path is not None else ""
        log.info("demo helpdesk: ticket %s received: %s (attachments: %d)%s",
                 mail.reference or "?", mail.subject, len(mail.attachments), where)
        async with self._changed:
            self._changed.notify_all()
        return mail

    def _keep(self, number: int, data: bytes, recipients: tuple[str, ...]) -> ReceivedMail:
        message = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        reference = clean_line(str(message.get("X-Vigie-Reference", "")), 60)
        subject = clean_line(str(message.get("Subject", "")), 200)
        parts = [(part, _safe_name(part.get_filename() or "", f"piece-{n}"))
                 for n, part in enumerate(message.iter_attachments(), 1)]
        path = None
        if self.folder is not None:
            stem = f"{number:04d}-{_safe_name(reference, 'message')}"
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{stem}.eml"
            path.write_bytes(data)
            if parts:
                beside = self.folder / stem
                beside.mkdir(exist_ok=True)
                for part, name in parts:
                    content = part.get_payload(decode=True)
                    (beside / name).write_bytes(content if isinstance(content, bytes) else b"")
        return ReceivedMail(time.time(), reference, subject, recipients,
                            tuple((name, part.get_content_type()) for part, name in parts),
                            path)

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
    """The address of ``MAIL FROM:<a>`` / ``RCPT TO:<a>`` (parameters dropped)."""
    text = argument.decode("utf-8", "replace").partition(":")[2].strip()
    return text.partition(">")[0].lstrip("<").strip()


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


def helpdesk_session(inbox: HelpdeskInbox):
    """The SMTP dialogue of the stand-in desk, keeping each message in ``inbox``."""
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send(writer, f"220 {NAME} ESMTP Vigie demo helpdesk")
        sender: str | None = None
        recipients: list[str] = []
        while line := await read_line(reader):
            verb, _, argument = line.strip().partition(b" ")
            verb = verb.upper()
            if verb == b"EHLO":
                await send(writer, f"250-{NAME}", f"250-SIZE {MAX_MESSAGE}",
                           "250-8BITMIME", "250 SMTPUTF8")
            elif verb == b"HELO":
                await send(writer, f"250 {NAME}")
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
                    mail = await inbox.add(data, tuple(recipients))
                    await send(writer, f"250 2.0.0 Ok: kept as {mail.reference or 'message'}")
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
