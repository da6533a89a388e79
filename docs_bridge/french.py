"""Dates as the forum posts and the helpdesk tickets write them, in French or English.

Phases, impacts, statuses and durations come from the one set of words of Vigie
(:mod:`monitor.terms`, :func:`monitor.words.duration`).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

from monitor.api import say


def when(timestamp: float, zone: str = "Europe/Paris", lang: str = "fr") -> str:
    """``12 mars 2026 à 14 h 05`` / ``March 12, 2026 at 14:05`` in ``zone``."""
    moment = datetime.fromtimestamp(timestamp, ZoneInfo(zone))
    day = format_date(moment, "long", locale=lang)
    if lang == "fr":
        clock = f"{moment.hour} h {moment.minute:02d}"
    else:
        clock = f"{moment.hour:02d}:{moment.minute:02d}"
    return say(lang, "{day} at {time}", day=day, time=clock)
