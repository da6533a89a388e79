"""The overview's banner: it names the services that are not working normally, says that
the others work, and takes a tone (colour, symbol, words) scaled to what is affected.

One service slow among nine is not "everything is down": the tone goes from
``operational`` (green) through ``maintenance`` (blue), ``unknown`` (grey), ``minor``
(services slowed down: amber) and ``partial`` (some services down: orange) to ``major``
(more than half of the services down or partly down: red). The sentence is built from
gettext entries with their plural forms (one service or several) and Babel's list
patterns for the names ("Messagerie et Nextcloud"), so both languages stay grammatical.

The JSON API's ``vigie_banner`` (Statuspage's indicator) is :func:`dashboard.views.overall`,
unchanged: the tone is the page's way of saying it to members.
"""

from __future__ import annotations

from dataclasses import dataclass

from babel.lists import format_list
from flask_babel import lazy_gettext

from dashboard.i18n import gettext, ngettext

from dashboard.views import PageData, ServiceView
from monitor.state import ServiceStatus
from monitor.status import SERVICE_ORDER

#: statuses the banner names, most serious first (the order of the sentence)
NAMED = tuple(s for s in reversed(SERVICE_ORDER) if s is not ServiceStatus.OPERATIONAL)
#: a text symbol per tone, so that colour is never the only sign
SYMBOLS = {"operational": "✓", "maintenance": "⚙", "unknown": "?", "minor": "!",
           "partial": "!", "major": "✕"}
#: what the banner adds under its sentence, per tone ("is it me or is it you?")
HINTS = {
    "operational": lazy_gettext("If something does not work for you, the problem is probably "
                                "on your side: the guides and the forum can help."),
    "maintenance": lazy_gettext("Planned work is in progress; some services may be "
                                "unavailable for a while."),
    "unknown": lazy_gettext("The monitoring has no results yet."),
    "minor": lazy_gettext("We know about it. The details and what is being done are below."),
    "partial": lazy_gettext("We know about it and are working on it. The details are below."),
    "major": lazy_gettext("We know about it and are working on it. The details are below."),
}


@dataclass(frozen=True, slots=True)
class Banner:
    """The banner as shown: tone, symbol, sentence and hint in the page's language."""

    tone: str
    symbol: str
    text: str
    hint: str
    #: the non-operational services and their statuses (``mail:major_outage,…``, sorted):
    #: the page's script compares it with the JSON summary to know when to refresh it
    state: str


def tone(services: list[ServiceView]) -> str:
    """How alarming the banner is, from what the services' statuses are (module docstring)."""
    statuses = [s.status for s in services]
    outages = sum(s in (ServiceStatus.MAJOR_OUTAGE, ServiceStatus.PARTIAL_OUTAGE)
                  for s in statuses)
    if outages and outages * 2 > len(statuses):
        return "major"
    if outages:
        return "partial"
    if ServiceStatus.DEGRADED in statuses:
        return "minor"
    if ServiceStatus.MAINTENANCE in statuses:
        return "maintenance"
    if ServiceStatus.UNKNOWN in statuses:
        return "unknown"
    return "operational"


def overall_words(services: list[ServiceView]) -> str:
    """The overall state in a few words, for the JSON API's description and the status
    badge, in the banner's tone: "Major outage" only when most services are out, "Some
    services are down" when a few are (the machine indicator keeps Statuspage's values)."""
    from dashboard.i18n import BANNERS

    said = tone(services)
    if said == "major":
        return str(BANNERS["major"])
    if said == "partial" and any(s.status == ServiceStatus.MAJOR_OUTAGE for s in services):
        return gettext("Some services are down")
    if said in ("partial", "minor"):
        return str(BANNERS["disturbed"])
    return str(BANNERS[said])


def state_key(services: list[ServiceView]) -> str:
    """``id:status`` of every service not operational, sorted and joined by commas."""
    return ",".join(sorted(f"{s.id}:{s.status.label}" for s in services
                           if s.status != ServiceStatus.OPERATIONAL))


def _clause(status: ServiceStatus, names: str, count: int) -> str:
    """One part of the sentence: the services of one status (``names`` already a list)."""
    if status == ServiceStatus.MAJOR_OUTAGE:
        return ngettext("the %(names)s service is down", "the %(names)s services are down",
                        count, names=names)
    if status == ServiceStatus.PARTIAL_OUTAGE:
        return ngettext("the %(names)s service is partly down",
                        "the %(names)s services are partly down", count, names=names)
    if status == ServiceStatus.DEGRADED:
        return ngettext("the %(names)s service is slow", "the %(names)s services are slow",
                        count, names=names)
    if status == ServiceStatus.MAINTENANCE:
        return ngettext("the %(names)s service is under maintenance",
                        "the %(names)s services are under maintenance", count, names=names)
    return ngettext("the state of the %(names)s service is not known yet",
                    "the state of the %(names)s services is not known yet", count, names=names)


def _everything(status: ServiceStatus) -> str:
    """The sentence when every service (more than one) has ``status``."""
    return {
        ServiceStatus.OPERATIONAL: gettext("All services are working normally"),
        ServiceStatus.MAJOR_OUTAGE: gettext("All services are down."),
        ServiceStatus.PARTIAL_OUTAGE: gettext("All services are partly down."),
        ServiceStatus.DEGRADED: gettext("All services are slow."),
        ServiceStatus.MAINTENANCE: gettext("All services are under maintenance."),
        ServiceStatus.UNKNOWN: gettext("The state of the services is not known yet."),
    }[status]


def sentence(services: list[ServiceView], lang: str) -> str:
    """What the banner says: the affected services named by status, then that the
    others work ("Le service Webmail est en panne ; les autres services fonctionnent.")."""
    statuses = {s.status for s in services}
    if not services or statuses == {ServiceStatus.OPERATIONAL}:
        return _everything(ServiceStatus.OPERATIONAL)
    if len(statuses) == 1 and len(services) > 1:
        return _everything(statuses.pop())
    clauses = []
    for status in NAMED:
        names = [s.name.text(lang) for s in services if s.status == status]
        if names:
            clauses.append(_clause(status, format_list(names, locale=lang), len(names)))
    what = format_list(clauses, locale=lang)
    what = what[:1].upper() + what[1:]
    working = sum(s.status == ServiceStatus.OPERATIONAL for s in services)
    if not working:
        return gettext("%(what)s.", what=what)
    return ngettext("%(what)s; the other service works.",
                    "%(what)s; the other services work.", working, what=what)


def banner(data: PageData, lang: str) -> Banner:
    """The banner of ``data`` in ``lang``."""
    services = list(data.services.values())
    level = tone(services)
    return Banner(level, SYMBOLS[level], sentence(services, lang), str(HINTS[level]),
                  state_key(services))
