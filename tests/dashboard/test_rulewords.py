"""A recurring maintenance window's rule in words, French and English: the forms Vigie's
configuration writes (weekly, monthly, daily, at), the cron and RRULE forms that mean the
same, and a generic sentence for the rest."""

from __future__ import annotations

from datetime import time

import pytest

from dashboard.rulewords import rule_words
from monitor.incidents.recurrence import build_rule
from monitor.incidents.rulepattern import Pattern, describe

H = 3600.0


def words(app, rule: str, duration: float, lang: str, tz: str = "Europe/Paris") -> str:
    with app.test_request_context(f"/?lang={lang}"):
        text = rule_words(describe(rule, duration), lang, tz)
    return text.replace("\xa0", " ").replace("\u202f", " ")


CASES = [
    (build_rule(monthly="first sunday", at="06:00"), 1800,
     "chaque premier dimanche du mois, de 6 h à 6 h 30",
     "every first Sunday of the month, 6:00–6:30"),
    (build_rule(weekly="sunday", at="02:00"), 2 * H,
     "chaque dimanche, de 2 h à 4 h", "every Sunday, 2:00–4:00"),
    (build_rule(weekly=["samedi", "dimanche"], at="22:15"), H,
     "chaque samedi et dimanche, de 22 h 15 à 23 h 15",
     "every Saturday and Sunday, 22:15–23:15"),
    (build_rule(monthly=15, at="03:00"), 2700,
     "le 15 de chaque mois, de 3 h à 3 h 45", "on day 15 of every month, 3:00–3:45"),
    (build_rule(monthly=1, at="03:00"), H,
     "le 1er de chaque mois, de 3 h à 4 h", "on the first day of every month, 3:00–4:00"),
    (build_rule(monthly=-1, at="03:00"), H,
     "le dernier jour de chaque mois, de 3 h à 4 h",
     "on the last day of every month, 3:00–4:00"),
    (build_rule(monthly="dernier samedi", at="05:00"), H,
     "chaque dernier samedi du mois, de 5 h à 6 h",
     "every last Saturday of the month, 5:00–6:00"),
    (build_rule(daily=True, at="23:30"), H,
     "chaque jour, de 23 h 30 à 0 h 30", "every day, 23:30–0:30"),
    # cron rules that say the same are worded the same
    ("CRON:30 2 * * 0", H, "chaque dimanche, de 2 h 30 à 3 h 30", "every Sunday, 2:30–3:30"),
    ("CRON:0 6 * * 0#1", 1800, "chaque premier dimanche du mois, de 6 h à 6 h 30",
     "every first Sunday of the month, 6:00–6:30"),
    ("CRON:0 4 * * *", H, "chaque jour, de 4 h à 5 h", "every day, 4:00–5:00"),
    ("CRON:0 4 10 * *", H, "le 10 de chaque mois, de 4 h à 5 h",
     "on day 10 of every month, 4:00–5:00"),
    ("CRON:0 1 * * mon,thu", H, "chaque lundi et jeudi, de 1 h à 2 h",
     "every Monday and Thursday, 1:00–2:00"),
    # an interval
    ("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;BYHOUR=6;BYMINUTE=0", H,
     "toutes les 2 semaines, le lundi, de 6 h à 7 h", "every 2 weeks on Monday, 6:00–7:00"),
    ("RRULE:FREQ=HOURLY;BYMINUTE=15", 600, "toutes les heures, pendant 10 min",
     "every hour, for 10 min"),
    # the rest: a generic sentence, still with the hours when the rule fixes them
    ("CRON:0 3 1-7 * *", H, "selon un calendrier particulier, de 3 h à 4 h",
     "on a schedule of its own, 3:00–4:00"),
    ("RRULE:FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=2;BYHOUR=0;BYMINUTE=0", H,
     "selon un calendrier particulier, de 0 h à 1 h", "on a schedule of its own, 0:00–1:00"),
    ("RRULE:FREQ=DAILY;BYHOUR=1,13;BYMINUTE=0", H, "selon un calendrier particulier, "
     "pendant 1 h", "on a schedule of its own, for 1 hr"),
]


@pytest.mark.parametrize(("rule", "duration", "fr", "en"), CASES)
def test_rules_in_words(app, rule, duration, fr, en):
    assert words(app, rule, duration, "fr") == fr
    assert words(app, rule, duration, "en") == en


def test_long_windows_say_from_when_and_for_how_long(app):
    rule = build_rule(weekly="saturday", at="22:00")
    assert words(app, rule, 30 * H, "fr") == "chaque samedi, à partir de 22 h, pendant 1 j et 6 h"
    assert words(app, rule, 30 * H, "en") == "every Saturday, from 22:00, for 1 day, 6 hr"


def test_a_window_in_another_zone_names_it(app):
    rule = build_rule(weekly="sunday", at="02:00")
    assert words(app, rule, H, "en", tz="America/Montreal") == (
        "every Sunday, 2:00–3:00 (America/Montreal)")


def test_the_pattern_of_the_friendly_forms():
    assert describe(build_rule(monthly="first sunday", at="06:00"), 1800) == Pattern(
        every="month", days=("SU",), ordinal=1, at=time(6, 0), duration=1800)
    assert describe(build_rule(weekly=["tuesday", "monday"], at="06:30"), H) == Pattern(
        every="week", days=("MO", "TU"), at=time(6, 30), duration=H)
    # no time in the rule: the time of its first occurrence
    assert describe("RRULE:FREQ=DAILY", H).at == time(0, 0)
    odd = describe("CRON:0 3 1-7 * *", H)
    assert odd.every is None and odd.at == time(3, 0)
