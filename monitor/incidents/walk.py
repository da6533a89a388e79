"""Walking the starts of a checked recurrence rule in wall-clock time, in bounded time.

:mod:`monitor.incidents.recurrence` parses, checks and places occurrences on the time
line; this module only lists the naive wall-clock starts of a rule between two instants:

- a cron rule with croniter, from the asked instant (it has no first date to count from);
- an RRULE with python-dateutil, from the beginning of the period that holds the asked
  instant rather than from the rule's first date: the parts dateutil takes from the first
  date (weekday of a weekly rule without ``BYDAY``, day of a monthly one, time of day…)
  are written out, and the period is one of those counted every ``INTERVAL`` from the
  first date's, so the starts are those dateutil gives from the first date;
- at most :data:`MAX_OCCURRENCES` starts, and dateutil's search for the next one stops
  a few periods past the end of the range (:func:`_bounded_rrule`).

croniter (with pytz, 3.5 MB) and dateutil's rrule are imported by the first recurring
window, not by every instance that has none.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from functools import cache
from itertools import islice
from typing import Any

#: most occurrences one evaluation examines (an hourly rule has 9,600 in 400 days)
MAX_OCCURRENCES = 10_000
#: RRULE frequencies Vigie evaluates, least frequent first
FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
#: parts saying on which days an RRULE falls (without them dateutil takes the first date's)
_DAY_PARTS = ("BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYWEEKDAY", "BYEASTER")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # as datetime.weekday()
#: shortest length of each frequency's period (how many periods a range holds, at most)
_PERIOD = {"YEARLY": timedelta(days=365), "MONTHLY": timedelta(days=28),
           "WEEKLY": timedelta(weeks=1), "DAILY": timedelta(days=1),
           "HOURLY": timedelta(hours=1)}


def starts(shape: Mapping[str, str] | str, first: datetime, low: datetime,
           high: datetime) -> Iterator[datetime]:
    """Wall-clock starts from ``low`` to ``high`` of a rule counted from ``first``: an
    RRULE's parts (``{"FREQ": "WEEKLY", …}``, checked) or a cron expression."""
    if isinstance(shape, str):  # cron: no first date to count from
        iterator = croniter()(shape, max(low, first) - timedelta(seconds=1),
                              max_years_between_matches=2)

        def follow():
            while True:
                try:
                    yield iterator.get_next(datetime)
                except Exception:  # croniter's "no date found" (CroniterBadDateError)
                    return
        generated = follow()
    else:
        generated = iter(_rrule(shape, first, low, high))
    try:
        for start in islice(generated, MAX_OCCURRENCES):
            if start > high:
                return
            if start >= low:
                yield start
    except (_Exhausted, ValueError, OverflowError):  # the search budget, a year past 9999
        return


def explicit_parts(parts: Mapping[str, str], first: datetime) -> dict[str, str]:
    """An RRULE's parts with what dateutil (and RFC 5545) would take from the first date
    ``first`` written out: the weekday of a weekly rule without days, the day (and month)
    of a monthly (yearly) one, the time of day. The rule then gives the same starts
    counted from any of its occurrences in place of ``first``."""
    parts = dict(parts)
    freq = parts["FREQ"]
    if not any(name in parts for name in _DAY_PARTS):
        if freq == "YEARLY":
            parts.setdefault("BYMONTH", str(first.month))
            parts["BYMONTHDAY"] = str(first.day)
        elif freq == "MONTHLY":
            parts["BYMONTHDAY"] = str(first.day)
        elif freq == "WEEKLY":
            parts["BYDAY"] = _WEEKDAYS[first.weekday()]
    if freq != "HOURLY":
        parts.setdefault("BYHOUR", str(first.hour))
    parts.setdefault("BYMINUTE", str(first.minute))
    parts.setdefault("BYSECOND", str(first.second))
    return parts


