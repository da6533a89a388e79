"""A recurring maintenance window's rule in words, in the reader's language.

The core says what a rule means (:class:`monitor.incidents.rulepattern.Pattern`); the
sentences are the catalogue's (``chaque premier dimanche du mois, de 6 h à 6 h 30`` /
``every first Sunday of the month, 6:00–6:30``), the day names and lists Babel's. A rule
the pattern cannot word gets a generic sentence, with its hours when it fixes them; the
page gives its next occurrence beside it anyway.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from babel import Locale
from babel.lists import format_list
from flask import current_app
from flask_babel import lazy_gettext

from dashboard.i18n import gettext, ngettext

from dashboard.i18n import fmt_duration
from monitor.incidents.rulepattern import Pattern

#: "every first Sunday of the month"…: one sentence per ordinal (languages agree the
#: ordinal with the day's gender, or place it elsewhere)
BY_ORDINAL = {
    1: lazy_gettext("every first %(day)s of the month, %(hours)s"),
    2: lazy_gettext("every second %(day)s of the month, %(hours)s"),
    3: lazy_gettext("every third %(day)s of the month, %(hours)s"),
    4: lazy_gettext("every fourth %(day)s of the month, %(hours)s"),
    5: lazy_gettext("every fifth %(day)s of the month, %(hours)s"),
    -1: lazy_gettext("every last %(day)s of the month, %(hours)s"),
}
_WEEK = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # Babel's day numbers


def rule_words(pattern: Pattern, lang: str, tz: str | None = None) -> str:
    """The rule in one phrase; the time zone is named when it is not the site's."""
    hours = _hours(pattern, lang)
    if pattern.every == "hour":
        text = ngettext("every hour, %(hours)s", "every %(num)d hours, %(hours)s",
                        pattern.interval, hours=hours)
    elif pattern.every == "day":
        text = ngettext("every day, %(hours)s", "every %(num)d days, %(hours)s",
                        pattern.interval, hours=hours)
    elif pattern.every == "week":
        text = ngettext("every %(days)s, %(hours)s",
                        "every %(num)d weeks on %(days)s, %(hours)s", pattern.interval,
                        days=_days(pattern.days, lang), hours=hours)
    elif pattern.every == "month" and pattern.ordinal is not None:
        text = str(BY_ORDINAL[pattern.ordinal]) % {"day": _days(pattern.days, lang),
                                                    "hours": hours}
    elif pattern.every == "month" and pattern.month_day == -1:
        text = gettext("on the last day of every month, %(hours)s", hours=hours)
    elif pattern.every == "month" and pattern.month_day == 1:
        text = gettext("on the first day of every month, %(hours)s", hours=hours)
    elif pattern.every == "month":
        text = gettext("on day %(day)d of every month, %(hours)s", day=pattern.month_day,
                       hours=hours)
    else:
        text = gettext("on a schedule of its own, %(hours)s", hours=hours)
    if tz and tz != current_app.config.get("TIMEZONE"):
        text += f" ({tz})"
    return text


def _clock(moment: time) -> str:
    """A time of day: ``6 h 30`` / ``6:30``."""
    if moment.minute == 0:
        return gettext("%(hour)d:00", hour=moment.hour)
    return gettext("%(hour)d:%(minute)02d", hour=moment.hour, minute=moment.minute)


def _hours(pattern: Pattern, lang: str) -> str:
    """When in the day: ``de 6 h à 6 h 30``, ``à partir de 22 h, pendant 1 j et 6 h`` or
    ``pendant 10 min`` (no time of day fixed)."""
    duration = fmt_duration(pattern.duration, lang)
    if pattern.at is None:
        return gettext("for %(duration)s", duration=duration)
    if pattern.duration >= 86400:
        return gettext("from %(start)s, for %(duration)s", start=_clock(pattern.at),
                       duration=duration)
    end = (datetime.combine(datetime.min, pattern.at)
           + timedelta(seconds=pattern.duration)).time()
    return gettext("%(start)s–%(end)s", start=_clock(pattern.at), end=_clock(end))


def _days(codes: tuple[str, ...], lang: str) -> str:
    """``samedi et dimanche`` / ``Saturday and Sunday``."""
    names = Locale.parse(lang).days["format"]["wide"]
    return format_list([names[_WEEK.index(code)] for code in codes], locale=lang)
