"""Maintenance recurrence rules and their occurrences, correct across daylight saving.

A rule is stored as one string: ``RRULE:FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0``
(RFC 5545, evaluated by python-dateutil) or ``CRON:0 2 * * 0`` (evaluated by croniter).
Both are evaluated in *wall-clock* time of the window's time zone, then each start and end
is placed on the time line with :mod:`zoneinfo`. So "every Sunday 02:00 for 2h" means
02:00 to 04:00 local time every week: on the night clocks go forward (last Sunday of
March in Europe/Paris) 02:00 does not exist, the window runs 03:00–04:00 CEST (1 h); on
the night they go back (last Sunday of October) it runs 02:00 CEST–04:00 CET (3 h).

The friendly forms of the configuration (``weekly: sunday``, ``monthly: first sunday``,
``at: "02:00"``) are turned into an RRULE by :func:`build_rule`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


#: where an RRULE without an explicit first date starts counting (a Monday, at midnight)
DEFAULT_ANCHOR = datetime(2024, 1, 1)

_DAYS = {
    "MO": ("monday", "lundi", "mo", "mon", "lun"),
    "TU": ("tuesday", "mardi", "tu", "tue", "mar"),
    "WE": ("wednesday", "mercredi", "we", "wed", "mer"),
    "TH": ("thursday", "jeudi", "th", "thu", "jeu"),
    "FR": ("friday", "vendredi", "fr", "fri", "ven"),
    "SA": ("saturday", "samedi", "sa", "sat", "sam"),
    "SU": ("sunday", "dimanche", "su", "sun", "dim"),
}
_DAY_CODE = {name: code for code, names in _DAYS.items() for name in names}
_ORDINALS = {
    "first": 1, "premier": 1, "1st": 1, "second": 2, "deuxième": 2, "deuxieme": 2, "2nd": 2,
    "third": 3, "troisième": 3, "troisieme": 3, "3rd": 3, "fourth": 4, "quatrième": 4,
    "quatrieme": 4, "4th": 4, "last": -1, "dernier": -1,
}
_TIME = re.compile(r"^([01]?\d|2[0-3])[:h]([0-5]\d)$")


class RuleError(ValueError):
    """A recurrence rule, a date or a time of day that cannot be understood (the message
    says what was expected)."""


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of a window, as Unix times."""

    start: float
    end: float

    def contains(self, at: float) -> bool:
        """``start <= at < end``."""
        return self.start <= at < self.end


