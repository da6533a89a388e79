"""The ``helpdesk:`` configuration section: which desk gets one ticket per incident, and
one ticket per member's request for help."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from docs_bridge.settings import ImpactLevel
from monitor.api import Duration, StrictModel, http_url

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class ZammadDesk(StrictModel):
    """Zammad: full lifecycle (create with an internal note, add articles, close)."""

    type: Literal["zammad"]
    #: the desk's address, e.g. https://support.example.coop
    url: str
    #: an access token (Zammad: Profile → Token Access; permission ``ticket.agent``)
    token: SecretStr
    #: the group tickets are created in (it must exist in Zammad)
    group: str = "Users"
    #: the group members' requests for help (``/assistance/``) go to; empty: ``group``
    requests_group: str | None = None
    #: the ticket's customer: an e-mail address (created by Zammad when unknown)
    customer: str = Field(pattern=_EMAIL)
    #: the state set on resolution
    close_state: str = "closed"
    timeout: Duration = 15.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)


class OsTicketDesk(StrictModel):
    """osTicket: create only (its API cannot update, close or search tickets)."""

    type: Literal["osticket"]
    url: str
    #: an API key (osTicket admin → Manage → API Keys), bound to Vigie's IP address
    api_key: SecretStr
    #: name and address the ticket is opened in the name of
    name: str = "Vigie"
    email: str = Field(pattern=_EMAIL)
    #: the help topic (osTicket's ``topicId``, which picks the department) members'
    #: requests for help go to; empty: the desk's default topic
    requests_topic_id: int | None = Field(default=None, ge=1)
    timeout: Duration = 15.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)


class EmailDesk(StrictModel):
    """Any desk with an intake address: a mail per event, threaded by the reference."""

    type: Literal["email"]
    #: the desk's intake address
    to: str = Field(pattern=_EMAIL)
    #: the intake address members' requests for help go to; empty: ``to``
    requests_to: str | None = Field(default=None, pattern=_EMAIL)
    #: the sender (also the domain of the Message-IDs)
    sender: str = Field(pattern=_EMAIL)
    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    #: ``starttls`` (port 587), ``tls`` (port 465, TLS from the first byte) or ``none``
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    timeout: Duration = 30.0


class WebhookDesk(StrictModel):
    """A generic JSON webhook: every event is POSTed with an ``Idempotency-Key``."""

    type: Literal["webhook"]
    url: str
    #: sent as ``Authorization: Bearer <token>`` when set
    token: SecretStr | None = None
    timeout: Duration = 15.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)


Desk = Annotated[ZammadDesk | OsTicketDesk | EmailDesk | WebhookDesk,
                 Field(discriminator="type")]


class HelpdeskSettings(StrictModel):
    """The ``helpdesk:`` section."""

    desk: Desk
    #: incidents at least this bad get a ticket
    min_impact: ImpactLevel = "degraded"
    #: the language Vigie writes tickets and notes in (volunteers read it; a member's
    #: own words are kept as written)
    language: Literal["fr", "en"] = "fr"
    #: journal entries (idempotency keys) are forgotten after this long
    keep: Duration = 90 * 86400.0
