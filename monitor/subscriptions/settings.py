"""The ``subscriptions:`` section: members following services by e-mail (see
docs/subscriptions.md)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from monitor.config_settings import OptionalDuration
from monitor.schema import Duration, StrictModel


class SubscriptionSettings(StrictModel):
    """Members' e-mail subscriptions: sign-up with a confirmation link, the mails of
    incidents and maintenance, the manage and unsubscribe links. Without ``mail.host`` the
    pages say subscriptions are unavailable (Vigie still starts)."""

    #: offer ``/abonnement/`` (needs ``mail.host``)
    enabled: bool = True
    #: how long the confirmation link of a sign-up stays valid (it works once)
    confirm_within: Duration = Field(default=48 * 3600.0, ge=600, le=30 * 86400)
    #: an address never confirmed is deleted this long after its sign-up
    forget_unconfirmed_after: Duration = Field(default=7 * 86400.0, ge=3600,
                                               le=365 * 86400)
    #: sign-ups per hour with one e-mail address (a confirmed address asking again
    #: counts too)
    per_address_per_hour: int = Field(default=5, ge=1, le=10_000)
    #: sign-ups per hour from one client address (an IPv6 /64 counts as one)
    per_client_per_hour: int = Field(default=20, ge=1, le=100_000)
    #: remind subscribers this long before a maintenance window starts (``off``: no
    #: reminder)
    maintenance_reminder: OptionalDuration = 24 * 3600.0
    #: mails per second at most (mail providers throttle senders)
    send_rate: float = Field(default=10.0, gt=0, le=10_000)
    #: subscribers per outbox row (one row per event and batch)
    batch_size: int = Field(default=200, ge=1, le=10_000)


def settings_of(config: Any) -> SubscriptionSettings:
    """The ``subscriptions:`` section of ``config`` (its defaults when absent)."""
    found = config.sections.get("subscriptions")
    return found if isinstance(found, SubscriptionSettings) else SubscriptionSettings()
