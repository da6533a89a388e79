"""The words of automatic incidents' timelines, in French and English.

The engine writes them, from the catalogues (:mod:`monitor.words`, :mod:`monitor.terms`),
in both languages; they are public (the status page, the feed) and go to plugins in
the events' messages. A change recorded late (the database was away) gives its real times
in the site's time zone and says when it was recorded: "Mail was down from 22:14 to 22:15
and is working again; we are monitoring it (recorded at 22:40: Vigie's database was
unreachable)".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from monitor import terms
from monitor.words import Bilingual, Words, _, duration, n_, say

if TYPE_CHECKING:
    from monitor.incidents.engine import StatusChange


def local_time(at: float, tz: str, lang: str, reference: float | None = None) -> str:
    """``22:14`` in the site's time zone, with the day (``22:14 (28/05)``, ``22:14
    (May 28)``) when it is not the day of ``reference``."""
    zone = ZoneInfo(tz)
    when = datetime.fromtimestamp(at, zone)
    text = when.strftime("%H:%M")
    if reference is not None and datetime.fromtimestamp(reference, zone).date() != when.date():
        day = when.strftime("%d/%m") if lang == "fr" else f"{when:%b} {when.day}"
        text += f" ({day})"
    return text


@dataclass(frozen=True, slots=True)
class Late:
    """A change recorded after its time (the database was away): when it was recorded,
    and the site's time zone the timeline's times are written in."""

    recorded_at: float
    timezone: str

    def time(self, at: float, lang: str) -> str:
        """``at`` as the timeline writes it."""
        return local_time(at, self.timezone, lang, self.recorded_at)

    def times(self, at: float) -> Bilingual:
        """``at`` as the timeline writes it, in each language."""
        return Bilingual(self.time(at, "fr"), self.time(at, "en"))


def _details(change: StatusChange) -> Bilingual:
    """``Web: connection refused; DNS: …`` in each language: the reasons members may read
    (the timeline is public: reasons quoting outside text are replaced, Reason.for_public)."""
    shown = [(c.name, c.public_reason()) for c in change.checks if c.reason_fr]
    return Bilingual(*("; ".join(say(lang, "{check}: {reason}", check=name.say(lang),
                                     reason=reason.say(lang))
                                 for name, reason in shown if reason.say(lang))
                       for lang in ("fr", "en")))


def change_words(change: StatusChange, kind: str, late: Late | None = None) -> Words:
    """The first sentence of a service failing: ``opened``, ``reopened`` or ``status``
    (its status changed), whole sentences per impact so that French agrees."""
    impact = terms.impact(change.current)
    service = change.name
    if late is None:
        if kind == "opened":
            return terms.DETECTED.get(change.current, _("{service}: {impact}.")).with_params(
                service=service, impact=impact)
        if kind == "reopened":
            return _("{service} is failing again ({impact}).", service=service, impact=impact)
        return _("{service}: status is now {impact}.", service=service, impact=impact)
    at, recorded = late.times(change.at), late.times(late.recorded_at)
    if kind == "opened" and change.current in terms.DETECTED_LATE:
        return terms.DETECTED_LATE[change.current].with_params(
            service=service, time=at, recorded=recorded)
    if kind == "reopened":
        return _("{service} is failing again ({impact}) since {time} (recorded at {recorded}: "
                 "Vigie's database was unreachable).", service=service, impact=impact, time=at,
                 recorded=recorded)
    return _("{service}: status changed to {impact} at {time} (recorded at {recorded}: "
             "Vigie's database was unreachable).", service=service, impact=impact, time=at,
             recorded=recorded)


def change_message(change: StatusChange, kind: str, late: Late | None = None) -> Bilingual:
    """The timeline entry of a service failing (see :func:`change_words`), with the
    reasons members may read, in French and English."""
    words, details = change_words(change, kind, late), _details(change)
    return Bilingual(*(" ".join(part for part in (words.say(lang), details.say(lang)) if part)
                       for lang in ("fr", "en")))


def recovered_words(change: StatusChange, impact: str, since: float,
                    late: Late | None) -> Words:
    """A service working again; with the times when recorded late ("was down from 22:14
    to 22:15")."""
    service = change.name
    if late is None:
        return _("{service} is working again; we are monitoring it.", service=service)
    times = dict(service=service, start=late.times(since), end=late.times(change.at),
                 recorded=late.times(late.recorded_at))
    if impact == "degraded":
        return _("{service} was degraded from {start} to {end} and is working again; we are "
                 "monitoring it (recorded at {recorded}: Vigie's database was unreachable).",
                 **times)
    return _("{service} was down from {start} to {end} and is working again; we are "
             "monitoring it (recorded at {recorded}: Vigie's database was unreachable).",
             **times)


def resolved_words(names: Sequence[Bilingual], quiet_period: float) -> Words:
    """An incident resolved after the quiet period: "Mail has worked normally for 10
    minutes", never "for 0 min"."""
    listed = Bilingual(", ".join(n.fr for n in names), ", ".join(n.say("en") for n in names))
    if quiet_period < 60:
        return n_("{services} is working normally again: incident resolved.",
                  "{services} are working normally again: incident resolved.", len(names),
                  services=listed)
    return n_("{services} has worked normally for {duration}: incident resolved.",
              "{services} have worked normally for {duration}: incident resolved.",
              len(names), services=listed, duration=duration(quiet_period))

