"""The words of the locations: a verdict's reason ("2 of 3 locations: …") and the
``vigie.agents`` alerts of a location gone silent or back.

A verdict's reason is stored with the check's result like a probe's: volunteers read its
sentence, members the words of its code (:mod:`monitor.reasonwords`). Down, degraded and
maintenance keep the code of the deciding locations' own reason (members read "the site
answers with an error" as for a check run from one place); the codes of the locations'
own situations are ``vigie.locations.*`` (:data:`PARTIAL`, :data:`NO_QUORUM`…).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from monitor.locations.consensus import Verdict
from monitor.notifications import SystemAlert
from monitor.probe import Reason, Status, reason
from monitor.words import Bilingual, Words, _, duration, n_

#: up for members, but some locations (fewer than the quorum) see a failure
PARTIAL = "vigie.locations.partial"
#: too few locations could judge the check to reach the quorum
NO_QUORUM = "vigie.locations.no_quorum"
#: a quorum of failures whose deciding location gave no reason
DOWN = "vigie.locations.down"
DEGRADED = "vigie.locations.degraded"
MAINTENANCE = "vigie.locations.maintenance"
#: the system alerts of a remote location gone silent, or reporting again
ALERT_CODE = "vigie.agents"

_NO_REASON = {Status.DOWN: DOWN, Status.DEGRADED: DEGRADED, Status.MAINTENANCE: MAINTENANCE}


def labels(names: Sequence[str], label_of: Callable[[str], Bilingual]) -> Bilingual:
    """The locations ``names`` by their labels, ``Lyon, Chez Alice``."""
    said = [label_of(n) for n in names]
    return Bilingual(", ".join(s.fr for s in said), ", ".join(s.say("en") for s in said))


def verdict_reason(verdict: Verdict, reasons: Mapping[str, Reason | None],
                   label_of: Callable[[str], Bilingual]) -> Reason | None:
    """The reason of ``verdict`` (its status set); ``reasons`` holds each location's last
    reason. None for up with no location failing."""
    status, total = verdict.status, verdict.total
    if status is Status.UNKNOWN:
        return reason(NO_QUORUM, n_(
            "only {n} location of {total} can judge the check ({quorum} needed)",
            "only {n} locations of {total} can judge the check ({quorum} needed)",
            len(verdict.judging), total=total, quorum=verdict.quorum))
    if status is Status.UP:
        failing = verdict.failing
        if not failing:
            return None
        cause = _first_reason(failing, reasons)
        words = n_("{n} location of {total} sees a failure ({locations}): {cause}",
                   "{n} locations of {total} see a failure ({locations}): {cause}",
                   len(failing), total=total, locations=labels(failing, label_of),
                   cause=_words(cause))
        return reason(PARTIAL, words, public=cause.public if cause else True)
    cause = _first_reason(verdict.deciding, reasons)
    words = n_("{n} location of {total}: {cause}", "{n} locations of {total}: {cause}",
               len(verdict.deciding), total=total, cause=_words(cause))
    assert status is not None, "a verdict without status has no reason"
    code = cause.code if cause is not None else _NO_REASON[status]
    return reason(code, words, public=cause.public if cause else True)


def _first_reason(names: Sequence[str], reasons: Mapping[str, Reason | None]
                  ) -> Reason | None:
    return next((r for n in names if (r := reasons.get(n)) is not None), None)


def _words(cause: Reason | None) -> Words | Bilingual:
    return cause.words if cause is not None else _("no reason given")


def silent_alert(location: str, label: Bilingual, silent_since: float, at: float,
                 checks: int) -> SystemAlert:
    """The ``vigie.agents`` alert of a remote location silent since ``silent_since``."""
    title = _("Location {location} is unreachable", location=label)
    message = n_(
        "No result has come from the location {location} for {duration}: its agent may be "
        "stopped, or cut off from Vigie. Its {n} check is decided by its other locations "
        "meanwhile; members are told nothing of it.",
        "No result has come from the location {location} for {duration}: its agent may be "
        "stopped, or cut off from Vigie. Its {n} checks are decided by their other "
        "locations meanwhile; members are told nothing of it.", checks,
        location=label, duration=duration(at - silent_since))
    return SystemAlert.worded(
        ALERT_CODE, f"{ALERT_CODE}:{location}:silent:{int(silent_since)}", "warning",
        title, message, at, details={"location": location, "state": "unreachable",
                                     "silent_since": f"{silent_since:.0f}"})


def back_alert(location: str, label: Bilingual, silent_since: float, at: float
               ) -> SystemAlert:
    """The ``vigie.agents`` alert of a location reporting again after its silence."""
    title = _("Location {location} reports again", location=label)
    message = _("Results come from the location {location} again, after {duration} of "
                "silence.", location=label, duration=duration(at - silent_since))
    return SystemAlert.worded(
        ALERT_CODE, f"{ALERT_CODE}:{location}:back:{int(at)}", "info", title, message, at,
        details={"location": location, "state": "reachable",
                 "silent_since": f"{silent_since:.0f}"})
