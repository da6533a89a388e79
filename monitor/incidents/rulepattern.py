"""What a maintenance rule says, in the terms a sentence is made of.

:func:`describe` reads a checked rule (:mod:`monitor.incidents.recurrence`) into a
:class:`Pattern`: "every week on Sunday at 02:00 for 2 h", "every first Sunday of the
month"…, or a generic pattern for a rule no sentence says fully. The dashboard words it in
the reader's language (``dashboard/rulewords.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from functools import lru_cache

from monitor.incidents.recurrence import (
    DAY_CODE,
    DEFAULT_ANCHOR,
    local_time,
    parse_rule,
    zone,
)


@dataclass(frozen=True, slots=True)
class Pattern:
    """What a checked rule says, in the terms a sentence is made of; the dashboard words
    it in the reader's language (``dashboard/rulewords.py``: "chaque premier dimanche du
    mois, de 6 h à 6 h 30").

    ``every`` is ``"hour"``, ``"day"``, ``"week"`` or ``"month"`` for the forms Vigie's
    configuration writes (``daily``, ``weekly``, ``monthly``, ``at``) and the RRULE and
    cron rules that mean the same; None for any other rule (a generic sentence, with
    :attr:`at` when the rule fixes the time of day). Times are wall-clock times of the
    window's time zone.
    """

    every: str | None
    interval: int = 1
    #: weekdays (``MO``…``SU``, in week order): of a weekly rule, or the one day of a
    #: monthly rule with :attr:`ordinal`
    days: tuple[str, ...] = ()
    #: 1 to 5 or -1 (last): "the first Sunday" of a monthly rule
    ordinal: int | None = None
    #: 1 to 31 or -1 (the last day): a monthly rule on a day of the month
    month_day: int | None = None
    #: when each occurrence starts; None when the rule does not fix one time of day
    at: time | None = None
    #: seconds each occurrence lasts
    duration: float = 0.0


_WEEK = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_CRON_DAYS = {"0": "SU", "7": "SU", "1": "MO", "2": "TU", "3": "WE", "4": "TH", "5": "FR",
              "6": "SA"}
#: RRULE parts :func:`describe` words (any other makes the generic sentence)
_WORDED = frozenset({"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYHOUR", "BYMINUTE",
                     "BYSECOND", "WKST"})
_ORDINAL_DAY = re.compile(r"^([+-]?[1-5])([A-Z]{2})$")


@lru_cache(maxsize=1024)
def describe(rule: str, duration: float, tz: str = "UTC",
             anchor: float | None = None) -> Pattern:
    """The :class:`Pattern` of a checked ``rule`` whose occurrences last ``duration``
    seconds; ``anchor`` (the window's ``start``, in ``tz``) gives what an RRULE leaves to
    its first date (the time of day, the weekday of a weekly rule…)."""
    shape = parse_rule(rule)
    if isinstance(shape, str):
        return _cron_pattern(shape.split(), duration)
    first = local_time(anchor, zone(tz)) if anchor is not None else DEFAULT_ANCHOR
    return _rrule_pattern(shape, duration, first)


def _one(value: str | None, default: int) -> int | None:
    """One number of a ``BY…`` part (``default`` when absent, None when several)."""
    if value is None:
        return default
    return None if "," in value else int(value)


def _rrule_pattern(parts: Mapping[str, str], duration: float, first: datetime) -> Pattern:
    freq, interval = parts["FREQ"], int(parts.get("INTERVAL", "1"))
    hour, minute = _one(parts.get("BYHOUR"), first.hour), _one(parts.get("BYMINUTE"),
                                                                first.minute)
    at = time(hour, minute) if hour is not None and minute is not None else None
    generic = Pattern(None, interval, at=at, duration=duration)
    byday, monthday = parts.get("BYDAY"), parts.get("BYMONTHDAY")
    if set(parts) - _WORDED:
        return generic
    if freq == "HOURLY":
        if byday or monthday or "BYHOUR" in parts:
            return generic
        return Pattern("hour", interval, duration=duration)
    if at is None or freq not in ("DAILY", "WEEKLY", "MONTHLY"):
        return generic
    if freq == "DAILY":
        return generic if byday or monthday else Pattern("day", interval, at=at,
                                                         duration=duration)
    if freq == "WEEKLY":
        codes = byday.split(",") if byday else [_WEEK[first.weekday()]]
        if monthday or any(code not in _WEEK for code in codes):
            return generic
        return Pattern("week", interval, days=_in_week_order(codes), at=at, duration=duration)
    if interval != 1 or (byday and monthday):
        return generic
    if byday:
        match = _ORDINAL_DAY.match(byday)
        if not match:
            return generic
        return Pattern("month", days=(match.group(2),), ordinal=int(match.group(1)), at=at,
                       duration=duration)
    day = _one(monthday, first.day)
    return generic if day is None else Pattern("month", month_day=day, at=at,
                                               duration=duration)


def _cron_pattern(fields: list[str], duration: float) -> Pattern:
    minute, hour, monthday, month, weekday = fields
    at = time(int(hour), int(minute)) if hour.isdigit() else None
    generic = Pattern(None, at=at, duration=duration)
    if month != "*":
        return generic
    if hour == "*" and monthday == "*" and weekday == "*":
        return Pattern("hour", duration=duration)
    if at is None:
        return generic
    if monthday == "*" and weekday == "*":
        return Pattern("day", at=at, duration=duration)
    if monthday == "*":
        day, _hash, nth = weekday.partition("#")
        code = _cron_day(day)
        if nth:
            if code is None or nth not in ("1", "2", "3", "4", "5"):
                return generic
            return Pattern("month", days=(code,), ordinal=int(nth), at=at, duration=duration)
        codes = [_cron_day(d) for d in weekday.split(",")]
        if None in codes:
            return generic
        return Pattern("week", days=_in_week_order(codes), at=at, duration=duration)
    if weekday == "*" and (monthday.isdigit() or monthday == "L"):
        return Pattern("month", month_day=-1 if monthday == "L" else int(monthday), at=at,
                       duration=duration)
    return generic


def _cron_day(text: str) -> str | None:
    """A cron weekday (``0``–``7``, ``sun``…) as ``SU``…; None for anything else (a range,
    a step)."""
    return _CRON_DAYS.get(text) or DAY_CODE.get(text.lower()) if text else None


def _in_week_order(codes) -> tuple[str, ...]:
    return tuple(sorted(set(codes), key=_WEEK.index))


__all__ = ["Pattern", "describe"]
