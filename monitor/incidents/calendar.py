"""Maintenance windows as a calendar app reads them (RFC 5545), in plain values.

The dashboard writes ``/maintenance.ics`` and one calendar per service from these
records (``dashboard/calendars.py``); this module says *what* each window is in calendar
terms, with Vigie's own expansion of its rule (:mod:`monitor.incidents.recurrence`) as
the truth:

- a one-off window is one :class:`Instance` (UTC instants);
- a recurring window with an RRULE is one :class:`Recurrence`: the rule with every part
  Vigie takes from the window's first date written out, its first occurrence as DTSTART
  (wall-clock time of the window's time zone) and each occurrence's exact length as
  DURATION. Vigie's occurrences last ``duration`` of *wall-clock* time, a calendar's
  ``duration`` of real time: on the nights clocks change the two differ (02:00–04:00 on
  the last Sunday of March is one hour), and Vigie drops an occurrence that the change
  swallows whole. So the occurrences from :data:`KEEP` ago to :data:`AHEAD` ahead are
  expanded both ways and compared where they can differ (around each change of the
  clocks, and the cancellation) and over their first two weeks: one whose instants
  differ is written again (RECURRENCE-ID with its own start and end), one Vigie does not
  have is excluded (EXDATE). When the rule's starts and the calendar's do not agree
  (which the parts written out should prevent), the window is expanded instead;
- a cron rule (``CRON:…``), which RFC 5545 cannot say in general, is expanded: its
  occurrences from :data:`KEEP` ago to :data:`AHEAD` ahead, at most
  :data:`MAX_EXPANDED` (a fifth of them at most before the day), each an
  :class:`Instance` of its own, collected by number (an hourly rule costs what it
  gives, not a year of occurrences).

A cancelled window: a one-off one cancelled before it started is marked cancelled; one
cancelled while it ran ends then (as the page shows it). A recurring one keeps the
occurrences that started before the cancellation (the running one ends then), and its
next occurrence is marked cancelled and is its last (RRULE ``UNTIL``); the whole series
is cancelled when that was its first.

Each record carries the window's creation and last change (``updated_at``): its
``SEQUENCE`` is the number of seconds between them, so it grows with every change (two
changes within one second share one; ``LAST-MODIFIED`` and ``DTSTAMP`` still differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from monitor.incidents.recurrence import (
    DEFAULT_ANCHOR,
    MAX_RANGE,
    SAMPLE_SPAN,
    local_time,
    parse_rule,
    wall_clock_occurrences,
    zone,
)
from monitor.incidents.walk import explicit_parts, starts
from monitor.words import Bilingual

#: how long a calendar keeps what happened (past occurrences, cancelled windows)
KEEP = 90 * 86400.0
#: how far ahead occurrences are compared (or expanded): every change of the clocks of
#: the year to come
AHEAD = MAX_RANGE
#: most occurrences written out for a window no RRULE says (an hourly cron rule)
MAX_EXPANDED = 500
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Instance:
    """One occurrence as a calendar event: Unix times, and whether it is cancelled."""

    start: float
    end: float
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A recurring window as one RFC 5545 recurrence (see the module)."""

    #: the RRULE value, every part written out; ``UNTIL`` (UTC) when the window stopped
    rrule: str
    #: DTSTART: the first occurrence, naive wall-clock time of the window's time zone
    first: datetime
    #: DURATION: seconds of real time each occurrence lasts unless written again
    duration: float
    #: EXDATE: starts (naive wall-clock) of occurrences the rule gives and Vigie has not
    exdates: tuple[datetime, ...] = ()
    #: occurrences written again (RECURRENCE-ID: their naive wall-clock start)
    overrides: tuple[tuple[datetime, Instance], ...] = ()
    #: the whole series is cancelled (it was cancelled before its first occurrence)
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class CalendarWindow:
    """A maintenance window for a calendar: its public texts, the services it covers,
    its revision times, and either a :class:`Recurrence` or its :class:`Instance` list."""

    id: int
    title: Bilingual
    message: Bilingual
    service_ids: tuple[str, ...]
    timezone: str
    created_at: float
    updated_at: float
    recurrence: Recurrence | None = None
    instances: tuple[Instance, ...] = ()
    #: a recurring window written as separate occurrences (not an RRULE)
    expanded: bool = False

    @property
    def sequence(self) -> int:
        """RFC 5545 ``SEQUENCE``: seconds from creation to the last change."""
        return max(0, int(self.updated_at - self.created_at))

    def covers(self, service_id: str) -> bool:
        """The window concerns this service."""
        return service_id in self.service_ids


