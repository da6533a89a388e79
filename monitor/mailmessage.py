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
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from monitor.notifications import PermanentFailure

#: what may appear between the dots of a Message-ID's left part
_LABEL = re.compile(r"[^A-Za-z0-9-]+")


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
                      headers: Mapping[str, str] | None = None) -> EmailMessage:
    """A message written by Vigie for one member: ``To``, ``Subject``, ``Date`` (``at``,
    default now), ``Message-ID``, ``Auto-Submitted``, then ``headers`` in their order, the
    text (and ``html`` as its alternative) and ``Content-Language``.

    :raises PermanentFailure: ``to`` cannot be written in a header (sending it again
        cannot help).
    """
    message = EmailMessage()
    try:
        address = Address(display_name=to_name, addr_spec=to)
        message["To"] = formataddr((address.display_name, address.addr_spec))
    except (ValueError, IndexError, MessageError) as exc:
        raise PermanentFailure(f"not an e-mail address: {exc}") from None
    message["Subject"] = subject
    message["Date"] = formatdate(at or None, localtime=False)
    message["Message-ID"] = message_id
    # an automatic message: no vacation reply back, no loop (RFC 3834)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    # after set_content, which replaces every Content-* header
    message["Content-Language"] = language
    return message
