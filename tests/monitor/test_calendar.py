"""Maintenance windows in calendar terms (monitor.incidents.calendar): the recurrence a
calendar app expands must give Vigie's own occurrences, to the second, across the
changes of the clocks; what no RRULE says is written out; cancellations are kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from monitor.incidents import calendar
from monitor.words import Bilingual
from monitor.incidents.calendar import Instance, Recurrence
from monitor.incidents.recurrence import MAX_RANGE, build_rule, occurrences

PARIS = "Europe/Paris"
#: a Thursday afternoon in Paris, before the changes of 2026 (29 March, 25 October)
NOW = datetime(2026, 3, 12, 14, 5, tzinfo=ZoneInfo(PARIS)).timestamp()


def at(tz: str, *args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo(tz)).timestamp()


def utc(*args: int) -> float:
    return at("UTC", *args)


def expand(rec: Recurrence, tz: str, since: float, until: float) -> dict[float, Instance]:
    """What an RFC 5545 reader makes of ``rec`` (dateutil's rrule from DTSTART in the
    zone, DURATION, EXDATE, RECURRENCE-ID), independently of Vigie: start → instance."""
    zi = ZoneInfo(tz)
    rule = rrulestr("RRULE:" + rec.rrule, dtstart=rec.first.replace(tzinfo=zi))
    assert rec.first.replace(tzinfo=zi) in rule.between(
        rec.first.replace(tzinfo=zi) - timedelta(seconds=1),
        rec.first.replace(tzinfo=zi) + timedelta(seconds=1))  # DTSTART is an occurrence
    found: dict[datetime, Instance] = {}
    low = datetime.fromtimestamp(since, zi) - timedelta(days=2)
    high = datetime.fromtimestamp(until, zi) + timedelta(days=2)
    for start in rule.between(low, high, inc=True):
        naive = start.replace(tzinfo=None)
        if naive in rec.exdates:
            continue
        begin = start.timestamp()
        found[naive] = Instance(begin, begin + rec.duration, rec.cancelled)
    for naive, instance in rec.overrides:
        if low.replace(tzinfo=None) <= naive <= high.replace(tzinfo=None):
            assert naive in found, f"{naive} is not an occurrence of the rule"
            found[naive] = instance
    return {i.start: i for i in found.values() if since <= i.start < until}


def vigie(rule: str, duration: float, tz: str, since: float, until: float,
          anchor: float | None) -> dict[float, Instance]:
    out = {}
    while since < until:
        step = min(until, since + MAX_RANGE)
        for occ in occurrences(rule, duration, tz, since, step, anchor):
            if since <= occ.start < step:
                out[occ.start] = Instance(occ.start, occ.end)
        since = step
    return out


RULES = [
    # (rule, duration, time zone, anchor)
    (build_rule(weekly="sunday", at="02:00"), 7200, PARIS, at(PARIS, 2026, 3, 1)),
    (build_rule(weekly="sunday", at="02:30"), 3600, PARIS, at(PARIS, 2026, 3, 1)),
    (build_rule(weekly="sunday", at="01:30"), 2 * 3600, PARIS, at(PARIS, 2026, 3, 1)),
    (build_rule(monthly="last sunday", at="01:30"), 3 * 3600, PARIS, at(PARIS, 2026, 1, 1)),
    (build_rule(daily=True, at="02:30"), 1800, PARIS, None),
    (build_rule(rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=SA,SU", at="23:00"), 2 * 3600, PARIS,
     None),
    (build_rule(rrule="FREQ=HOURLY;INTERVAL=6"), 1800, PARIS, at(PARIS, 2026, 3, 2, 1, 15)),
    (build_rule(monthly=31, at="06:00"), 3600, PARIS, at(PARIS, 2026, 1, 1)),
    (build_rule(weekly=["saturday", "sunday"], at="02:00"), 3600, "America/New_York",
     at("America/New_York", 2026, 1, 3)),
]


@pytest.mark.parametrize(("rule", "duration", "tz", "anchor"), RULES)
def test_the_recurrence_gives_vigies_occurrences_to_the_second(rule, duration, tz, anchor):
    lower = anchor if anchor is not None else NOW - 30 * 86400
    rec = calendar.recurring(rule, duration, tz, anchor=anchor, cancelled_at=None,
                             lower=lower, now=NOW)
    assert isinstance(rec, Recurrence)
    since, until = max(lower, NOW - calendar.KEEP), NOW + calendar.AHEAD
    expected = vigie(rule, duration, tz, since, until, anchor)
    assert len(expected) > 5
    assert expand(rec, tz, since, until) == expected
    # the RRULE counts from its first occurrence, nothing before the window's start
    assert datetime(*rec.first.timetuple()[:6], tzinfo=ZoneInfo(tz)).timestamp() >= lower


def test_a_weekly_window_across_the_changes_of_the_clocks():
    """Sunday 02:00 for 2 h in Paris: on 29 March 2026 02:00 does not exist, the window
    runs 03:00–04:00 CEST; on 25 October it runs 02:00 CEST–04:00 CET (3 h)."""
    rule = build_rule(weekly="sunday", at="02:00")
    rec = calendar.recurring(rule, 7200, PARIS, anchor=at(PARIS, 2026, 3, 1),
                             cancelled_at=None, lower=at(PARIS, 2026, 3, 1), now=NOW)
    assert rec.rrule == "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0;BYSECOND=0"
    assert rec.first == datetime(2026, 3, 1, 2, 0) and rec.duration == 7200
    got = expand(rec, PARIS, utc(2026, 3, 20), utc(2026, 11, 3))
    assert got[utc(2026, 3, 22, 1)] == Instance(utc(2026, 3, 22, 1), utc(2026, 3, 22, 3))
    assert got[utc(2026, 3, 29, 1)] == Instance(utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))
    assert got[utc(2026, 4, 5, 0)] == Instance(utc(2026, 4, 5, 0), utc(2026, 4, 5, 2))
    assert got[utc(2026, 10, 25, 0)] == Instance(utc(2026, 10, 25, 0), utc(2026, 10, 25, 3))
    assert got[utc(2026, 11, 1, 1)] == Instance(utc(2026, 11, 1, 1), utc(2026, 11, 1, 3))
    # only the two nights are written again
    assert [n for n, _ in rec.overrides] == [datetime(2026, 3, 29, 2), datetime(2026, 10, 25, 2),
                                             datetime(2027, 3, 28, 2)]


def test_an_occurrence_the_change_swallows_is_excluded():
    """Sunday 02:30 for 1 h: on 29 March 02:30 and 03:30 are the same instant (Vigie has
    no occurrence); the calendar excludes it."""
    rule = build_rule(weekly="sunday", at="02:30")
    rec = calendar.recurring(rule, 3600, PARIS, anchor=at(PARIS, 2026, 3, 1),
                             cancelled_at=None, lower=at(PARIS, 2026, 3, 1), now=NOW)
    assert datetime(2026, 3, 29, 2, 30) in rec.exdates
    assert utc(2026, 3, 29, 1, 30) not in expand(rec, PARIS, utc(2026, 3, 28), utc(2026, 3, 30))


def test_a_cron_rule_is_written_out():
    rule = "CRON:0 3 * * 1"
    found = calendar.recurring(rule, 3600, PARIS, anchor=None, cancelled_at=None,
                               lower=NOW - 10 * 86400, now=NOW)
    assert isinstance(found, tuple)
    since, until = NOW - 10 * 86400, NOW + calendar.AHEAD
    assert {i.start: i for i in found} == vigie(rule, 3600, PARIS, since, until, None)


def test_an_hourly_cron_rule_is_bounded():
    found = calendar.recurring("CRON:0 * * * *", 600, PARIS, anchor=None, cancelled_at=None,
                               lower=NOW - 100 * 86400, now=NOW)
    assert len(found) == calendar.MAX_EXPANDED
    # the day's past ones at most a fifth: the coming ones matter
    assert sum(1 for i in found if i.end <= NOW // 86400 * 86400) == calendar.MAX_EXPANDED // 5


def test_a_recurring_window_cancelled_keeps_its_past_and_cancels_its_next():
    rule = build_rule(weekly="sunday", at="02:00")
    anchor = at(PARIS, 2026, 3, 1)
    cancelled = at(PARIS, 2026, 4, 5, 3, 0)  # during the occurrence of 5 April
    rec = calendar.recurring(rule, 7200, PARIS, anchor=anchor, cancelled_at=cancelled,
                             lower=anchor, now=NOW)
    assert rec.rrule.endswith(";UNTIL=20260412T000000Z") and not rec.cancelled
    got = expand(rec, PARIS, anchor, NOW + calendar.AHEAD)
    assert sorted(got) == [utc(2026, 3, 1, 1), utc(2026, 3, 8, 1), utc(2026, 3, 15, 1),
                           utc(2026, 3, 22, 1), utc(2026, 3, 29, 1), utc(2026, 4, 5, 0),
                           utc(2026, 4, 12, 0)]
    assert got[utc(2026, 4, 5, 0)] == Instance(utc(2026, 4, 5, 0), cancelled)  # cut short
    assert got[utc(2026, 4, 12, 0)].cancelled  # the next one: cancelled, and the last
    assert not any(i.cancelled for s, i in got.items() if s < cancelled)


def test_a_recurring_window_cancelled_before_it_began_is_cancelled_whole():
    rule = build_rule(weekly="sunday", at="02:00")
    anchor = at(PARIS, 2026, 4, 1)
    rec = calendar.recurring(rule, 7200, PARIS, anchor=anchor, cancelled_at=NOW, lower=anchor,
                             now=NOW)
    assert rec.cancelled and rec.first == datetime(2026, 4, 5, 2)
    assert list(expand(rec, PARIS, NOW, NOW + calendar.AHEAD).values()) == [
        Instance(utc(2026, 4, 5, 0), utc(2026, 4, 5, 2), cancelled=True)]


@pytest.mark.parametrize(("cancelled_at", "expected"), [
    (None, Instance(100.0, 200.0)),
    (250.0, Instance(100.0, 200.0)),
    (150.0, Instance(100.0, 150.0)),
    (50.0, Instance(100.0, 200.0, cancelled=True)),
    (100.0, Instance(100.0, 200.0, cancelled=True)),
])
def test_a_one_off_window(cancelled_at, expected):
    assert calendar.one_off(100.0, 200.0, cancelled_at) == expected


def test_the_sequence_grows_with_each_change():
    window = calendar.CalendarWindow(1, Bilingual("t"), Bilingual(""), ("web",), PARIS, 1000.0, 1000.0)
    assert window.sequence == 0
    later = calendar.CalendarWindow(1, Bilingual("t"), Bilingual(""), ("web",), PARIS, 1000.0, 1090.5)
    assert later.sequence == 90


def test_the_changes_of_the_clocks():
    hour = timedelta(hours=1)
    assert calendar.clock_changes(PARIS, 2026, 2026) == (
        (datetime.fromtimestamp(utc(2026, 3, 29, 1), ZoneInfo("UTC")), hour, 2 * hour,
         "CEST", True),
        (datetime.fromtimestamp(utc(2026, 10, 25, 1), ZoneInfo("UTC")), 2 * hour, hour,
         "CET", False))
    assert calendar.clock_changes("UTC", 2026, 2030) == ()
