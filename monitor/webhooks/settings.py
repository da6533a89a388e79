"""The ``webhooks:`` section: how Vigie delivers signed webhooks (see docs/webhooks.md).

The endpoints themselves are not configured here: volunteers register them (admin area,
API, ``vigie webhook add``), and they live in the database.
"""

from __future__ import annotations

from pydantic import Field

from monitor.schema import Duration, StrictModel


class WebhookSettings(StrictModel):
    """Signed webhooks to partner organisations and members' own tools."""

    #: an endpoint is disabled after this many failed deliveries in a row (volunteers are
    #: told; enable it again from the admin area or with ``vigie webhook enable``)
    disable_after: int = Field(default=20, ge=1, le=10_000)
    #: after a secret rotation, deliveries are signed with the old secret too, this long
    rotation_overlap: Duration = 24 * 3600.0
    #: time one delivery (connecting, sending, reading the answer) may take
    timeout: Duration = 10.0
    #: bytes of a receiver's answer read at most (the rest is not read)
    max_response: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024)
    #: how often ``vigie run`` reads the endpoints again (those added, changed or removed
    #: by the admin area of another process or by the command line)
    refresh_every: Duration = 10.0


def settings_of(config) -> WebhookSettings:
    """The ``webhooks:`` section of ``config`` (its defaults when absent)."""
    found = config.sections.get("webhooks") if config is not None else None
    return found if isinstance(found, WebhookSettings) else WebhookSettings()
