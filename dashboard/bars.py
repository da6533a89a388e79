"""The words of the 90-day bars, written so that the overview stays light.

The overview shows 90 days for every service: with the day's full text in every segment
that was about 5 KiB per service, nine tenths of the page. The page now sends, per day,
a bare segment (``<li>``: operational, the common case) or one with a one-letter class
for its colour, plus the day's value (``98,50 %, 1 incident``) only when it differs from
what the class implies (``100 %``, or "no data" for a day without data); the 90 dates are
sent once per page (:func:`bar_labels`). ``vigie.js`` puts the text back into each
segment, so with JavaScript every day reads as before (on hover, on focus, to a screen
reader). Without JavaScript the segments are hidden from screen readers and a sentence
per service (:func:`bar_summary`) says what they show: every day that was not perfect,
with its value, and how many days have no data.
"""

from __future__ import annotations

from collections.abc import Sequence

from dashboard.i18n import gettext, ngettext
from markupsafe import Markup, escape

from dashboard.i18n import STATUS_LABELS, fmt_day, fmt_percent
from dashboard.views import DAY_CLASSES, DayView

#: the format of the dates written in the segments and in the summary
DAY_FORMAT = "MMMEd"
#: class of a segment without data (see dashboard.views.DAY_CLASSES)
NO_DATA_CLASS = "n"
#: class left unsaid: a bare segment is an operational day (the CSS colours it so)
IMPLIED_CLASS = "o"


def day_value(day: DayView, lang: str) -> str:
    """What a day of the bar says after its date: ``98,50 %, 1 incident``; a day with no
    figure says why (``Maintenance``: not counted, see monitor.availability)."""
    if day.uptime is not None:
        text = fmt_percent(day.uptime, lang)
    elif day.worst is not None:
        text = str(STATUS_LABELS[day.worst])
    else:
        text = gettext("no data")
    if day.incidents:
        text += ", " + ngettext("%(num)d incident", "%(num)d incidents", day.incidents)
    return text


def _defaults(lang: str) -> tuple[str, str]:
    """``(full, no data)``: the values a segment leaves unsaid."""
    return fmt_percent(1.0, lang), gettext("no data")


def bar_values(days: Sequence[DayView], lang: str) -> list[str | None]:
    """Each day's value, or ``None`` where the segment's class implies it (the default)."""
    full, nodata = _defaults(lang)
    out: list[str | None] = []
    for day in days:
        value = day_value(day, lang)
        implied = nodata if day.css == NO_DATA_CLASS else full
        out.append(None if value == implied else value)
    return out


def bar_segments(days: Sequence[DayView], lang: str) -> Markup:
    """The ``<li>`` of every day (end tags omitted, as HTML allows): the class when it is
    not :data:`IMPLIED_CLASS`, the value in ``data-t`` when the class does not imply it."""
    parts = []
    for day, value in zip(days, bar_values(days, lang)):
        css = day.css
        parts.append("<li" + ("" if css == IMPLIED_CLASS else f" class={css}")
                     + ("" if value is None else f' data-t="{escape(value)}"') + ">")
    return Markup("".join(parts))


def bar_labels(days: Sequence[DayView], lang: str) -> dict[str, object]:
    """What ``vigie.js`` needs to write the segments' text: the 90 dates, once per page
    (every bar has the same days), and the two default values; and to follow today from
    the summary it fetches (``vigie_today``, ``vigie_uptime_text``): the class of each
    status and the sentence of the figure."""
    full, nodata = _defaults(lang)
    return {"days": [fmt_day(d.day, lang, DAY_FORMAT) for d in days],
            "full": full, "nodata": nodata,
            "classes": {(status.label if status else ""): css
                        for status, css in DAY_CLASSES.items()},
            "available": gettext("%(percent)s available", percent="%s")}


def bar_summary(days: Sequence[DayView], lang: str) -> str:
    """The bar in one sentence: every day not fully available (date and value), and the
    number of days without data."""
    full, nodata = _defaults(lang)
    marked = [gettext("%(day)s: %(value)s", day=fmt_day(d.day, lang, DAY_FORMAT), value=value)
              for d in days if (value := day_value(d, lang)) not in (full, nodata)]
    missing = sum(1 for d in days if d.worst is None and not d.incidents)
    if marked:
        text = gettext("Days not fully available over the last %(count)d: %(days)s.",
                       count=len(days), days="; ".join(marked))
    else:
        text = gettext("Each of the last %(count)d days with data was fully available.",
                       count=len(days))
    if missing:
        text += " " + ngettext("%(num)d day without data.", "%(num)d days without data.",
                               missing)
    return text