def zone(name: str) -> ZoneInfo:
    """The time zone ``name``, or :class:`RuleError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(f"unknown time zone {name!r} (e.g. Europe/Paris)") from None


def parse_time_of_day(text: str) -> time:
    """``02:00`` or ``2h00`` → a :class:`datetime.time`."""
    match = _TIME.match(str(text).strip())
    if not match:
        raise RuleError(f"invalid time of day {text!r} (expected HH:MM, e.g. 02:00)")
    return time(int(match.group(1)), int(match.group(2)))


def parse_datetime(value: str | datetime | float, tz: str) -> float:
    """A date and time as a Unix time: ISO 8601 text (``2026-03-29 02:00``, with or without
    an offset), a datetime, or already a number. Without an offset it is wall-clock time
    in ``tz``."""
    if isinstance(value, bool):
        raise RuleError(f"invalid date {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise RuleError(f"invalid date {value!r} (expected e.g. 2026-03-29 02:00)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz))
    return value.timestamp()


def day_code(name: str) -> str:
    """``sunday``/``dimanche``/``SU`` → ``SU``."""
    code = _DAY_CODE.get(str(name).strip().lower())
    if code is None:
        raise RuleError(f"unknown day {name!r} (e.g. sunday or dimanche)")
    return code


def build_rule(*, weekly: str | list[str] | None = None, monthly: str | int | None = None,
               daily: bool = False, cron: str | None = None, rrule: str | None = None,
               at: str | None = None) -> str:
    """The stored rule for one of the recurrence forms.

    :param weekly: a day or a list of days (``sunday``, ``dimanche``…).
    :param monthly: a day of the month (1–31, -1 for the last day) or ``first sunday``,
        ``last saturday``, ``premier lundi``…
    :param daily: every day.
    :param cron: a five-field cron expression (minute hour day-of-month month weekday).
    :param rrule: an RFC 5545 RRULE (``FREQ=WEEKLY;BYDAY=SU;BYHOUR=2``).
    :param at: time of day (``02:00``) for weekly, monthly, daily and RRULE forms.
    :raises RuleError: none or several forms given, or one is invalid.
    """
    given = [n for n, v in (("weekly", weekly), ("monthly", monthly), ("daily", daily or None),
                            ("cron", cron), ("rrule", rrule)) if v not in (None, [], "")]
    if len(given) != 1:
        raise RuleError("give exactly one of weekly, monthly, daily, cron or rrule"
                        + (f" (got {', '.join(given)})" if given else ""))
    if cron is not None:
        if at is not None:
            raise RuleError("'at' does not apply to a cron rule: put the time in the rule")
        expr = " ".join(str(cron).split())
        if len(expr.split()) != 5 or not _croniter().is_valid(expr):
            raise RuleError(f"invalid cron rule {cron!r} (expected 5 fields, e.g. '0 2 * * 0')")
        return f"CRON:{expr}"
    parts: list[str]
    if weekly is not None:
        days = [weekly] if isinstance(weekly, str) else list(weekly)
        parts = ["FREQ=WEEKLY", "BYDAY=" + ",".join(day_code(d) for d in days)]
    elif monthly is not None:
        parts = ["FREQ=MONTHLY", _monthly_part(monthly)]
    elif daily:
        parts = ["FREQ=DAILY"]
    else:
        body = str(rrule).strip()
        if body.upper().startswith("RRULE:"):
            body = body[6:]
        parts = [p for p in body.upper().split(";") if p]
        if any(p.startswith(("DTSTART", "UNTIL", "COUNT")) for p in parts):
            raise RuleError("the rrule must not hold DTSTART, UNTIL or COUNT: use 'start' "
                            "for the first occurrence")
    if at is not None:
        if any(p.startswith(("BYHOUR", "BYMINUTE")) for p in parts):
            raise RuleError("give the time either in 'at' or in the rrule, not both")
        tod = parse_time_of_day(at)
        parts += [f"BYHOUR={tod.hour}", f"BYMINUTE={tod.minute}", "BYSECOND=0"]
    rule = "RRULE:" + ";".join(parts)
    try:
        _rrulestr()(rule, dtstart=DEFAULT_ANCHOR)
    except (ValueError, TypeError) as exc:
        raise RuleError(f"invalid rrule {rrule or rule!r}: {exc}") from None
    return rule


def _monthly_part(monthly: str | int) -> str:
    if isinstance(monthly, int) or str(monthly).lstrip("-").isdigit():
        day = int(monthly)
        if not (1 <= day <= 31 or day == -1):
            raise RuleError(f"invalid day of month {monthly!r} (1 to 31, or -1 for the last)")
        return f"BYMONTHDAY={day}"
    words = str(monthly).strip().lower().split()
    if len(words) != 2 or words[0] not in _ORDINALS:
        raise RuleError(f"invalid monthly rule {monthly!r} (e.g. 15, 'first sunday', "
                        "'dernier samedi')")
    return f"BYDAY={_ORDINALS[words[0]]}{day_code(words[1])}"


def occurrences(rule: str, duration: float, tz: str, since: float, until: float,
                anchor: float | None = None) -> list[Occurrence]:
    """Occurrences of ``rule`` overlapping ``[since, until)``, in order.

    :param duration: wall-clock length of each occurrence, seconds.
    :param anchor: Unix time of the first possible occurrence (the window's ``start``).
    """
    zi = zone(tz)
    # a margin of a day around the range absorbs any offset change
    low = _local(max(since - duration, anchor or since - duration), zi) - timedelta(days=1)
    high = _local(until, zi) + timedelta(days=1)
    starts = _wall_starts(rule, low, high, _local(anchor, zi) if anchor is not None else None)
    out = []
    step = timedelta(seconds=duration)
    for naive in starts:
        start = naive.replace(tzinfo=zi).timestamp()
        end = (naive + step).replace(tzinfo=zi).timestamp()
        if anchor is not None and start < anchor:
            continue
        if end > start and end > since and start < until:
            out.append(Occurrence(start, end))
    return out


def next_occurrence(rule: str, duration: float, tz: str, after: float,
                    anchor: float | None = None, horizon: float = 400 * 86400) -> Occurrence | None:
    """The first occurrence ending after ``after`` (the current one if it is running)."""
    found = occurrences(rule, duration, tz, after, after + horizon, anchor)
    return found[0] if found else None


def _local(at: float, zi: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(at, zi).replace(tzinfo=None)


def _wall_starts(rule: str, low: datetime, high: datetime,
                 anchor: datetime | None) -> list[datetime]:
    kind, _, body = rule.partition(":")
    if kind == "CRON":
        it = _croniter()(body, low - timedelta(seconds=1))
        out = []
        while True:
            start = it.get_next(datetime)
            if start > high:
                return out
            out.append(start)
    if kind != "RRULE":
        raise RuleError(f"unknown rule {rule!r}")
    # counting always starts at the same instant, so implicit parts of a rule (weekday of
    # a weekly rule without BYDAY, parity of INTERVAL=2) never depend on when we ask
    dtstart = anchor or DEFAULT_ANCHOR
    parsed = _rrulestr()(rule, dtstart=dtstart)
    return list(parsed.between(low, high, inc=True))


# croniter (with pytz) is 3.5 MB of memory: imported by the first recurring window, not
# by every instance that has none.
def _croniter() -> Any:
    from croniter import croniter

    return croniter


def _rrulestr() -> Any:
    from dateutil.rrule import rrulestr

    return rrulestr
