"""Recurring maintenance rules can never take Vigie down (issue 12, point 4).

``{"rrule": "FREQ=SECONDLY", "duration": "1s"}`` made every evaluation spin for ever, and
``FREQ=MINUTELY`` cost 14.6 s, ``cron: "* * * * *"`` 24 s. Here: such rules are refused
everywhere they can come from (operations, configuration file, CLI), every evaluation
looks at a bounded number of occurrences from the asked instant (not from a fixed date in
2024), and a stored row with a bad rule (written before the fix, or by hand) is skipped,
logged once and counted, while every other window keeps working.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from dateutil import rrule as dateutil_rrule
from sqlalchemy import select

from monitor.config_loader import ConfigError
from monitor.incidents import queries, recurrence
from monitor.incidents.inputs import InvalidInput
from monitor.incidents.maintenance import MaintenanceTicker
from monitor.incidents.models import MaintenanceWindow
from monitor.incidents.recurrence import RuleError, build_rule, occurrences
from tests.monitor.test_incidents import build_harness, make_config


def utc(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def within(fn, timeout: float = 60.0):
    """``fn()``, failing (instead of hanging the suite) if it never returns."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still running after {timeout:.0f} s (a hang)"
    if "error" in box:
        raise box["error"]
    return box.get("value")


#: the rules of the issue, and their cousins (each more frequent than once an hour)
TOO_FREQUENT = [
    {"rrule": "FREQ=SECONDLY"},
    {"rrule": "FREQ=MINUTELY"},
    {"rrule": "FREQ=MINUTELY;INTERVAL=30"},
    {"rrule": "FREQ=HOURLY;BYMINUTE=0,30"},
    {"rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=0,10,20"},
    {"rrule": "FREQ=DAILY;BYSECOND=0,30"},
    {"cron": "* * * * *"},
    {"cron": "*/30 * * * *"},
    {"cron": "0,30 2 * * *"},
    {"cron": "0-5 2 * * *"},
]


@pytest.fixture
def h(tmp_path):
    harness = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    yield harness
    harness.store.dispose()


# Refused where they come from --------------------------------------------------------------


@pytest.mark.parametrize("form", TOO_FREQUENT)
def test_a_rule_more_frequent_than_hourly_is_refused_by_the_operations(h, form):
    def create():
        with h.store.session() as s, s.begin():
            h.ops.create_maintenance(s, title_fr="T", all_services=True, duration="1s", **form)

    with pytest.raises(InvalidInput) as exc:
        within(create)
    assert exc.value.field == "rule"
    assert "au plus une fois par heure" in exc.value.message_fr
    assert "at most once an hour" in exc.value.message_en
    with h.store.session() as s:
        assert s.scalar(select(MaintenanceWindow.id)) is None


@pytest.mark.parametrize("form,duration", [
    ({"rrule": "FREQ=HOURLY"}, "1h"),
    ({"cron": "0 * * * *"}, "2h"),
    ({"daily": True, "at": "02:00"}, "1d"),
    ({"weekly": ["monday", "tuesday"], "at": "02:00"}, "25h"),
    ({"rrule": "FREQ=DAILY;BYHOUR=2,4;BYMINUTE=0"}, "3h"),
])
def test_an_occurrence_must_end_before_the_next_one_starts(h, form, duration):
    with h.store.session() as s, s.begin(), pytest.raises(InvalidInput) as exc:
        h.ops.create_maintenance(s, title_fr="T", all_services=True, duration=duration, **form)
    assert exc.value.field == "duration"
    assert "avant la suivante" in exc.value.message_fr
    assert "before the next" in exc.value.message_en


def test_rules_within_the_bounds_are_accepted(h):
    with h.store.session() as s, s.begin():
        for form, duration in (({"rrule": "FREQ=HOURLY"}, "59m"),
                               ({"cron": "30 * * * *"}, "15m"),
                               ({"rrule": "FREQ=DAILY;BYHOUR=2,14;BYMINUTE=0"}, "11h"),
                               ({"weekly": "sunday", "at": "02:00"}, "2h"),
                               ({"monthly": "first sunday", "at": "03:00"}, "6h")):
            h.ops.create_maintenance(s, title_fr="T", all_services=True, duration=duration,
                                     **form)


def test_editing_a_window_checks_its_rule_and_duration_together(h):
    with h.store.session() as s, s.begin():
        window = h.ops.create_maintenance(s, title_fr="T", all_services=True,
                                          rrule="FREQ=HOURLY", duration="30m")
    with h.store.session() as s, s.begin(), pytest.raises(InvalidInput) as exc:
        h.ops.edit_maintenance(s, window.id, duration="2h")
    assert exc.value.field == "duration"
    with h.store.session() as s, s.begin(), pytest.raises(InvalidInput) as exc:
        h.ops.edit_maintenance(s, window.id, rrule="FREQ=MINUTELY")
    assert exc.value.field == "rule"


