"""French wording shared by the forum posts and the helpdesk tickets: dates, impacts,
phases, durations."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")

IMPACTS = {
    "degraded": "service dégradé",
    "partial_outage": "panne partielle",
    "major_outage": "panne majeure",
    "maintenance": "maintenance",
    "unknown": "état inconnu",
    "operational": "fonctionnement normal",
}

PHASES = {
    "investigating": "recherche en cours",
    "identified": "cause identifiée",
    "monitoring": "sous surveillance",
    "resolved": "résolu",
}

STATUSES = {
    "up": "fonctionne",
    "degraded": "dégradé",
    "down": "en panne",
    "unknown": "état inconnu",
    "maintenance": "en maintenance",
}


def impact(label: str) -> str:
    """French name of an impact (a service status label)."""
    return IMPACTS.get(label, label)


def phase(label: str) -> str:
    """French name of an incident phase."""
    return PHASES.get(label, label)


def status(label: str) -> str:
    """French name of a check status."""
    return STATUSES.get(label, label)


def when(timestamp: float, zone: str = "Europe/Paris") -> str:
    """``12 mars 2026 à 14 h 05`` in ``zone``."""
    moment = datetime.fromtimestamp(timestamp, ZoneInfo(zone))
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year} à {moment.hour} h {moment.minute:02d}"


def duration(seconds: float) -> str:
    """``2 h 05 min``, ``12 min``, ``moins d'une minute``."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "moins d'une minute"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} j {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"
