"""The table of webhook endpoints (``webhook_endpoints``, migration ``0014_webhooks``).

One row per endpoint a volunteer registered. ``secret`` is the signing secret
(``whsec_<base64>``): Vigie must keep it to sign, so it is stored as given, never hashed;
it is shown once (at creation and at each rotation) and never again: not in the lists, the
API, the audit log (:data:`monitor.audit.targets.LEFT_OUT`), the logs or the metrics.
During a rotation ``previous_secret`` signs too, until ``previous_until``.

``events`` and ``services`` are comma-separated lists (an empty ``services``: every
service). ``consecutive_failures`` counts failed deliveries in a row; at
``webhooks.disable_after`` the endpoint is disabled (``enabled`` false, ``disabled_at``
and ``disabled_reason`` set) and volunteers get a ``webhook.disabled`` system alert.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Double, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import Base, BigId

#: the longest name of an endpoint
NAME_MAX = 100
#: the longest description
DESCRIPTION_MAX = 500
#: the longest address
URL_MAX = 2000
#: the column holding a secret (``whsec_`` and the base64 of 32 bytes fit with room)
SECRET_LENGTH = 120
#: the longest reason an endpoint was disabled
REASON_LENGTH = 1000


class WebhookEndpoint(Base):
    """A registered webhook receiver."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str] = mapped_column(String(DESCRIPTION_MAX), default="")
    url: Mapped[str] = mapped_column(String(URL_MAX))
    secret: Mapped[str] = mapped_column(String(SECRET_LENGTH))
    previous_secret: Mapped[str | None] = mapped_column(String(SECRET_LENGTH))
    previous_until: Mapped[float | None] = mapped_column(Double)
    #: event types, comma-separated (``incident.opened,maintenance.started``)
    events: Mapped[str] = mapped_column(String(500))
    #: service ids, comma-separated; empty: every service
    services: Mapped[str] = mapped_column(String(2000), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[float | None] = mapped_column(Double)
    disabled_reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    created_by: Mapped[str | None] = mapped_column(String(200))


def plugin_name(endpoint_id: int) -> str:
    """The plugin name of an endpoint: its outbox rows and metrics carry it."""
    return f"webhook-{endpoint_id}"


def endpoint_id_of(plugin: str) -> int | None:
    """The endpoint id of a plugin name ``webhook-<id>`` (None for any other name)."""
    prefix, _, number = plugin.partition("-")
    return int(number) if prefix == "webhook" and number.isdigit() else None
