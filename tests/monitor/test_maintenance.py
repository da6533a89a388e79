"""Maintenance windows: recurrence across daylight-saving changes in Europe/Paris, windows
from the configuration file, the ticker's events, scopes and validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from monitor.config_loader import ConfigError
from monitor.incidents import queries
from monitor.incidents.inputs import InvalidInput
from monitor.incidents.maintenance import MaintenanceTicker, sync_config_windows
from monitor.incidents.models import MaintenanceWindow
from monitor.incidents.recurrence import (
    RuleError,
    build_rule,
    occurrences,
    parse_datetime,
)
from tests.monitor.test_incidents import build_harness, make_config


def utc(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def spans(found) -> list[tuple[str, str]]:
    fmt = "%Y-%m-%d %H:%M"
    return [(datetime.fromtimestamp(o.start, UTC).strftime(fmt),
             datetime.fromtimestamp(o.end, UTC).strftime(fmt)) for o in found]


# Daylight saving -------------------------------------------------------------------------


@pytest.mark.parametrize("rule", [
    build_rule(weekly="sunday", at="02:00"),
    build_rule(weekly="dimanche", at="2h00"),
    build_rule(cron="0 2 * * 0"),
    build_rule(rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0"),
])
def test_a_weekly_sunday_night_window_has_the_right_utc_instants_across_both_changes(rule):
    tz = "Europe/Paris"
    march = occurrences(rule, 2 * 3600, tz, utc(2026, 3, 21), utc(2026, 4, 6))
    assert spans(march) == [
        ("2026-03-22 01:00", "2026-03-22 03:00"),  # CET (UTC+1): 02:00–04:00
        # 02:00 does not exist on 29 March (clocks jump to 03:00): 03:00–04:00 CEST, 1 h
        ("2026-03-29 01:00", "2026-03-29 02:00"),
        ("2026-04-05 00:00", "2026-04-05 02:00"),  # CEST (UTC+2)
    ]
    october = occurrences(rule, 2 * 3600, tz, utc(2026, 10, 17), utc(2026, 11, 2))
    assert spans(october) == [
        ("2026-10-18 00:00", "2026-10-18 02:00"),  # CEST
        # 25 October: 02:00 CEST (first pass) to 04:00 CET, 3 h as the clocks went back
        ("2026-10-25 00:00", "2026-10-25 03:00"),
        ("2026-11-01 01:00", "2026-11-01 03:00"),  # CET
    ]
    assert [o.end - o.start for o in march + october] == [
        7200, 3600, 7200, 7200, 10800, 7200]


def test_a_one_off_window_spanning_a_change_lasts_the_real_time_between_its_ends():
    tz = "Europe/Paris"
    start, end = parse_datetime("2026-03-29 01:00", tz), parse_datetime("2026-03-29 05:00", tz)
    assert (start, end) == (utc(2026, 3, 29, 0), utc(2026, 3, 29, 3))  # 3 h, not 4
    start, end = parse_datetime("2026-10-25 01:00", tz), parse_datetime("2026-10-25 05:00", tz)
    assert end - start == 5 * 3600
    # an explicit offset is taken as given
    assert parse_datetime("2026-10-25T02:30+01:00", tz) == utc(2026, 10, 25, 1, 30)


def test_monthly_rules_and_a_first_date():
    rule = build_rule(monthly="last sunday", at="03:00")
    found = occurrences(rule, 3600, "Europe/Paris", utc(2026, 1, 1), utc(2026, 12, 31))
    days = [datetime.fromtimestamp(o.start, UTC).strftime("%m-%d %H") for o in found]
    assert days[2:4] == ["03-29 01", "04-26 01"]  # 03:00 CEST on the change night is 01:00 UTC
    assert len(found) == 12
    rule = build_rule(monthly=15, at="22:30")
    found = occurrences(rule, 3600, "Europe/Paris", utc(2026, 1, 1), utc(2026, 4, 1),
                        anchor=utc(2026, 2, 1))
    assert spans(found)[0] == ("2026-02-15 21:30", "2026-02-15 22:30")
    assert len(found) == 2  # January is before the first date


@pytest.mark.parametrize("kwargs,message", [
    ({}, "exactly one"),
    ({"weekly": "sunday", "cron": "0 2 * * 0"}, "exactly one"),
    ({"weekly": "funday", "at": "02:00"}, "unknown day"),
    ({"weekly": "sunday", "at": "25:00"}, "time of day"),
    ({"cron": "0 2 * *"}, "5 fields"),
    ({"cron": "0 2 * * 0", "at": "02:00"}, "cron rule"),
    ({"monthly": "fifth sunday"}, "monthly"),
    ({"rrule": "FREQ=WEEKLY;COUNT=3"}, "COUNT"),
    ({"rrule": "FREQ=SOMETIMES"}, "invalid rrule"),
])
def test_bad_rules_are_refused_with_a_message(kwargs, message):
    with pytest.raises(RuleError, match=message):
        build_rule(**kwargs)


# Configuration ---------------------------------------------------------------------------

WINDOWS = """\
maintenance:
  - id: backups
    title: {fr: Sauvegardes, en: Backups}
    group: hosting
    weekly: sunday
    at: "02:00"
    duration: 2h
    announce_before: 2d
  - id: move
    title: Déménagement
    all: true
    start: 2026-06-01 22:00
    end: 2026-06-02 01:00
