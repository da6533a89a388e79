"""The member's e-mail receipt: the reference of the request and what happens next, in
the member's language, delivered through the outbox like the desk's ticket.

:class:`ReceiptSender` is a plugin object the core registers as ``assistance-receipt``
when ``mail.host`` is set and ``assistance.receipt`` is on; the request's transaction
writes one outbox row for it (key ``assistance:<reference>:receipt``), so a double click
sends one receipt, a desk that is down does not delay it, and an SMTP server that is down
gets it later. A resend after a lost answer carries the same ``Message-ID``.

The receipt names no screenshot and quotes only the request's title: it goes to an address
the member typed, which may not be theirs.
"""

from __future__ import annotations

import logging
from email.message import Message

from monitor.assistance.request import AssistanceRequest
from monitor.mailer import Mailer, MailError
from monitor.mailmessage import automatic_message
from monitor.mailmessage import message_id as mail_id
from monitor.notifications import PermanentFailure
from monitor.plugins import hookimpl
from monitor.words import say

log = logging.getLogger(__name__)


def message_id(request: AssistanceRequest, sender: str) -> str:
    """The receipt's ``Message-ID``: the same for every attempt of one request."""
    return mail_id(sender, ("receipt", request.reference), request.idempotency_key)


def receipt_text(request: AssistanceRequest) -> tuple[str, str]:
    """``(subject, body)`` of the receipt in the request's language."""
    lang = request.language
    subject = say(lang, "Your request {reference} has been received",
                  reference=request.reference)
    lines = [
        say(lang, "Hello {name},", name=request.name) if request.name else say(lang, "Hello,"),
        "",
        say(lang, "Your request for help “{title}” has been received. Its reference is "
                  "{reference}.", title=request.title, reference=request.reference),
        "",
        say(lang, "The support volunteers will read it and answer you by e-mail as soon as "
                  "they can (there is no phone support). Please keep the reference: quote "
                  "it if you write to us about this request."),
    ]
    if request.status_page_url:
        lines += ["", say(lang, "Meanwhile, the status of the services: {url}",
                          url=request.status_page_url)]
    lines += ["", say(lang, "This message was sent automatically; please do not answer it.")]
    return subject, "\n".join(lines) + "\n"


def build_receipt(request: AssistanceRequest, sender: str) -> Message:
    """The receipt to send to the member.

    :raises PermanentFailure: the member's address cannot be written in a header.
    """
    subject, body = receipt_text(request)
    return automatic_message(to=request.email, to_name=request.name, subject=subject,
                             at=request.at, message_id=message_id(request, sender),
                             language=request.language, text=body,
                             headers={"X-Vigie-Reference": request.reference})


class ReceiptSender:
    """Mails members the receipt of their request (a plugin object of the core)."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer

    @hookimpl
    def vigie_assistance_request(self, request: AssistanceRequest) -> None:
        """Send the receipt (synchronous: the outbox runs it in its lane's threads).

        :raises PermanentFailure: the server refused the message or the address for good.
        :raises MailError: it could not be sent now (retried with a backoff).
        """
        if not request.email:
            return None
        message = build_receipt(request, self.mailer.settings.from_address or "")
        try:
            self.mailer.send(message)
        except MailError as exc:
            if exc.permanent:
                raise PermanentFailure(str(exc)) from None
            raise
        log.info("assistance: receipt of %s sent", request.reference)
        return None
