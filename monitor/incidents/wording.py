"""The words of automatic incidents' timelines, in French and English.

The engine writes them; they are public (the status page, the feed) and go to plugins in
the events' messages. A change recorded late (the database was away) gives its real times
in the site's time zone and says when it was recorded: "Mail was down from 22:14 to 22:15
and is working again; we are monitoring it (recorded at 22:40: Vigie's database was
unreachable)".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from monitor.incidents.lifecycle import IMPACT_WORDS

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

    def note(self, lang: str, feminine: bool = False) -> str:
        """`` (recorded at 22:40: Vigie's database was unreachable)``."""
        recorded = self.time(self.recorded_at, lang)
        if lang == "fr":
            done = "enregistrée" if feminine else "enregistré"
            return f" ({done} à {recorded}, la base de données de Vigie étant injoignable)"
        return f" (recorded at {recorded}: Vigie's database was unreachable)"


def change_messages(change: StatusChange, kind: str,
                    late: Late | None = None) -> tuple[str, str]:
    """The timeline entry of a service failing: ``opened``, ``reopened`` or ``status``
    (its status changed), with the reasons members may read."""
    words = IMPACT_WORDS.get(change.current, ("", ""))
    # the timeline is public: reasons quoting outside text are replaced (Reason.for_public)
    shown = [(c, *c.public_reason()) for c in change.checks if c.reason_fr]
    detail_fr = "; ".join(f"{c.name_fr} : {fr}" for c, fr, _ in shown)
    detail_en = "; ".join(f"{c.name_en}: {en}" for c, _, en in shown if en)
    at_fr = f" à {late.time(change.at, 'fr')}" if late else ""
    at_en = f" at {late.time(change.at, 'en')}" if late else ""
    since_fr = f" depuis {late.time(change.at, 'fr')}" if late else ""
    since_en = f" since {late.time(change.at, 'en')}" if late else ""
    note_fr = late.note("fr", feminine=kind == "opened") if late else ""
    note_en = late.note("en") if late else ""
    if kind == "opened":
        fr = (f"{change.name_fr} : {words[0]} détectée par la surveillance automatique"
              f"{at_fr}{note_fr}.")
        en = f"{change.name_en}: {words[1]} detected by automatic monitoring{at_en}{note_en}."
    elif kind == "reopened":
        fr = f"{change.name_fr} est de nouveau en difficulté ({words[0]}){since_fr}{note_fr}."
        en = f"{change.name_en} is failing again ({words[1]}){since_en}{note_en}."
    elif late:
        fr = f"{change.name_fr} : l'état passe à « {words[0]} »{at_fr}{note_fr}."
        en = f"{change.name_en}: status changed to {words[1]}{at_en}{note_en}."
    else:
        fr = f"{change.name_fr} : l'état passe à « {words[0]} »."
        en = f"{change.name_en}: status is now {words[1]}."
    if detail_fr:
        fr += f" {detail_fr}"
    if detail_en:
        en += f" {detail_en}"
    return fr, en


def recovered_messages(change: StatusChange, impact: str, since: float,
                        late: Late | None) -> tuple[str, str]:
    """The timeline entry of a service working again; with the times when recorded late
    ("was down from 22:14 to 22:15")."""
    if late is None:
        return (f"{change.name_fr} fonctionne de nouveau ; nous surveillons.",
                f"{change.name_en} is working again; we are monitoring it.")
    start_fr, end_fr = late.time(since, "fr"), late.time(change.at, "fr")
    start_en, end_en = late.time(since, "en"), late.time(change.at, "en")
    if impact == "degraded":
        fr = f"{change.name_fr} a eu des performances dégradées de {start_fr} à {end_fr}"
        en = f"{change.name_en} was degraded from {start_en} to {end_en}"
    else:
        fr = f"{change.name_fr} a été en panne de {start_fr} à {end_fr}"
        en = f"{change.name_en} was down from {start_en} to {end_en}"
    return (f"{fr} et fonctionne de nouveau ; nous surveillons{late.note('fr')}.",
            f"{en} and is working again; we are monitoring it{late.note('en')}.")


def resolved_messages(names_fr: str, names_en: str, quiet_period: float) -> tuple[str, str]:
    """The timeline entry of an incident resolved after the quiet period."""
    minutes = round(quiet_period / 60)
    return (f"{names_fr} fonctionne normalement depuis {minutes} min : incident résolu.",
            f"{names_en} has worked normally for {minutes} min: incident resolved.")