"""


def test_config_windows_are_synced_updated_and_cancelled_when_removed(tmp_path):
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path, WINDOWS)
    with h.store.session() as s:
        rows = {w.config_id: w for w in s.scalars(select(MaintenanceWindow))}
    assert set(rows) == {"backups", "move"}
    assert rows["backups"].rule == "RRULE:FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0;BYSECOND=0"
    assert rows["backups"].timezone == "Europe/Paris" and rows["backups"].group_id == "hosting"
    assert rows["move"].starts_at == parse_datetime("2026-06-01 22:00", "Europe/Paris")
    assert rows["move"].ends_at - rows["move"].starts_at == 3 * 3600
    with h.store.session() as s, s.begin():
        with pytest.raises(InvalidInput, match="configuration file"):
            h.ops.cancel_maintenance(s, rows["move"].id)

    smaller = make_config(tmp_path, WINDOWS.split("  - id: move")[0].replace("2h", "3h"))
    with h.store.session() as s, s.begin():
        assert sync_config_windows(s, smaller, h.clock.now) == (1, 1)
    with h.store.session() as s:
        rows = {w.config_id: w for w in s.scalars(select(MaintenanceWindow))}
    assert rows["backups"].duration == 3 * 3600 and rows["backups"].id is not None
    assert rows["move"].cancelled_at == h.clock.now
    h.store.dispose()


@pytest.mark.parametrize("window,message", [
    ("{id: w, title: T, services: [web], weekly: sunday, cron: '0 2 * * 0', duration: 1h}",
     "exactly one of weekly"),
    ("{id: w, title: T, services: [web], weekly: sunday, at: '02:00'}", "needs a duration"),
    ("{id: w, title: T, services: [web], group: hosting, start: 2026-06-01 22:00, duration: 1h}",
     "exactly one of services, group"),
    ("{id: w, title: T, services: [nope], start: 2026-06-01 22:00, duration: 1h}",
     "unknown service 'nope'"),
    ("{id: w, title: T, group: nope, start: 2026-06-01 22:00, duration: 1h}", "unknown group"),
    ("{id: w, title: T, all: true, start: 2026-06-01 22:00, end: 2026-06-01 21:00}",
     "end must be after start"),
    ("{id: w, title: T, all: true, start: tomorrow, duration: 1h}", "invalid date"),
])
def test_bad_config_windows_are_refused_with_file_line_and_reason(tmp_path, window, message):
    with pytest.raises(ConfigError) as exc:
        make_config(tmp_path, f"maintenance:\n  - {window}\n")
    text = str(exc.value)
    assert message in text and "vigie.yaml:" in text and "maintenance" in text


# Ticker ---------------------------------------------------------------------------------


def test_the_ticker_announces_starts_and_ends_each_occurrence_once(tmp_path):
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path, WINDOWS)
    sunday_2am = parse_datetime("2026-06-07 02:00", "Europe/Paris")

    def kinds():
        return [(e.kind, e.starts_at) for e in h.events("vigie_maintenance_changed")]

    h.clock.now = sunday_2am - 3 * 86400
    assert h.ticker.tick(h.clock.now).active == set()
    assert kinds() == []
    h.clock.now = sunday_2am - 86400  # within announce_before (2 days)
    h.ticker.tick(h.clock.now)
    h.ticker.tick(h.clock.now + 15)
    assert kinds() == [("announced", sunday_2am)]
    h.clock.now = sunday_2am + 60
    assert h.ticker.tick(h.clock.now).active == {"web"}  # the hosting group
    # a restarted process (new ticker) does not send "started" again
    MaintenanceTicker(h.store.session, h.ctx).tick(h.clock.now + 15)
    h.clock.now = sunday_2am + 2 * 3600 + 1
    assert h.ticker.tick(h.clock.now).active == set()
    assert kinds() == [("announced", sunday_2am), ("started", sunday_2am),
                       ("ended", sunday_2am)]
    [event] = h.events("vigie_maintenance_changed")[:1]
    assert event.title_en == "Backups" and [s.id for s in event.services] == ["web"]
    h.store.dispose()


def test_run_time_windows_edit_cancel_end_and_show_in_queries(tmp_path):
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    now = h.clock.now
    with h.store.session() as s, s.begin():
        one = h.ops.create_maintenance(s, title_fr="Mise à jour", services=["mail"],
                                       start=now + 3600, duration="1h", author="ana")
        weekly = h.ops.create_maintenance(s, title_fr="Redémarrage", all_services=True,
                                          weekly=["monday", "thursday"], at="04:00",
                                          duration="15m")
        ids = one.id, weekly.id
    with h.store.session() as s:
        upcoming = queries.upcoming_maintenance(s, now, horizon=8 * 86400)
        assert upcoming[0].window_id == ids[0] and upcoming[0].service_ids == ("mail",)
        assert sum(1 for p in upcoming if p.window_id == ids[1]) == 2
        assert queries.active_maintenance(s, now) == []
        assert [w.id for w in queries.maintenance_windows(s, now)] == [ids[1], ids[0]]
    with h.store.session() as s, s.begin():
        h.ops.edit_maintenance(s, ids[0], start=now - 60, end=now + 600, title_en="Upgrade")
    with h.store.session() as s:
        [active] = queries.active_maintenance(s, now)
        assert active.title_en == "Upgrade" and set(queries.services_in_maintenance(s, now)) == {"mail"}
    with h.store.session() as s, s.begin():
        h.ops.end_maintenance_now(s, ids[0], at=now + 60)
        h.ops.cancel_maintenance(s, ids[1], at=now + 60)
    with h.store.session() as s:
        assert queries.active_maintenance(s, now + 120) == []
        assert queries.upcoming_maintenance(s, now + 120) == []
        assert len(queries.maintenance_windows(s, now, include_cancelled=True)) == 2
    h.store.dispose()


@pytest.mark.parametrize("kwargs,field", [
    ({"services": ["mail"], "start": "2026-06-01 22:00"}, "end"),
    ({"services": ["mail"], "start": "hier", "duration": "1h"}, "start"),
    ({"services": ["mail"], "weekly": "sunday", "at": "02:00"}, "duration"),
    ({"services": ["mail"], "weekly": "sundays", "duration": "1h"}, "rule"),
    ({"start": "2026-06-01 22:00", "duration": "1h"}, "services"),
    ({"group": "nope", "start": "2026-06-01 22:00", "duration": "1h"}, "group"),
    ({"services": ["mail"], "start": "2026-06-01 22:00", "duration": "soon"}, "duration"),
    ({"services": ["mail"], "start": "2026-06-01 22:00", "duration": "1h",
      "timezone": "Mars/Olympus"}, "timezone"),
])
def test_create_maintenance_validates(tmp_path, kwargs, field):
    h = build_harness(f"sqlite:///{tmp_path / 'v.sqlite'}", tmp_path)
    with h.store.session() as s, s.begin(), pytest.raises(InvalidInput) as exc:
        h.ops.create_maintenance(s, title_fr="T", **kwargs)
    assert exc.value.field == field and exc.value.message_fr and exc.value.message_en
    h.store.dispose()
