"""E-mail adapter: any desk that turns mail to its intake address into tickets.

One message per event. The opening message's ``Message-ID`` is derived from the incident
(reference and id), each follow-up's from the event's idempotency key; follow-ups carry
``In-Reply-To`` and ``References`` pointing at the opening message, and every subject
holds ``[<reference>]``, so desks thread them into one ticket. A message sent again after
a lost answer has the same ``Message-ID``: desks and mail servers that deduplicate on it
drop the copy (and if one does not, the copy lands in the same ticket).

A member's request for help is one message to ``requests_to`` (else the intake address):
``Reply-To`` the member (From stays Vigie's sender, which the mail server may send as),
the member's words then the note for volunteers in the text, the screenshots as MIME
attachments, and a ``Message-ID`` derived from the request's reference and idempotency
key, the same on every attempt.

SMTP is spoken with :mod:`smtplib` in a worker thread (the event loop never blocks),
bounded by the configured timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import smtplib
import socket
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from monitor.api import (
    AssistanceRequest,
    DeliveryError,
    IncidentEvent,
    PermanentFailure,
    redact_secrets,
)
from tickets_bridge import evidence, request_text
from tickets_bridge.desk import DeskAdapter
from tickets_bridge.journal import Ticket
from tickets_bridge.request_text import Attachment, Member
from tickets_bridge.settings import EmailDesk

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def _domain(address: str) -> str:
    return address.rpartition("@")[2] or "vigie.invalid"


def thread_id(event: IncidentEvent, sender: str) -> str:
    """The opening message's Message-ID, the same for every message of the incident."""
    digest = hashlib.sha256(f"{event.incident_id}:{event.reference}".encode()).hexdigest()[:12]
    return f"<vigie.{_UNSAFE.sub('-', event.reference)}.{digest}@{_domain(sender)}>"


def message_id(event: IncidentEvent, sender: str) -> str:
    """A follow-up's Message-ID, stable for one delivery (its idempotency key)."""
    digest = hashlib.sha256(event.idempotency_key.encode()).hexdigest()[:20]
    return f"<vigie.{_UNSAFE.sub('-', event.reference)}.{digest}@{_domain(sender)}>"


def request_message_id(request: AssistanceRequest, sender: str) -> str:
    """A request's Message-ID, the same on every attempt (its reference and key)."""
    digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:20]
    return f"<vigie.{_UNSAFE.sub('-', request.reference)}.{digest}@{_domain(sender)}>"


class EmailAdapter(DeskAdapter):
    """Tickets through a desk's intake address."""

    label = "courriel"
    resend_safe = True

    def __init__(self, settings: EmailDesk, zone: str = "Europe/Paris", lang: str = "fr") -> None:
        self.settings = settings
        self.zone = zone
        self.lang = lang

    def build(self, event: IncidentEvent, body: str, opening: bool) -> EmailMessage:
        """The message for ``event``: opening (new thread) or follow-up (threaded)."""
        msg = EmailMessage()
        root = thread_id(event, self.settings.sender)
        title = evidence.ticket_title(event, self.lang)
        msg["Subject"] = title if opening else f"Re: {title}"
        msg["From"] = self.settings.sender
        msg["To"] = self.settings.to
        msg["Date"] = formatdate(event.at or None, localtime=False)
        msg["Message-ID"] = root if opening else message_id(event, self.settings.sender)
        if not opening:
            msg["In-Reply-To"] = root
            msg["References"] = root
        msg["X-Vigie-Reference"] = event.reference
        msg.set_content(body)
        return msg

    def _send_sync(self, msg: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        if s.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                    context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        with client:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if s.username and s.password is not None:
                client.login(s.username, s.password.get_secret_value())
            client.send_message(msg)

    async def send(self, msg: EmailMessage) -> None:
        """Send ``msg``, mapping SMTP failures like HTTP ones (see monitor.httpcall)."""
        secrets = (self.settings.password.get_secret_value(),) if self.settings.password else ()
        try:
            await asyncio.to_thread(self._send_sync, msg)
        except smtplib.SMTPResponseException as exc:
            said = (exc.smtp_error.decode(errors="replace")
                    if isinstance(exc.smtp_error, bytes) else exc.smtp_error)
            text = redact_secrets(str(said), secrets)
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"Le serveur de courriel a refusé le message "
                                       f"({exc.smtp_code}) : {text}") from None
            raise DeliveryError(f"SMTP {exc.smtp_code}: {text}", sent=False) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                refused = ", ".join(sorted(str(a) for a in exc.recipients))
                raise PermanentFailure(f"Le serveur de courriel refuse l'adresse "
                                       f"{refused} : {exc.recipients}") from None
            raise DeliveryError(f"SMTP: recipient deferred: {exc.recipients}", sent=False) from None
        except (ConnectionRefusedError, socket.gaierror, smtplib.SMTPConnectError) as exc:
            raise DeliveryError(f"SMTP: cannot connect to {self.settings.host}:"
                                f"{self.settings.port}: {exc}", sent=False) from None
        except (OSError, smtplib.SMTPException) as exc:
            # timeouts and dropped connections: the message may have been accepted; the
            # same Message-ID makes a re-send harmless
            said = redact_secrets(str(exc), secrets)
            raise DeliveryError(f"SMTP: {type(exc).__name__}: {said}", sent=None) from None

    async def create(self, event: IncidentEvent) -> Ticket:
        """Send the opening message."""
        await self.send(self.build(event, evidence.opening_note(event, self.zone, self.lang),
                                   opening=True))
        root = thread_id(event, self.settings.sender)
        return Ticket(root, event.reference, f"mailto:{self.settings.to}",
                      evidence.ticket_title(event, self.lang))

    async def follow_up(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """Send the update, threaded under the opening message."""
        await self.send(self.build(event, evidence.update_note(event, self.zone, self.lang),
                                   opening=False))

    async def resolve(self, ticket: Ticket, event: IncidentEvent, check_first: bool) -> None:
        """Send the resolution, threaded (closing is up to the desk's volunteers)."""
        await self.send(self.build(event, evidence.resolution_note(event, self.zone, self.lang),
                                   opening=False))

    def build_request(self, request: AssistanceRequest, who: Member, files: list[Attachment],
                      missing: list[str]) -> EmailMessage:
        """The message of a member's request, with the screenshots attached."""
        msg = EmailMessage()
        msg["Subject"] = request_text.ticket_title(request, self.lang)
        msg["From"] = self.settings.sender
        msg["To"] = self.settings.requests_to or self.settings.to
        local, _, domain = who.email.partition("@")
        msg["Reply-To"] = Address(who.name, local, domain)
        msg["Date"] = formatdate(request.at or None, localtime=False)
        msg["Message-ID"] = request_message_id(request, self.settings.sender)
        msg["X-Vigie-Reference"] = request.reference
        msg.set_content(request_text.combined_text(request, who, missing, self.zone, self.lang))
        for f in files:
            maintype, _, subtype = f.media_type.partition("/")
            msg.add_attachment(f.data, maintype=maintype, subtype=subtype, filename=f.filename)
        return msg

    async def create_request(self, request: AssistanceRequest, who: Member,
                             files: list[Attachment], missing: list[str]) -> Ticket:
        """Send the request's message (the same Message-ID on every attempt)."""
        await self.send(self.build_request(request, who, files, missing))
        to = self.settings.requests_to or self.settings.to
        return Ticket(request_message_id(request, self.settings.sender), request.reference,
                      f"mailto:{to}", request_text.ticket_title(request, self.lang))
