"""Mail to members (request receipts, subscriptions): the ``mail:`` section and a small
SMTP client that keeps its connection between messages.

:class:`Mailer` speaks SMTP with :mod:`smtplib` (call it from a thread, never from the
event loop): ``starttls`` (port 587), ``tls`` (465, TLS from the first byte) or ``none``
(25, a local relay), with an optional login. One connection is opened at the first
message and reused by the next ones (a ``NOOP`` first tells whether the server still
holds it; otherwise a new one is opened); it is closed once unused for ``idle_timeout``,
when a message fails, and by :meth:`Mailer.close`. Every step is bounded by ``timeout``.

A failure raises :class:`MailError`: ``permanent`` when the server refused the message or
the address for good (5xx), so the outbox dead-letters it rather than retrying; its text
never holds the password.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from monitor.schema import Duration, StrictModel

log = logging.getLogger(__name__)

#: the port used when ``mail.port`` is not set, by security
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_EMAIL = r"^[^@\s<>]+@[^@\s<>]+$"


class MailSettings(StrictModel):
    """How Vigie sends mail to members (the receipt of a request for help). Without
    ``host``, Vigie sends members no mail."""

    #: the SMTP server (a relay of the cooperative); unset: no mail to members
    host: str | None = None
    #: its port; default 587 for ``starttls``, 465 for ``tls``, 25 for ``none``
    port: int | None = Field(default=None, ge=1, le=65535)
    #: ``starttls`` (upgrade after connecting), ``tls`` (TLS from the first byte) or
    #: ``none`` (a relay on the same machine or network only)
    security: Literal["starttls", "tls", "none"] = "starttls"
    #: login at the server (with ``password``); unset: no login
    username: str | None = None
    #: its password (give it as ``${ENV_VAR}`` or ``password_file``)
    password: SecretStr | None = None
    #: certificate authorities to trust for the server (PEM file); default the system's
    ca_file: str | None = None
    #: the sender's address (required with ``host``; the receipt asks members not to
    #: answer it)
    from_address: str | None = Field(default=None, pattern=_EMAIL)
    #: the name shown with the sender's address
    from_name: str = "Vigie"
    #: time one SMTP step (connecting, each command) may take
    timeout: Duration = 30.0
    #: an open connection unused this long is closed
    idle_timeout: Duration = 60.0

    @model_validator(mode="after")
    def _sender_with_host(self) -> MailSettings:
        if self.host and not self.from_address:
            raise ValueError("from_address is required when host is set")
        if self.password is not None and not self.username:
            raise ValueError("password is set but username is not")
        return self

    @property
    def enabled(self) -> bool:
        """Whether mail can be sent (a host is configured)."""
        return bool(self.host)

    @property
    def effective_port(self) -> int:
        """The port to connect to."""
        return self.port or DEFAULT_PORTS[self.security]


def mail_settings(config) -> MailSettings:
    """The ``mail:`` section of a loaded configuration (its defaults when absent)."""
    found = config.sections.get("mail")
    return found if isinstance(found, MailSettings) else MailSettings()


class MailError(Exception):
    """A message could not be sent; ``permanent`` when sending it again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


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

    def send(self, message: EmailMessage) -> None:
        """Send ``message`` (its ``From`` is set when missing).

        :raises MailError: it was not sent (``permanent`` when the server refused it).
        """
        if "From" not in message:
            message["From"] = self.sender()
        with self._lock:
            try:
                client = self._connection()
                client.send_message(message, from_addr=self.settings.from_address)
            except smtplib.SMTPRecipientsRefused as exc:
                self._drop()
                codes = [code for code, _ in exc.recipients.values()]
                raise MailError(f"SMTP: recipient refused ({', '.join(map(str, codes))})",
                                permanent=bool(codes) and min(codes) >= 500) from None
            except smtplib.SMTPResponseException as exc:
                self._drop()
                raise MailError(f"SMTP {exc.smtp_code}: {self._said(exc.smtp_error)}",
                                permanent=500 <= exc.smtp_code < 600
                                and not isinstance(exc, smtplib.SMTPAuthenticationError)
                                ) from None
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