@pytest.mark.parametrize("rule,message", [
    ("rrule: 'FREQ=SECONDLY'", "at most once an hour"),
    ("rrule: 'FREQ=MINUTELY'", "at most once an hour"),
    ("cron: '* * * * *'", "at most once an hour"),
    ("rrule: 'FREQ=HOURLY'", "must end before the next one starts"),
])
def test_the_configuration_file_refuses_them_with_file_line_and_key(tmp_path, rule, message):
    with pytest.raises(ConfigError) as exc:
        make_config(tmp_path, f"maintenance:\n  - {{id: w, title: T, all: true, {rule}, "
                              "duration: 1h}\n")
    text = str(exc.value)
    assert message in text and "vigie.yaml:" in text and "maintenance" in text


@pytest.mark.parametrize("rule", ["RRULE:FREQ=SECONDLY", "RRULE:FREQ=MINUTELY",
                                  "CRON:* * * * *", "RRULE:FREQ=SOMETIMES", "CRON:0 2 * *",
                                  "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
                                  "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
                                  "CRON:0 2 30 2 *",
                                  "RRULE:FREQ=DAILY;COUNT=3", "WEEKLY", ""])
def test_check_rule_refuses_what_a_stored_row_may_hold(rule):
    with pytest.raises(RuleError):
        within(lambda: recurrence.check_rule(rule, 60.0))


# Evaluated from the asked instant, within caps ------------------------------------------


def counting_rrule_iterations(monkeypatch) -> list[int]:
    """Count every occurrence dateutil's rrule generates, whoever asks."""
    seen = [0]
    real = dateutil_rrule.rrule._iter

    def counted(self):
        for value in real(self):
            seen[0] += 1
            yield value

    monkeypatch.setattr(dateutil_rrule.rrule, "_iter", counted)
    return seen


def test_an_hourly_rule_anchored_long_ago_is_evaluated_from_the_asked_day(monkeypatch):
    rule = build_rule(rrule="FREQ=HOURLY;INTERVAL=3")
    seen = counting_rrule_iterations(monkeypatch)
    found = occurrences(rule, 600, "Europe/Paris", utc(2031, 5, 4), utc(2031, 5, 5),
                        anchor=utc(2024, 1, 1, 1))
    assert len(found) == 8
    # the phase counts from the anchor, 02:00 local time: 02:00, 05:00… CEST is 00:00,
    # 03:00… UTC
    assert {datetime.fromtimestamp(o.start, UTC).hour % 3 for o in found} == {0}
    assert seen[0] < 100  # not the 21,000 occurrences since 2024


def test_each_evaluation_examines_a_bounded_range(monkeypatch):
    seen = counting_rrule_iterations(monkeypatch)
    found = occurrences(build_rule(rrule="FREQ=HOURLY"), 600, "UTC", utc(2026, 1, 1),
                        utc(2036, 1, 1))
    assert len(found) <= recurrence.MAX_OCCURRENCES
    assert found[-1].start - found[0].start <= recurrence.MAX_RANGE
    assert seen[0] <= recurrence.MAX_OCCURRENCES + 100


@pytest.mark.parametrize("freq", ["DAILY", "HOURLY", "WEEKLY"])
def test_the_search_past_the_range_is_bounded_even_for_a_rule_that_never_occurs(
        monkeypatch, freq):
    # dateutil checks UNTIL only against the occurrences it finds: unbounded, this
    # searched every day until the year 9999 (13 s)
    periods = [0]
    real = dateutil_rrule._iterinfo.ddayset if freq != "WEEKLY" else (
        dateutil_rrule._iterinfo.wdayset)

    def counted(self, *args):
        periods[0] += 1
        return real(self, *args)

    monkeypatch.setattr(dateutil_rrule._iterinfo,
                        "ddayset" if freq != "WEEKLY" else "wdayset", counted)
    rule = f"RRULE:FREQ={freq};BYMONTH=2;BYMONTHDAY=30;BYMINUTE=0"
    assert occurrences(rule, 600, "UTC", utc(2026, 1, 1), utc(2026, 1, 31)) == []
    per_day = 24 if freq == "HOURLY" else 1
    assert 0 < periods[0] <= (30 + 3) * per_day + 10