def one_off(start: float, end: float, cancelled_at: float | None) -> Instance:
    """A one-off window's event: cancelled when cancelled before it started, ending at
    the cancellation when cancelled while it ran."""
    if cancelled_at is None or cancelled_at >= end:
        return Instance(start, end)
    if cancelled_at <= start:
        return Instance(start, end, cancelled=True)
    return Instance(start, cancelled_at)


def recurring(rule: str, duration: float, tz: str, *, anchor: float | None,
              cancelled_at: float | None, lower: float, now: float
              ) -> Recurrence | tuple[Instance, ...]:
    """A recurring window as a :class:`Recurrence`, or as its occurrences around ``now``
    when no RRULE says it (a cron rule, or starts that do not agree).

    :param anchor: the window's first possible start (its ``start``), or None.
    :param lower: no occurrence starting before this is shown (the anchor, or the window's
        creation when it has none).
    :param now: the time of the calendar; the comparison is kept for the day.
    """
    day = now // _DAY * _DAY
    found = _recurrence(rule, duration, tz, anchor, cancelled_at, lower, day)
    if found is not None:
        return found
    return _expanded(rule, duration, tz, anchor, cancelled_at, lower, day)


#: the first range looked at when occurrences are collected by number (then 4× longer)
_FIRST_SPAN = _DAY


def _first_from(rule: str, duration: float, tz: str, at: float,
                anchor: float | None) -> tuple[datetime, Instance] | None:
    """The first occurrence starting at ``at`` or later (looked for up to
    :data:`SAMPLE_SPAN` ahead), with its naive wall-clock start."""
    found = _collect(rule, duration, tz, anchor, at, at + SAMPLE_SPAN, 1)
    return found[0] if found else None


def _vigie(rule: str, duration: float, tz: str, anchor: float | None, low: float,
           high: float) -> list[tuple[datetime, Instance]]:
    """Vigie's occurrences starting in ``[low, high)`` (over several ranges if needed)."""
    out: list[tuple[datetime, Instance]] = []
    since = low
    while since < high:
        until = min(high, since + MAX_RANGE)
        out += [(naive, Instance(o.start, o.end)) for naive, o in
                wall_clock_occurrences(rule, duration, tz, since, until, anchor)
                if since <= o.start < until]
        since = until
    return out


def _collect(rule: str, duration: float, tz: str, anchor: float | None, low: float,
             high: float, limit: int, *, last: bool = False) -> list[tuple[datetime, Instance]]:
    """The first ``limit`` occurrences starting in ``[low, high)`` (the ``last`` ones),
    looked for in ranges growing from a day: an hourly rule costs what it gives."""
    found: list[tuple[datetime, Instance]] = []
    span = _FIRST_SPAN
    if last:
        until = high
        while until > low and len(found) < limit:
            since = max(low, until - span)
            found = _vigie(rule, duration, tz, anchor, since, until) + found
            until, span = since, min(span * 4, MAX_RANGE)
        return found[max(0, len(found) - limit):]
    since = low
    while since < high and len(found) < limit:
        until = min(high, since + span)
        found += _vigie(rule, duration, tz, anchor, since, until)
        since, span = until, min(span * 4, MAX_RANGE)
    return found[:limit]


def _cut(found: list[tuple[datetime, Instance]],
         cancelled_at: float | None) -> list[tuple[datetime, Instance]]:
    """Occurrences as a cancellation leaves them: those started before it, ending then."""
    if cancelled_at is None:
        return found
    return [(naive, Instance(i.start, min(i.end, cancelled_at))) for naive, i in found
            if i.start < cancelled_at]


def _compared(tz: str, duration: float, low: float, high: float,
              cancelled_at: float | None) -> list[tuple[float, float]]:
    """Where a recurrence and Vigie's occurrences are compared: their first two weeks,
    and around each change of the clocks (an occurrence's wall-clock length and its real
    length differ only when it spans one) and the cancellation; merged, within
    ``[low, high)``."""
    around = [change[0].timestamp() for change in clock_changes(
        tz, datetime.fromtimestamp(low, UTC).year, datetime.fromtimestamp(high, UTC).year)]
    if cancelled_at is not None:
        around.append(cancelled_at)
    ranges = sorted([(low, low + 14 * _DAY)] + [
        (at - duration - _DAY, at + _DAY) for at in around])
    merged: list[tuple[float, float]] = []
    for since, until in ranges:
        since, until = max(since, low), min(until, high)
        if since >= until:
            continue
        if merged and since <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], until))
        else:
            merged.append((since, until))
    return merged


