"""Dates as the forum posts and the helpdesk tickets write them, in French or English.

Phases, impacts, statuses and durations come from the one set of words of Vigie
(:mod:`monitor.terms`, :func:`monitor.words.duration`).
"""

from __future__ import annotations

from monitor.api import moment


def when(timestamp: float, zone: str = "Europe/Paris", lang: str = "fr") -> str:
    """``12 mars 2026 à 14 h 05`` / ``March 12, 2026 at 14:05`` in ``zone`` (the core's
    :func:`monitor.api.moment`)."""
    return moment(timestamp, zone, lang)
