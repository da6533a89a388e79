"""The ``maintenance`` section: maintenance windows written in the configuration file,
one-off or recurring (their rules are read by :mod:`monitor.incidents.recurrence`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from monitor.config_types import IDENT, LocalizedText
from monitor.schema import Duration, StrictModel


class MaintenanceConfig(StrictModel):
    """A maintenance window written in the configuration file.

    One-off: ``start`` and ``end`` (or ``duration``). Recurring: one of ``weekly``,
    ``monthly``, ``daily``, ``cron`` or ``rrule``, with ``at`` (time of day, except for
    cron) and ``duration``. Scope: ``services``, or ``group``, or ``all: true``. Times are
    wall-clock times in ``timezone`` (default: the site's).
    """

    id: str = Field(pattern=IDENT)
    title: LocalizedText
    message: LocalizedText | None = None
    services: list[str] = []
    group: str | None = None
    all_services: bool = Field(default=False, alias="all")
    start: str | None = None
    end: str | None = None
    duration: Duration | None = None
    weekly: str | list[str] | None = None
    monthly: str | int | None = None
    daily: bool = False
    cron: str | None = None
    rrule: str | None = None
    at: str | None = None
    timezone: str | None = None
    announce_before: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _dates_as_text(cls, data: Any) -> Any:
        # YAML reads an unquoted 2026-04-05 22:00 as a datetime: take it as text again
        if isinstance(data, dict):
            data = {k: (v.isoformat(" ") if hasattr(v, "isoformat") and k in ("start", "end")
                        else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _coherent(self) -> MaintenanceConfig:
        from monitor.incidents.recurrence import (
            RuleError,
            build_rule,
            check_rule,
            parse_datetime,
        )

        scopes = sum((bool(self.services), self.group is not None, self.all_services))
        if scopes != 1:
            raise ValueError("give exactly one of services, group or all: true")
        tz = self.timezone or "UTC"
        try:
            start = parse_datetime(self.start, tz) if self.start else None
            end = parse_datetime(self.end, tz) if self.end else None
            if self.recurring:
                rule = build_rule(weekly=self.weekly, monthly=self.monthly, daily=self.daily,
                                  cron=self.cron, rrule=self.rrule, at=self.at)
                if self.duration is None:
                    raise ValueError("a recurring window needs a duration (e.g. 2h)")
                if end is not None:
                    raise ValueError("a recurring window takes a duration, not an end")
                # at most once an hour, each occurrence over before the next one
                check_rule(rule, self.duration, start, tz)
            else:
                if start is None:
                    raise ValueError("give start (and end or duration), or a recurrence "
                                     "(weekly, monthly, daily, cron, rrule)")
                if (end is None) == (self.duration is None):
                    raise ValueError("give either end or duration")
                if end is not None and end <= start:
                    raise ValueError("end must be after start")
                if self.at is not None:
                    raise ValueError("'at' applies to recurring windows only")
        except RuleError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def recurring(self) -> bool:
        """Has a recurrence."""
        return any(v not in (None, [], "", False) for v in (
            self.weekly, self.monthly, self.daily, self.cron, self.rrule))