def _rrule(parts: Mapping[str, str], first: datetime, low: datetime, high: datetime) -> Any:
    """dateutil's rrule for ``parts``, counting from the beginning of the period (of
    ``INTERVAL`` periods from ``first``) that holds ``low``, up to ``high``: what it
    gives from ``first`` on that range, without going through the years between."""
    parts = explicit_parts(parts, first)
    freq = parts["FREQ"]
    parts["UNTIL"] = high.strftime("%Y%m%dT%H%M%S")
    interval = int(parts.get("INTERVAL", "1"))
    start = _period_start(freq, interval, first, low,
                          _WEEKDAYS.index(parts["WKST"]) if parts.get("WKST") in _WEEKDAYS
                          else calendar.firstweekday())
    body = ";".join(f"{name}={value}" for name, value in parts.items())
    rule = rrulestr()("RRULE:" + body, dtstart=start)
    rule.__class__ = _bounded_rrule()
    # the periods from start to high, and a few more
    rule.budget = [int((high - start) / _PERIOD[freq] / interval) + 4]
    return rule


def _period_start(freq: str, interval: int, first: datetime, low: datetime,
                  week_start: int) -> datetime:
    """The beginning of the period holding ``low``, among those counted every
    ``interval`` from ``first``'s; ``first`` itself when that is later."""
    if low <= first:
        return first
    if freq == "YEARLY":
        years = (low.year - first.year) // interval * interval
        start = datetime(first.year + years, 1, 1)
    elif freq == "MONTHLY":
        months = ((low.year - first.year) * 12 + low.month - first.month) // interval * interval
        year, month = divmod(first.month - 1 + months, 12)
        start = datetime(first.year + year, month + 1, 1)
    else:
        unit = {"WEEKLY": timedelta(weeks=1), "DAILY": timedelta(days=1),
                "HOURLY": timedelta(hours=1)}[freq]
        base = first.replace(minute=0, second=0, microsecond=0)
        if freq != "HOURLY":
            base = base.replace(hour=0)
        if freq == "WEEKLY":
            base -= timedelta(days=(base.weekday() - week_start) % 7)
        start = base + unit * ((low - base) // unit // interval * interval)
    return max(start, first)


class _Exhausted(Exception):
    """A search ran out of its budget of periods."""


@cache
def _bounded_rrule() -> type:
    """dateutil's rrule whose search stops after ``budget[0]`` periods.

    dateutil compares UNTIL only with the occurrences it finds: a rule with none left in
    the range (``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30`` has none ever) is searched period
    by period until the year 9999 (seconds of CPU). Its ``_iter`` takes the days of each period from
    an ``_iterinfo``; this class runs the same ``_iter`` code with an ``_iterinfo`` that
    counts the periods and raises :class:`_Exhausted` past the budget.
    """
    import types

    from dateutil import rrule as module

    class CountingPeriods(module._iterinfo):
        # (no __slots__ here: _iterinfo's __init__ reads self.__slots__ to reset them)
        def _count(self) -> None:
            budget = self.rrule.budget
            budget[0] -= 1
            if budget[0] < 0:
                raise _Exhausted

        def ydayset(self, year, month, day):
            self._count()
            return super().ydayset(year, month, day)

        def mdayset(self, year, month, day):
            self._count()
            return super().mdayset(year, month, day)

        def wdayset(self, year, month, day):
            self._count()
            return super().wdayset(year, month, day)

        def ddayset(self, year, month, day):
            self._count()
            return super().ddayset(year, month, day)

    code = module.rrule._iter
    iterate = types.FunctionType(code.__code__, {**vars(module), "_iterinfo": CountingPeriods},
                                 code.__name__, code.__defaults__, code.__closure__)
    return type("BoundedRule", (module.rrule,),
                {"_iter": iterate, "__doc__": _bounded_rrule.__doc__})


def croniter() -> Any:
    """The ``croniter`` class (imported on first use)."""
    from croniter import croniter

    return croniter


def rrulestr() -> Any:
    """dateutil's ``rrulestr`` (imported on first use)."""
    from dateutil.rrule import rrulestr

    return rrulestr