@lru_cache(maxsize=256)
def _recurrence(rule: str, duration: float, tz: str, anchor: float | None,
                cancelled_at: float | None, lower: float, day: float) -> Recurrence | None:
    shape = parse_rule(rule)
    if isinstance(shape, str):
        return None  # cron: expanded
    zi = zone(tz)
    first = _first_from(rule, duration, tz, lower, anchor)
    if first is None:
        return None
    parts = explicit_parts(shape, local_time(anchor, zi) if anchor is not None
                           else DEFAULT_ANCHOR)
    counted = dict(parts)
    dtstart = first[0]
    low, high = max(lower, day - KEEP), day + _DAY + AHEAD
    stop: tuple[datetime, Instance] | None = None
    if cancelled_at is not None:
        stop = _first_from(rule, duration, tz, cancelled_at, anchor)
        until = stop[1].start if stop is not None else cancelled_at
        parts["UNTIL"] = datetime.fromtimestamp(until, UTC).strftime("%Y%m%dT%H%M%SZ")
        high = min(high, until + 1)
    vigie: dict[datetime, Instance] = {}
    calendar: list[datetime] = []
    for since, until in _compared(tz, duration, low, high, cancelled_at):
        vigie.update(_cut(_vigie(rule, duration, tz, anchor, since, until), cancelled_at))
        # the calendar's starts: the rule with its parts written out, counted from DTSTART
        for naive in starts(counted, dtstart, local_time(since, zi) - timedelta(days=1),
                            local_time(until, zi) + timedelta(days=1)):
            if since <= naive.replace(tzinfo=zi).timestamp() < until:
                calendar.append(naive)
    if set(vigie) - set(calendar):
        return None  # the RRULE would miss occurrences: expanded
    cancelled = stop[0] if stop is not None else None
    exdates = tuple(sorted(n for n in set(calendar) if n not in vigie and n != cancelled))
    overrides = []
    for naive, inst in sorted(vigie.items()):
        exact = naive.replace(tzinfo=zi).timestamp()
        if inst.start != exact or inst.end != exact + duration:
            overrides.append((naive, inst))
    whole = stop is not None and stop[0] == dtstart
    if stop is not None and not whole:
        overrides.append((stop[0], Instance(stop[1].start, stop[1].end, cancelled=True)))
    return Recurrence(";".join(f"{k}={v}" for k, v in parts.items()), dtstart, duration,
                      exdates, tuple(overrides), whole)


@lru_cache(maxsize=256)
def _expanded(rule: str, duration: float, tz: str, anchor: float | None,
              cancelled_at: float | None, lower: float, day: float) -> tuple[Instance, ...]:
    low, high = max(lower, day - KEEP), day + _DAY + AHEAD
    if cancelled_at is not None:
        high = min(high, cancelled_at)  # nothing starting later is kept
    keep_past = MAX_EXPANDED // 5
    past = _collect(rule, duration, tz, anchor, low, min(day, high), keep_past, last=True)
    coming = _collect(rule, duration, tz, anchor, max(day, low), high,
                      MAX_EXPANDED - len(past))
    found = [i for _naive, i in _cut(past + coming, cancelled_at)]
    if cancelled_at is not None and len(found) < MAX_EXPANDED:
        stop = _first_from(rule, duration, tz, cancelled_at, anchor)
        if stop is not None and stop[1].start < day + _DAY + AHEAD:
            found.append(Instance(stop[1].start, stop[1].end, cancelled=True))
    return tuple(found)


# Changes of the clocks ----------------------------------------------------------------


def _state(zi: ZoneInfo, at: int) -> tuple[timedelta, bool, str]:
    local = datetime.fromtimestamp(at, zi)
    return local.utcoffset() or timedelta(), bool(local.dst()), local.tzname() or ""


@lru_cache(maxsize=64)
def clock_changes(tz: str, first_year: int, last_year: int
                  ) -> tuple[tuple[datetime, timedelta, timedelta, str, bool], ...]:
    """Every change of the time zone ``tz`` (its offset, name or daylight saving) from
    ``first_year`` to the end of ``last_year``: ``(instant in UTC, offset before, offset
    after, name after, daylight saving after)``, found day by day, then to the second
    (two changes within one day are seen as one)."""
    zi = zone(tz)
    at = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(last_year + 1, 1, 1, tzinfo=UTC).timestamp())
    current = _state(zi, at)
    out = []
    while at < end:
        following = _state(zi, at + 86400)
        if following == current:
            at += 86400
            continue
        low, high = at, at + 86400  # current at low, something else at high
        while high - low > 1:
            middle = (low + high) // 2
            if _state(zi, middle) == current:
                low = middle
            else:
                high = middle
        after = _state(zi, high)
        out.append((datetime.fromtimestamp(high, UTC), current[0], after[0], after[2],
                    after[1]))
        current, at = after, high
    return tuple(out)


__all__ = [
    "AHEAD", "KEEP", "MAX_EXPANDED", "CalendarWindow", "Instance", "Recurrence",
    "clock_changes", "one_off", "recurring",
]
