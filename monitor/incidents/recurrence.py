"""Maintenance recurrence rules and their occurrences, correct across daylight saving, in
bounded time.

A rule is stored as one string: ``RRULE:FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0``
(RFC 5545, evaluated by python-dateutil) or ``CRON:0 2 * * 0`` (evaluated by croniter).
Both are evaluated in *wall-clock* time of the window's time zone, then each start and end
is placed on the time line with :mod:`zoneinfo`. So "every Sunday 02:00 for 2h" means
02:00 to 04:00 local time every week: on the night clocks go forward (last Sunday of
March in Europe/Paris) 02:00 does not exist, the window runs 03:00–04:00 CEST (1 h); on
the night they go back (last Sunday of October) it runs 02:00 CEST–04:00 CET (3 h).

The friendly forms of the configuration (``weekly: sunday``, ``monthly: first sunday``,
``at: "02:00"``) are turned into an RRULE by :func:`build_rule`.

**Bounds** (a ``FREQ=SECONDLY`` rule once made every evaluation run for ever):

- a maintenance window recurs at most once an hour (:data:`MIN_PERIOD`): an RRULE's
  ``FREQ`` is ``HOURLY`` or less often with one ``BYMINUTE`` and one ``BYSECOND`` at most,
  a cron rule's minute field is one number; and each occurrence ends before the next one
  starts. :func:`check_rule` says so, with a message in French and English;
- one evaluation spans at most :data:`MAX_RANGE` and examines at most
  :data:`MAX_OCCURRENCES` occurrences, from the asked instant rather than from the rule's
  first date (how: :mod:`monitor.incidents.walk`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from itertools import islice
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.incidents.walk import FREQS, MAX_OCCURRENCES, croniter, rrulestr, starts
from monitor.words import Words, _, n_

#: where an RRULE without an explicit first date starts counting (a Monday, at midnight)
DEFAULT_ANCHOR = datetime(2024, 1, 1)
#: shortest time between the starts of two occurrences of a window
MIN_PERIOD = 3600.0
#: longest span of time one evaluation looks at
MAX_RANGE = 400 * 86400.0
#: how many years from its first date a rule is looked at when checked, and ahead of now
#: by :func:`next_occurrence`
SAMPLE_YEARS = 5
SAMPLE_SPAN = SAMPLE_YEARS * 366 * 86400.0
#: occurrences looked at when a rule is checked (the shortest gap shows in the first ones)
SAMPLE_OCCURRENCES = 2_000

_DAYS = {
    "MO": ("monday", "lundi", "mo", "mon", "lun"),
    "TU": ("tuesday", "mardi", "tu", "tue", "mar"),
    "WE": ("wednesday", "mercredi", "we", "wed", "mer"),
    "TH": ("thursday", "jeudi", "th", "thu", "jeu"),
    "FR": ("friday", "vendredi", "fr", "fri", "ven"),
    "SA": ("saturday", "samedi", "sa", "sat", "sam"),
    "SU": ("sunday", "dimanche", "su", "sun", "dim"),
}
#: day name (English, French, abbreviated) → its RRULE code
DAY_CODE = {name: code for code, names in _DAYS.items() for name in names}
_ORDINALS = {
    "first": 1, "premier": 1, "1st": 1, "second": 2, "deuxième": 2, "deuxieme": 2, "2nd": 2,
    "third": 3, "troisième": 3, "troisieme": 3, "3rd": 3, "fourth": 4, "quatrième": 4,
    "quatrieme": 4, "4th": 4, "last": -1, "dernier": -1,
}
_TIME = re.compile(r"^([01]?\d|2[0-3])[:h]([0-5]\d)$")


class RuleError(ValueError):
    """A recurrence rule, a date or a time of day that cannot be understood or is refused.

    :attr:`words` say what was expected, from the catalogues (:mod:`monitor.words`);
    ``str(exc)`` in English (the configuration's errors), :attr:`fr` in French.
    :attr:`field` is ``"duration"`` when the rule is fine but its occurrences are too long
    for it.
    """

    def __init__(self, words: Words, *, field: str = "rule") -> None:
        super().__init__(words.en)
        self.words = words
        self.field = field

    @property
    def fr(self) -> str:
        """What is wrong, in French."""
        return self.words.fr

    @property
    def en(self) -> str:
        """What is wrong, in English."""
        return self.words.en


def _too_often(why: Words) -> Words:
    """``a maintenance window recurs at most once an hour: {why}``."""
    return _("a maintenance window recurs at most once an hour: {why}", why=why)


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
        raise RuleError(_("unknown time zone “{zone}” (e.g. Europe/Paris)",
                          zone=name)) from None


def parse_time_of_day(text: str) -> time:
    """``02:00`` or ``2h00`` → a :class:`datetime.time`."""
    match = _TIME.match(str(text).strip())
    if not match:
        raise RuleError(_("invalid time of day “{value}” (expected HH:MM, e.g. 02:00)",
                          value=text))
    return time(int(match.group(1)), int(match.group(2)))


def parse_datetime(value: str | datetime | float, tz: str) -> float:
    """A date and time as a Unix time: ISO 8601 text (``2026-03-29 02:00``, with or without
    an offset), a datetime, or already a number. Without an offset it is wall-clock time
    in ``tz``."""
    if isinstance(value, bool):
        raise RuleError(_("invalid date “{value}”", value=value))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise RuleError(_("invalid date “{value}” (expected e.g. 2026-03-29 02:00)",
                              value=value)) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz))
    return value.timestamp()


def day_code(name: str) -> str:
    """``sunday``/``dimanche``/``SU`` → ``SU``."""
    code = DAY_CODE.get(str(name).strip().lower())
    if code is None:
        raise RuleError(_("unknown day “{day}” (e.g. sunday or dimanche)", day=name))
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
    :raises RuleError: none or several forms given, one is invalid, or it recurs more
        often than once an hour (see :func:`check_rule` for the rest of the bounds).
    """
    given = [n for n, v in (("weekly", weekly), ("monthly", monthly), ("daily", daily or None),
                            ("cron", cron), ("rrule", rrule)) if v not in (None, [], "")]
    if len(given) != 1:
        if given:
            raise RuleError(_("give exactly one of weekly, monthly, daily, cron or rrule "
                              "(got {forms})", forms=", ".join(given)))
        raise RuleError(_("give exactly one of weekly, monthly, daily, cron or rrule"))
    if cron is not None:
        if at is not None:
            raise RuleError(_("“at” does not apply to a cron rule: put the time in the rule"))
        rule = "CRON:" + " ".join(str(cron).split())
        parse_rule(rule)
        return rule
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
    if at is not None:
        if any(p.startswith(("BYHOUR", "BYMINUTE")) for p in parts):
            raise RuleError(_("give the time either in “at” or in the rrule, not both"))
        tod = parse_time_of_day(at)
        parts += [f"BYHOUR={tod.hour}", f"BYMINUTE={tod.minute}", "BYSECOND=0"]
    rule = "RRULE:" + ";".join(parts)
    parse_rule(rule)
    return rule


def _monthly_part(monthly: str | int) -> str:
    if isinstance(monthly, int) or str(monthly).lstrip("-").isdigit():
        day = int(monthly)
        if not (1 <= day <= 31 or day == -1):
            raise RuleError(_("invalid day of month “{value}” (1 to 31, or -1 for the last)",
                              value=monthly))
        return f"BYMONTHDAY={day}"
    words = str(monthly).strip().lower().split()
    if len(words) != 2 or words[0] not in _ORDINALS:
        raise RuleError(_("invalid monthly rule “{value}” (e.g. 15, “first sunday”, "
                          "“dernier samedi”)", value=monthly))
    return f"BYDAY={_ORDINALS[words[0]]}{day_code(words[1])}"


# Bounds -----------------------------------------------------------------------------------


def check_rule(rule: str, duration: float, anchor: float | None = None,
               tz: str = "UTC") -> None:
    """Refuse a rule Vigie will not evaluate, with what is wrong: not a rule it knows,
    more frequent than once an hour (:data:`MIN_PERIOD`), no occurrence within
    :data:`SAMPLE_SPAN` of its first date, or occurrences of ``duration`` seconds that
    would run into the next one. Cheap to repeat (the answer is remembered).

    :param anchor: Unix time of the first possible occurrence (the window's ``start``).
    :raises RuleError: with ``field`` ``"rule"`` or ``"duration"``.
    """
    zi = zone(tz)
    first = local_time(anchor, zi) if anchor is not None else DEFAULT_ANCHOR
    gap = _min_gap(rule, first)
    if isinstance(gap, RuleError):
        raise gap
    if not duration or duration <= 0:
        raise RuleError(_("each occurrence needs a duration (e.g. 2h)"), field="duration")
    if duration >= gap:
        raise RuleError(_("each occurrence must end before the next one starts: {duration} "
                          "is not shorter than the {gap} between two of them",
                          duration=span(duration), gap=span(gap)), field="duration")


@lru_cache(maxsize=1024)
def _min_gap(rule: str, first: datetime) -> float | RuleError:
    """Shortest wall-clock time between two starts of ``rule`` over :data:`SAMPLE_SPAN`
    from ``first`` (``inf`` for a single one), or why the rule is refused (kept too, so a
    refused row stored in the database costs nothing at each tick)."""
    try:
        shape = parse_rule(rule)
    except RuleError as exc:
        return exc
    end = first + timedelta(seconds=SAMPLE_SPAN)
    found = list(islice(starts(shape, first, first, end), SAMPLE_OCCURRENCES))
    if not found:
        return RuleError(n_("the rule “{rule}” has no occurrence within {n} year of its start",
                            "the rule “{rule}” has no occurrence within {n} years of its start",
                            SAMPLE_YEARS, rule=rule))
    gap = min(((b - a).total_seconds() for a, b in zip(found, found[1:])),
              default=float("inf"))
    if gap < MIN_PERIOD:  # the shape should have said so: a second line of defence
        return RuleError(_too_often(_("“{rule}” recurs every {gap}", rule=rule,
                                      gap=span(gap))))
    return gap


@lru_cache(maxsize=1024)
def parse_rule(rule: str) -> Mapping[str, str] | str:
    """The parts of an RRULE (``{"FREQ": "WEEKLY", …}``, read-only) or the expression of a
    cron rule (``"0 2 * * 0"``); :class:`RuleError` when the rule is not one Vigie
    evaluates: an unknown form, invalid, or more frequent than once an hour by
    construction (then every two starts are at least an hour apart in wall-clock time)."""
    kind, _colon, body = str(rule).partition(":")
    if kind == "CRON":
        fields = body.split()
        if len(fields) != 5 or not croniter().is_valid(body):
            raise RuleError(_("invalid cron rule “{rule}” (expected 5 fields, e.g. "
                              "“0 2 * * 0”)", rule=body))
        if not fields[0].isdigit():
            raise RuleError(_too_often(_(
                "the minute field of a cron rule must be one number (e.g. “30 2 * * *”), "
                "not “{value}”", value=fields[0])))
        return body
    if kind != "RRULE" or not body:
        raise RuleError(_("unknown rule “{rule}” (expected RRULE:… or CRON:…)", rule=rule))
    parts: dict[str, str] = {}
    for part in body.upper().split(";"):
        name, equal, value = part.partition("=")
        if not equal or not name or not value:
            raise RuleError(_("invalid rrule “{rule}”: “{part}” is not NAME=VALUE",
                              rule=body, part=part))
        parts[name] = value
    if any(name in parts for name in ("DTSTART", "UNTIL", "COUNT")):
        raise RuleError(_("the rrule must not hold DTSTART, UNTIL or COUNT: use “start” for "
                          "the first occurrence"))
    freq = parts.get("FREQ")
    if freq in ("MINUTELY", "SECONDLY"):
        raise RuleError(_too_often(_("FREQ={freq} is more frequent (use FREQ=HOURLY, DAILY, "
                                     "WEEKLY, MONTHLY or YEARLY)", freq=freq)))
    for name in ("BYMINUTE", "BYSECOND"):
        if "," in parts.get(name, ""):
            raise RuleError(_too_often(_("{name} must hold one value, not {value}",
                                         name=name, value=parts[name])))
    try:
        if freq not in FREQS:
            raise ValueError(f"unknown FREQ {freq!r}")
        if int(parts.get("INTERVAL", "1")) < 1:
            raise ValueError("INTERVAL must be 1 or more")
        rrulestr()("RRULE:" + body, dtstart=DEFAULT_ANCHOR)
    except (ValueError, TypeError, KeyError) as exc:
        raise RuleError(_("invalid rrule “{rule}”: {why}", rule=body, why=str(exc))) from None
    return MappingProxyType(parts)


def span(seconds: float) -> str:
    """``5400`` → ``1h30m``: a duration as volunteers write it."""
    if seconds == float("inf"):
        return "∞"
    seconds = int(round(seconds))
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out += f"{count}{unit}"
    return out or "0s"


# Occurrences ------------------------------------------------------------------------------


def occurrences(rule: str, duration: float, tz: str, since: float, until: float,
                anchor: float | None = None) -> list[Occurrence]:
    """Occurrences of ``rule`` overlapping ``[since, until)``, in order; ``until`` is
    brought back to ``since +`` :data:`MAX_RANGE`, and at most :data:`MAX_OCCURRENCES` are
    examined. The rule is assumed checked (:func:`check_rule`).

    :param duration: wall-clock length of each occurrence, seconds.
    :param anchor: Unix time of the first possible occurrence (the window's ``start``).
    """
    return [occ for _naive, occ in wall_clock_occurrences(rule, duration, tz, since, until,
                                                          anchor)]


def wall_clock_occurrences(rule: str, duration: float, tz: str, since: float, until: float,
                           anchor: float | None = None) -> list[tuple[datetime, Occurrence]]:
    """:func:`occurrences`, each with the naive wall-clock start the rule gave (which may
    not exist in ``tz``: 02:30 on the night clocks go forward), as a calendar names an
    occurrence of a recurrence (:mod:`monitor.incidents.calendar`)."""
    zi = zone(tz)
    until = min(until, since + MAX_RANGE)
    # a margin of a day around the range absorbs any offset change
    low = local_time(max(since - duration, anchor if anchor is not None else since - duration),
                     zi) - timedelta(days=1)
    high = local_time(until, zi) + timedelta(days=1)
    first = local_time(anchor, zi) if anchor is not None else DEFAULT_ANCHOR
    out = []
    step = timedelta(seconds=duration)
    for naive in starts(parse_rule(rule), first, low, high):
        start = naive.replace(tzinfo=zi).timestamp()
        end = (naive + step).replace(tzinfo=zi).timestamp()
        if anchor is not None and start < anchor:
            continue
        if end > start and end > since and start < until:
            out.append((naive, Occurrence(start, end)))
    return out


def next_occurrence(rule: str, duration: float, tz: str, after: float,
                    anchor: float | None = None,
                    horizon: float = SAMPLE_SPAN) -> Occurrence | None:
    """The first occurrence ending after ``after`` (the current one if it is running),
    looked for up to ``horizon`` ahead, one :data:`MAX_RANGE` at a time."""
    since = after
    while since < after + horizon:
        found = occurrences(rule, duration, tz, since, after + horizon, anchor)
        if found:
            return found[0]
        since += MAX_RANGE
    return None


def local_time(at: float, zi: ZoneInfo) -> datetime:
    """Unix time ``at`` as a naive wall-clock time of ``zi``."""
    return datetime.fromtimestamp(at, zi).replace(tzinfo=None)


__all__ = [
    "DAY_CODE", "DEFAULT_ANCHOR", "MAX_OCCURRENCES", "MAX_RANGE", "MIN_PERIOD", "Occurrence",
    "RuleError", "build_rule", "check_rule", "day_code", "local_time", "next_occurrence",
    "occurrences", "parse_datetime", "parse_rule", "parse_time_of_day", "span",
    "wall_clock_occurrences", "zone",
]
