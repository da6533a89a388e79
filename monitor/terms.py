"""Incident phases, impacts and check statuses, worded once for every reader.

The status page, the alerts, the forum posts, the tickets and the incident timelines all
take their words from these tables (catalogue messages, :mod:`monitor.words`), so a phase
reads the same everywhere. A word used inside a sentence is never glued to another that
must agree with it: "performances dégradées détectées" and "panne majeure détectée" are
whole sentences, one per impact (:data:`DETECTED`).

Words are lower case, as they read inside a sentence; :func:`sentence_case` makes a label.
"""

from __future__ import annotations

from monitor.words import Words, _

#: an incident's phase (Statuspage's four)
PHASES: dict[str, Words] = {
    "investigating": _("looking for the cause"),
    "identified": _("cause identified"),
    "monitoring": _("fix applied, monitoring"),
    "resolved": _("resolved"),
}

#: an incident's impact, and the other states a service can be in
IMPACTS: dict[str, Words] = {
    "degraded": _("degraded performance"),
    "partial_outage": _("partial outage"),
    "major_outage": _("major outage"),
    "maintenance": _("under maintenance"),
    "operational": _("working normally"),
    "unknown": _("unknown state"),
}

#: a check's status
CHECK_STATUSES: dict[str, Words] = {
    "up": _("working"),
    "degraded": _("slow"),
    "down": _("not working"),
    "unknown": _("could not be checked"),
    "maintenance": _("under maintenance"),
}

#: impact → the timeline's first sentence of an automatic incident
DETECTED: dict[str, Words] = {
    "degraded": _("{service}: degraded performance detected by automatic monitoring."),
    "partial_outage": _("{service}: partial outage detected by automatic monitoring."),
    "major_outage": _("{service}: major outage detected by automatic monitoring."),
}

#: the same, for a change recorded late (Vigie's database was unreachable)
DETECTED_LATE: dict[str, Words] = {
    "degraded": _("{service}: degraded performance detected by automatic monitoring at "
                  "{time} (recorded at {recorded}: Vigie's database was unreachable)."),
    "partial_outage": _("{service}: partial outage detected by automatic monitoring at "
                        "{time} (recorded at {recorded}: Vigie's database was unreachable)."),
    "major_outage": _("{service}: major outage detected by automatic monitoring at {time} "
                      "(recorded at {recorded}: Vigie's database was unreachable)."),
}


def phase(label: str) -> Words | str:
    """The words of a phase (the label itself when unknown)."""
    return PHASES.get(label, label)


def impact(label: str) -> Words | str:
    """The words of an impact or a service status (the label itself when unknown)."""
    return IMPACTS.get(label, label)


def check_status(label: str) -> Words | str:
    """The words of a check's status (the label itself when unknown)."""
    return CHECK_STATUSES.get(label, label)


def sentence_case(text: str) -> str:
    """``Looking for the cause``: the first letter in upper case, for a label."""
    return text[:1].upper() + text[1:]
