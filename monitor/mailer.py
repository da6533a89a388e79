"""Mail to members (request receipts, subscriptions): a small SMTP client that keeps its
connection between messages (the ``mail:`` section is :mod:`monitor.mail_settings`).

:class:`Mailer` speaks SMTP with :mod:`smtplib` (call it from a thread, never from the
event loop): ``starttls`` (port 587), ``tls`` (465, TLS from the first byte) or ``none``
(25, a local relay), with an optional login. One connection is opened at the first
message and reused by the next ones (a ``NOOP`` first tells whether the server still
holds it; otherwise a new one is opened); it is closed once unused for ``idle_timeout``,
when a message fails, and by :meth:`Mailer.close`. Every step is bounded by ``timeout``.

A failure raises :class:`MailError`: ``permanent`` when the server refused the message or
the address for good (5xx), so the outbox dead-letters it rather than retrying;
``recipient`` when the answer concerns this one message or address (a refused
recipient, a refused message body), so a sender of many messages goes on with the next
ones; its text never holds the password. Such an answer leaves the connection usable
(smtplib resets the transaction): it is kept, unless the server said it is closing (421).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from email.message import Message

from monitor.mail_settings import DEFAULT_PORTS, MailSettings, mail_settings

__all__ = ["DEFAULT_PORTS", "MailError", "MailSettings", "Mailer", "mail_settings"]

log = logging.getLogger(__name__)

#: the reply code of a server closing the connection ("421 too many connections")
CLOSING = 421
#: refusals after which smtplib has reset the transaction: the connection stays usable
_TRANSACTION_ERRORS = (smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


class MailError(Exception):
    """A message could not be sent; ``permanent`` when sending it again cannot help,
    ``recipient`` when the server's answer concerns this message or its address only (the
    next message, to another address, may go), ``code`` the server's reply code."""

    def __init__(self, message: str, *, permanent: bool = False, recipient: bool = False,
                 code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.recipient = recipient
        self.code = code


class Mailer:
    """Sends messages over one reused SMTP connection (thread-safe: one at a time).

    :param clock: a monotonic clock (tests move it to age the connection).
    """

    def __init__(self, settings: MailSettings, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not settings.enabled:
            raise ValueError("mail.host is not set")
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._client: smtplib.SMTP | None = None
        self._used_at = 0.0
        #: connections opened so far (tests and logs)
        self.connections = 0

    def sender(self) -> str:
        """The ``From`` header: the name and the address."""
        from email.utils import formataddr

        return formataddr((self.settings.from_name, self.settings.from_address or ""))

    def send(self, message: Message) -> None:
        """Send ``message`` (its ``From`` is set when missing).

        :raises MailError: it was not sent (``permanent`` when the server refused it).
        """
        if "From" not in message:
            message["From"] = self.sender()
        with self._lock:
            try:
                client = self._connection()
                self._used_at = self.clock()  # in use now (kept after a refusal too)
                client.send_message(message, from_addr=self.settings.from_address)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                said = "; ".join(f"{code} {self._said(text)}"
                                 for code, text in exc.recipients.values())
                closing = CLOSING in codes
                if closing:
                    self._drop()
                raise MailError(f"SMTP: recipient refused ({said})",
                                permanent=bool(codes) and min(codes) >= 500,
                                recipient=not closing,
                                code=min(codes) if codes else None) from None
            except smtplib.SMTPResponseException as exc:
                code = exc.smtp_code
                if code == CLOSING or not isinstance(exc, _TRANSACTION_ERRORS):
                    self._drop()
                raise MailError(f"SMTP {code}: {self._said(exc.smtp_error)}",
                                permanent=500 <= code < 600
                                and not isinstance(exc, smtplib.SMTPAuthenticationError),
                                recipient=isinstance(exc, smtplib.SMTPDataError)
                                and code != CLOSING, code=code) from None
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise MailError(f"SMTP {self.settings.host}:{self.settings.effective_port}: "
                                f"{type(exc).__name__}: {self._said(str(exc))}") from None
            self._used_at = self.clock()

    def close(self) -> None:
        """Close the connection if one is open."""
        with self._lock:
            self._drop(polite=True)

    def close_idle(self) -> None:
        """Close the connection if it has been unused for ``idle_timeout``."""
        with self._lock:
            if self._client is not None and self._idle():
                self._drop(polite=True)

    # The connection ---------------------------------------------------------------------

    def _idle(self) -> bool:
        return self.clock() - self._used_at >= self.settings.idle_timeout

    def _connection(self) -> smtplib.SMTP:
        client = self._client
        if client is not None and not self._idle():
            try:
                if client.noop()[0] == 250:
                    return client
            except (OSError, smtplib.SMTPException):
                pass
        self._drop(polite=client is not None and self._idle())
        self._client = self._open()
        return self._client

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        host, port = s.host or "", s.effective_port
        if s.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=s.timeout,
                                                    context=self._context())
        else:
            client = smtplib.SMTP(host, port, timeout=s.timeout)
        try:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=self._context())
                client.ehlo()
            if s.username and s.password is not None:
                client.login(s.username, s.password.get_secret_value())
        except BaseException:
            _quietly_close(client)
            raise
        self.connections += 1
        log.debug("mail: connected to %s:%d", host, port)
        return client

    def _drop(self, polite: bool = False) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if polite:
            try:
                client.quit()
                return
            except (OSError, smtplib.SMTPException):
                pass
        _quietly_close(client)

    def _said(self, text: object) -> str:
        said = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        password = self.settings.password
        if password is not None and password.get_secret_value():
            said = said.replace(password.get_secret_value(), "***")
        return said.strip()[:300]


def _quietly_close(client: smtplib.SMTP) -> None:
    try:
        client.close()
    except OSError:
        pass
