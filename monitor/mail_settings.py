"""The ``mail:`` section: how Vigie sends mail to members (see :mod:`monitor.mailer`).

Kept apart from the SMTP client so that reading the configuration never loads
:mod:`smtplib`: only a Vigie that sends mail does.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from monitor.schema import Duration, StrictModel

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


def mail_settings(config: Any) -> MailSettings:
    """The ``mail:`` section of a loaded configuration (its defaults when absent)."""
    found = config.sections.get("mail")
    return found if isinstance(found, MailSettings) else MailSettings()
