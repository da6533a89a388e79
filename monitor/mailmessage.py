"""The messages Vigie mails to members (request receipts, subscriptions): their
``Message-ID`` and the headers every one of them carries.

One place builds them, so a receipt and a subscriber's mail look alike to a mail server:
a ``Message-ID`` that is the same for every attempt to send one message (a resend after a
lost answer is the same message), ``Auto-Submitted: auto-generated`` (RFC 3834: no
vacation reply comes back, no loop), a text part and, when given, an HTML alternative,
and the reader's language. Sending is :mod:`monitor.mailer`'s job.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast
from email.charset import QP, Charset
from email.errors import MessageError
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate

from monitor.notifications import PermanentFailure

#: what may appear between the dots of a Message-ID's left part
_LABEL = re.compile(r"[^A-Za-z0-9-]+")
#: the parts' charset: UTF-8 in quoted-printable (7-bit safe, readable in a raw view)
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


class OneLine:
    """A header value written on one line whatever its length (under SMTP's 998): an
    address or a URL has no space to fold at, and folding would only move it to a line
    of its own (``List-Unsubscribe:`` then `` <https://…>``), which some readers take
    with the leading space."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def encode(self, linesep: str = "\n", maxlinelen: int | None = None) -> str:
        """The value as written (what the generator asks of a header object)."""
        return self.value

    def __str__(self) -> str:
        return self.value


def message_id(sender: str, labels: Iterable[str], seed: str) -> str:
    """``<vigie.<labels>.<digest>@<sender's domain>>``: ``labels`` say what the message
    is (``receipt``, ``DEM-…``), ``seed`` makes it unique and stable (the same seed, the
    same id: every attempt to send one message carries one id)."""
    digest = hashlib.sha256(seed.encode()).hexdigest()[:16]
    domain = sender.rpartition("@")[2] or "vigie.invalid"
    left = ".".join(_LABEL.sub("-", label).strip("-") or "x" for label in labels)
    return f"<vigie.{left}.{digest}@{domain}>"


def automatic_message(*, to: str, subject: str, message_id: str, language: str, text: str,
                      html: str | None = None, to_name: str = "", at: float | None = None,
                      headers: Mapping[str, str] | None = None) -> Message:
    """A message written by Vigie for one member: ``To``, ``Subject``, ``Date`` (``at``,
    default now), ``Message-ID``, ``Auto-Submitted``, then ``headers`` in their order, the
    text (and ``html`` as its alternative) and ``Content-Language``.

    Built with the standard library's MIME classes rather than ``EmailMessage``, whose
    parsing of every header set costs about twenty times more: a batch of ten thousand
    mails spends its time in the SMTP exchange and the ledger, not here.

    :raises PermanentFailure: ``to`` cannot be written in a header (sending it again
        cannot help).
    """
    try:
        address = Address(display_name=to_name, addr_spec=to)
    except (ValueError, IndexError, MessageError) as exc:
        raise PermanentFailure(f"not an e-mail address: {exc}") from None
    utf8: Any = _UTF8  # (a Charset: the stubs say only its name is taken, the code takes both)
    message: Message = MIMEText(text, "plain", utf8)
    if html is not None:
        message = MIMEMultipart("alternative", _subparts=[message,
                                                          MIMEText(html, "html", utf8)])
    message["To"] = formataddr((address.display_name, address.addr_spec))
    message["Subject"] = _header(subject)
    message["Date"] = formatdate(at or None, localtime=False)
    message["Message-ID"] = cast(Any, OneLine(message_id))
    # an automatic message: no vacation reply back, no loop (RFC 3834)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    for name, value in (headers or {}).items():
        message[name] = _header(value)
    message["Content-Language"] = language
    return message


def _header(value: str) -> Any:
    """How a header value is written: words folded as usual, one token (an address, a
    URL) on its line, other text than ASCII in encoded words (RFC 2047)."""
    if not value.isascii():
        return Header(value, "utf-8")
    return value if " " in value.strip() else OneLine(value)
