"""The services members see and the checks that decide their status: the ``groups``,
``services`` and ``defaults`` sections as written in the file, and the frozen
:class:`Check` and :class:`Service` objects :mod:`monitor.config_loader` resolves them into
(every default applied, options validated by the probe kind)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator

from monitor.config_types import IDENT, LocalizedText
from monitor.probe import CheckRef, ProbeConfig
from monitor.schema import Duration, StrictModel


class CheckDefaults(StrictModel):
    """Defaults applied to every check that does not set its own value."""

    #: how often a check runs (the 5 minutes of the status page)
    interval: Duration = 300.0
    #: hard deadline of one run; a hung target is abandoned and the run counts as failed
    timeout: Duration = 10.0
    #: consecutive failing runs before a check is declared failing (damping)
    confirm: int = Field(default=2, ge=1, le=100)
    #: delay before re-running a check after a failing run, while it is not yet confirmed
    retry_interval: Duration = 30.0


class GroupConfig(StrictModel):
    """A group of services on the status page (e.g. "Hébergement")."""

    #: identifier used by ``services[].group`` (lower-case letters, digits, ``-``, ``_``)
    id: str = Field(pattern=IDENT)
    #: the group's title on the status page
    name: LocalizedText


class CheckConfig(StrictModel):
    """One check as written in the file; kind-specific keys sit beside the common ones."""

    model_config = StrictModel.model_config | {"extra": "allow"}

    #: identifier, unique within the service (in metrics and URLs)
    id: str = Field(pattern=IDENT)
    #: the probe kind (``vigie probes`` lists them); its own keys sit beside these
    kind: str
    #: the check's name on the status page (default: its id)
    name: LocalizedText | None = None
    #: overrides ``defaults.interval``
    interval: Duration | None = None
    #: overrides ``defaults.timeout``
    timeout: Duration | None = None
    #: overrides ``defaults.confirm``
    confirm: int | None = Field(default=None, ge=1, le=100)
    #: overrides ``defaults.retry_interval``
    retry_interval: Duration | None = None
    #: false: the check is kept in the file but never run
    enabled: bool = True
    #: where the check runs from: names of ``locations`` (default: the server's own,
    #: ``locations.self``); see docs/locations.md
    locations: list[str] | None = None
    #: how many of its locations must see it down before it is down for members (1 to
    #: the number of its locations; default: a majority, ``n // 2 + 1``)
    quorum: int | None = None
    #: send its secret options (passwords, tokens) to the agents of its remote
    #: locations; otherwise they are left out and an agent reports the run ``unknown``
    agent_secrets: bool = False

    def options(self) -> dict[str, Any]:
        """The kind-specific keys (everything that is not a common key)."""
        return dict(self.model_extra or {})


class ServiceConfig(StrictModel):
    """A service members see, with the checks that decide its status."""

    #: identifier (in metrics, URLs and the database; changing it starts a new history)
    id: str = Field(pattern=IDENT)
    #: the service's name on the status page
    name: LocalizedText
    #: id of its group in ``groups``
    group: str | None = None
    #: one sentence under the name on the status page
    description: LocalizedText | None = None
    #: what is probed; the service's status is derived from these
    checks: list[CheckConfig] = Field(min_length=1)

    @field_validator("checks")
    @classmethod
    def _unique_checks(cls, checks: list[CheckConfig]) -> list[CheckConfig]:
        seen: set[str] = set()
        for check in checks:
            if check.id in seen:
                raise ValueError(f"check id {check.id!r} is used twice in this service")
            seen.add(check.id)
        return checks


@dataclass(frozen=True, slots=True)
class Check:
    """A check with every default resolved and its options validated by its probe kind."""

    ref: CheckRef
    name: LocalizedText
    interval: float
    timeout: float
    confirm: int
    retry_interval: float
    options: ProbeConfig
    enabled: bool = True
    #: the locations it runs from (``locations``); empty: the server's own only
    locations: tuple[str, ...] = ()
    #: how many of them must see it down before members are told
    quorum: int = 1
    #: its secret options go to the agents of its remote locations
    agent_secrets: bool = False

    @property
    def key(self) -> str:
        """``service/check``, unique in a configuration."""
        return self.ref.key


@dataclass(frozen=True, slots=True)
class Service:
    """A service with its resolved checks."""

    id: str
    name: LocalizedText
    group: str | None
    description: LocalizedText | None
    checks: tuple[Check, ...]
