"""The ``notifications:`` section of ``vigie.yaml``: receivers, routes, storm control.

Validated strictly at load like the core's sections (unknown keys refused, errors with
file, line and key). Apprise URLs embed passwords and tokens, so they are
:class:`pydantic.SecretStr` (``url_file:`` and ``${ENV}`` work) and never echoed back in an
error message.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from monitor.api import Duration, StrictModel, format_duration
from plugins._lazy import LazyModule

# Apprise and its service modules (megabytes) load with the first receiver URL checked:
# a Vigie without a ``notifications:`` section never needs them
apprise = LazyModule("apprise")

#: every event the notifier can send, as written in ``events:`` and in route rules
EVENT_NAMES = (
    "incident.opened",
    "incident.updated",
    "incident.reminder",
    "incident.resolved",
    "maintenance.announced",
    "maintenance.started",
    "maintenance.ended",
    "maintenance.cancelled",
    "system",
)
EventName = Literal[
    "incident.opened", "incident.updated", "incident.reminder", "incident.resolved",
    "maintenance.announced", "maintenance.started", "maintenance.ended",
    "maintenance.cancelled", "system",
]
Severity = Literal["critical", "warning", "info", "success"]
Language = Literal["fr", "en"]
#: a routing tag is spelt like ids elsewhere in the configuration
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _tags(values: list[str]) -> list[str]:
    """Tags must look like ids; a duplicate is most likely a typo elsewhere."""
    for tag in values:
        if not _TAG.match(tag):
            raise ValueError(f"invalid tag {tag!r}: use lower-case letters, digits, '-' and "
                             "'_', starting with a letter or digit")
    if len(set(values)) != len(values):
        raise ValueError("a tag is listed twice")
    return values


def make_asset(app_url: str | None = None) -> apprise.AppriseAsset:
    """The Apprise asset every receiver shares: Vigie's name (mail headers, HTTP user
    agent), the status page as the link some services show, nothing written to disk."""
    extra = {"app_url": app_url} if app_url else {}
    return apprise.AppriseAsset(app_id="Vigie", app_desc="Vigie status monitoring",
                                storage_mode="memory", **extra)


class ReceiverSettings(StrictModel):
    """One Apprise URL (mail, Matrix, XMPP, webhook…) and the tags it listens to.

    A receiver without tags receives every event; with tags, only the events routed to one
    of them.
    """

    #: the Apprise URL (``mailto://``, ``matrixs://``, ``xmpps://``, ``json://``…)
    url: SecretStr
    #: the routes this receiver listens to; none: it receives every event
    tags: list[str] = []
    #: shown in logs and errors instead of the URL (which may hold a password)
    name: str | None = Field(default=None, min_length=1, max_length=80)

    @field_validator("url")
    @classmethod
    def _apprise_url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        scheme = text.partition("://")[0] if "://" in text else ""
        if apprise.Apprise.instantiate(text, asset=make_asset()) is None:
            # only the scheme is repeated: the rest of the URL, and Apprise's own
            # explanation (which sometimes quotes a token), may hold a secret
            what = f"scheme {scheme!r}" if scheme else "no scheme"
            raise ValueError(f"not a usable Apprise URL ({what}); check the scheme and the "
                             "parts it needs (Apprise's log says which), e.g. "
                             "mailto://user:pass@smtp.example.org?to=alerts@example.org")
        return SecretStr(text)

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, value: list[str]) -> list[str]:
        return _tags(value)


class RouteSettings(StrictModel):
    """Send matching events to the receivers with one of ``tags``.

    Every criterion given must match (``services`` and ``groups`` match when the event
    concerns one of them); within a criterion, one listed value is enough. A rule without
    criteria matches every event. All matching rules add their tags.
    """

    #: service ids the event concerns
    services: list[str] = []
    #: group ids of the services the event concerns
    groups: list[str] = []
    #: critical (major outage), warning (partial outage, degraded), info (maintenance),
    #: success; an incident keeps the severity of its impact until it is resolved
    severities: list[Severity] = []
    #: event names, as in ``notifications.events``
    events: list[EventName] = []
    #: system alert codes (``store.unreachable``, ``tls.*``…), shell-style patterns
    codes: list[str] = []
    #: the receivers with one of these tags get the event
    tags: list[str] = Field(min_length=1)

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, value: list[str]) -> list[str]:
        return _tags(value)


class StormSettings(StrictModel):
    """Group the alerts when several services go down together (see docs/alerts.md).

    Openings below ``threshold`` within ``window`` go out at once, each on its own. The
    opening that makes ``threshold`` starts a group: it and the openings that follow are
    held, and the group leaves ``hold`` after the first of them. No alert waits longer.
    """

    #: off: one alert per incident, always
    enabled: bool = True
    #: openings counted together: ``threshold`` of them within ``window`` make a storm
    window: Duration = 120.0
    #: this many incidents opened within ``window`` make a storm (the earlier ones were
    #: sent alone, at once)
    threshold: int = Field(default=3, ge=2, le=1000)
    #: the longest an opening is held: a grouped alert leaves this long after the first
    #: opening it holds, whatever comes after (at most ``window``)
    hold: Duration = 20.0

    @field_validator("hold")
    @classmethod
    def _hold_within_window(cls, value: float, info: ValidationInfo) -> float:
        window = info.data.get("window")
        if window is not None and value > window:
            raise ValueError(f"must not be longer than window ({format_duration(window)}), "
                             f"got {format_duration(value)}")
        return value


class NotifierSettings(StrictModel):
    """Alerts to volunteers through Apprise."""

    urls: list[ReceiverSettings] = []
    #: an Apprise YAML/TEXT configuration file (tags per URL); relative to vigie.yaml
    config_file: str | None = Field(default=None, min_length=1)
    routes: list[RouteSettings] = []
    #: languages of each message, in order (``[fr, en]``: French first, then English)
    languages: list[Language] = Field(default=["fr"], min_length=1, max_length=2)
    #: where an event goes when no route matched: receivers with one of these tags, or
    #: every receiver when none has them
    default_tags: list[str] = ["all"]
    storm: StormSettings = StormSettings()
    #: the longest one delivery may take, all receivers together
    timeout: Duration = 15.0
    #: how long to wait after a receiver answered 429 (Apprise does not pass on the
    #: receiver's Retry-After)
    retry_after: Duration = 60.0
    #: which events are sent (all by default)
    events: list[EventName] = list(EVENT_NAMES)

    @field_validator("languages")
    @classmethod
    def _unique_languages(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a language is listed twice")
        return value

    @field_validator("default_tags")
    @classmethod
    def _valid_default_tags(cls, value: list[str]) -> list[str]:
        return _tags(value)

    @field_validator("routes")
    @classmethod
    def _routes_reach_someone(cls, routes: list[RouteSettings],
                              info: ValidationInfo) -> list[RouteSettings]:
        # with inline URLs only, every tag a route names must reach someone; tags in an
        # Apprise config file are only known when it is read, at start
        if "urls" not in info.data or info.data.get("config_file", "?") is not None:
            return routes
        known = {tag for receiver in info.data["urls"] for tag in receiver.tags}
        for index, route in enumerate(routes):
            missing = [tag for tag in route.tags if tag not in known]
            if missing:
                have = ", ".join(sorted(known)) or "none"
                raise ValueError(f"the rule routes[{index}] names the tag {missing[0]!r}, "
                                 f"which no receiver has (tags in use: {have})")
        return routes

    @model_validator(mode="after")
    def _some_receiver(self) -> NotifierSettings:
        if not self.urls and self.config_file is None:
            raise ValueError("give at least one receiver: 'urls' (a list of Apprise URLs) "
                             "or 'config_file' (an Apprise configuration file)")
        return self