@pytest.mark.parametrize("rule,at", [
    (build_rule(rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=SA", at="02:00"), "2026-01-03 02:00"),
    (build_rule(monthly=31, at="02:00"), "2026-01-31 02:00"),
    (build_rule(rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", at="04:00"), "2028-02-29 04:00"),
    (build_rule(rrule="FREQ=MONTHLY;INTERVAL=5", at="04:00"), "2026-01-31 04:00"),
    (build_rule(cron="15 3 * * 1-5"), "2026-01-05 03:15"),
])
def test_incremental_evaluation_finds_what_evaluation_from_the_anchor_finds(rule, at):
    anchor = recurrence.parse_datetime(at, "Europe/Paris")
    later = utc(2035, 12, 1)  # 200 days holding 29 February 2036 and two DST changes
    incremental = occurrences(rule, 3600, "Europe/Paris", later, later + 200 * 86400,
                              anchor=anchor)
    assert incremental
    assert [o.start for o in incremental] == _from_anchor(rule, at, later, later + 200 * 86400)


def _from_anchor(rule: str, at: str, since: float, until: float) -> list[float]:
    """Starts of ``rule`` in ``[since, until)`` iterated from ``at`` (slow, for tests)."""
    from zoneinfo import ZoneInfo

    from croniter import croniter
    from dateutil.rrule import rrulestr

    zi = ZoneInfo("Europe/Paris")
    first = datetime.fromisoformat(at)
    kind, _, body = rule.partition(":")
    if kind == "CRON":
        it = croniter(body, first - timedelta(seconds=1))
        starts = iter(lambda: it.get_next(datetime), None)
    else:
        starts = iter(rrulestr(rule, dtstart=first))
    out = []
    for naive in starts:
        at_ = naive.replace(tzinfo=zi).timestamp()
        if at_ >= until:
            return out
        if at_ >= since:
            out.append(at_)
    return out


def test_the_admin_list_finds_the_next_occurrence_of_a_rare_rule(h):
    with h.store.session() as s, s.begin():
        h.ops.create_maintenance(s, title_fr="Bissextile", all_services=True,
                                 rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", at="04:00",
                                 duration="1h")
    with h.store.session() as s:
        [window] = queries.maintenance_windows(s, utc(2026, 5, 1))
    assert window.next_start == recurrence.parse_datetime("2028-02-29 04:00", "Europe/Paris")
    assert window.refused is None


# A bad stored row never stops anything --------------------------------------------------

BAD_RULES = ("RRULE:FREQ=SECONDLY", "RRULE:FREQ=MINUTELY", "CRON:* * * * *",
             "RRULE:FREQ=SOMETIMES")


def insert_rows(h, rules=BAD_RULES) -> list[int]:
    """Rows as the admin API stored them before the fix, and a good one-off window."""
    ids = []
    with h.store.session() as s, s.begin():
        for rule in rules:
            row = MaintenanceWindow(title_fr=f"Mauvaise {rule}", all_services=True, rule=rule,
                                    duration=1.0, timezone="Europe/Paris",
                                    created_at=h.clock.now, updated_at=h.clock.now)
            s.add(row)
            s.flush()
            ids.append(row.id)
        s.add(MaintenanceWindow(title_fr="Bonne", service_ids=["mail"], timezone="UTC",
                                starts_at=h.clock.now - 60, ends_at=h.clock.now + 3600,
                                created_at=h.clock.now, updated_at=h.clock.now))
    return ids


def test_stored_bad_rules_are_skipped_counted_and_logged_once(h, caplog):
    ids = insert_rows(h)
    caplog.set_level(logging.WARNING, logger="monitor.incidents.maintenance")
    result = within(lambda: h.ticker.tick(h.clock.now))
    assert result.active == {"mail"}
    assert result.refused == len(BAD_RULES)
    within(lambda: MaintenanceTicker(h.store.write_session, h.ctx).tick(h.clock.now + 15))
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == len(BAD_RULES), [r.getMessage() for r in refusals]
    for window_id in ids:
        assert sum(f"window {window_id} " in r.getMessage() for r in refusals) == 1
    with h.store.session() as s:
        views = {w.id: w for w in within(lambda: queries.maintenance_windows(s, h.clock.now))}
        assert [p.title_fr for p in queries.upcoming_maintenance(s, h.clock.now)] == ["Bonne"]
        assert set(queries.services_in_maintenance(s, h.clock.now)) == {"mail"}
    for window_id in ids:
        assert views[window_id].refused and views[window_id].next_start is None
    assert "once an hour" in views[ids[0]].refused


def test_a_refused_row_can_be_cancelled_or_given_a_good_rule(h):
    bad, other = insert_rows(h, BAD_RULES[:2])
    with h.store.session() as s, s.begin():
        h.ops.cancel_maintenance(s, bad)
        h.ops.edit_maintenance(s, other, daily=True, at="03:00", duration="1h")
    with h.store.session() as s:
        views = {w.id: w for w in queries.maintenance_windows(s, h.clock.now,
                                                              include_cancelled=True)}
    assert views[other].refused is None and views[other].next_start is not None
    assert views[bad].cancelled_at is not None
