"""Maintenance calendars (RFC 5545): ``/maintenance.ics`` and ``/services/<id>.ics``.

Written with the ``icalendar`` package, imported when a calendar is first asked for (an
idle dashboard never loads it), from the records of :mod:`monitor.incidents.calendar`,
which say what each window is in calendar terms:

- ``METHOD:PUBLISH``, ``PRODID``, a name and a description in the reader's language
  (``X-WR-CALNAME`` and RFC 7986's ``NAME``), and how often to fetch it again
  (``REFRESH-INTERVAL``, ``X-PUBLISHED-TTL``: an hour);
- one ``VEVENT`` per one-off window, in UTC; a recurring window is one ``VEVENT`` with
  ``DTSTART;TZID=<its zone>``, ``DURATION``, ``RRULE``, ``EXDATE`` and the occurrences
  written again (``RECURRENCE-ID``), with a ``VTIMEZONE`` for its zone made here from
  the system's time zone data (every change of the clocks from the first occurrence's
  year to :data:`ZONE_YEARS_AHEAD` years ahead);
- ``UID`` ``maintenance-<id>@<host>`` (the host of ``site.public_url``, else of the
  address asked), ``maintenance-<id>-<start>@<host>`` for each occurrence of a window
  written out; ``SEQUENCE``, ``DTSTAMP`` and ``LAST-MODIFIED`` from the window's last
  change, so the same data gives the same bytes, and an app updates its copy rather than
  adding a second one;
- ``STATUS:CANCELLED`` for what was cancelled, ``TRANSP:TRANSPARENT`` (a maintenance
  does not make a member busy), ``CLASS:PUBLIC``.

Only public words: the window's title and message (said to members on the page already)
and the names of the services it covers; titles and messages are cleaned again here
(:mod:`monitor.safetext`) for rows stored before that boundary existed. ``icalendar``
escapes ``;``, ``,``, ``\\`` and line breaks, folds lines at 75 octets and ends them with
CRLF.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from dashboard.i18n import gettext
from monitor.incidents.calendar import CalendarWindow, Instance, clock_changes
from monitor.safetext import clean_line, clean_text

#: how often calendar apps are asked to fetch a calendar again
REFRESH = timedelta(hours=1)
#: years of clock changes written in a VTIMEZONE after the current one (calendar apps
#: that know the zone by its name, most of them, use their own data anyway)
ZONE_YEARS_AHEAD = 10
_HOST = re.compile(r"[a-z0-9.-]{1,253}")


def uid_host(base: str) -> str:
    """The host that ends every UID: the site's host name (``vigie.invalid`` when it is
    not a plain host name)."""
    host = (urlsplit(base).hostname or "").lower()
    return host if _HOST.fullmatch(host) else "vigie.invalid"


def render(windows: Sequence[CalendarWindow], *, lang: str, name: str, description: str,
           base: str, source: str, service_names: Mapping[str, str], now: float) -> bytes:
    """The calendar of ``windows`` (RFC 5545 bytes, UTF-8, CRLF).

    :param name: the calendar's name; ``description`` says what it holds.
    :param base: the site's address (links and UIDs); ``source`` the calendar's own.
    :param service_names: service id → name in ``lang``.
    """
    from icalendar import Calendar

    cal = Calendar()
    cal.add("prodid", f"-//Vigie//Maintenance calendar//{lang.upper()}")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", clean_line(name))
    cal.add("x-wr-calname", clean_line(name))
    cal.add("description", clean_line(description))
    cal.add("x-wr-caldesc", clean_line(description))
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    cal.add("source", source, parameters={"VALUE": "URI"})
    cal.add("url", base + "/maintenance")
    first_years: dict[str, int] = {}
    for window in windows:
        if window.recurrence is not None:
            year = window.recurrence.first.year
            first_years[window.timezone] = min(year, first_years.get(window.timezone, year))
    last_year = datetime.fromtimestamp(now, UTC).year + ZONE_YEARS_AHEAD
    for tz, first_year in sorted(first_years.items()):
        cal.add_component(vtimezone(tz, first_year - 1, last_year))
    host = uid_host(base)
    for window in windows:
        for event in _events(window, lang, host, base, service_names):
            cal.add_component(event)
    return cal.to_ical()


def _events(window: CalendarWindow, lang: str, host: str, base: str,
            names: Mapping[str, str]) -> Iterator[Any]:
    """The VEVENTs of one window (see the module)."""
    from icalendar import Event, vRecur

    def event(uid: str, cancelled: bool) -> Any:
        found = Event()
        found.add("uid", uid)
        found.add("dtstamp", _utc(window.updated_at))
        found.add("created", _utc(window.created_at))
        found.add("last-modified", _utc(window.updated_at))
        found.add("sequence", window.sequence)
        found.add("summary", summary)
        found.add("description", text)
        found.add("url", base + "/maintenance")
        found.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        found.add("transp", "TRANSPARENT")
        found.add("class", "PUBLIC")
        return found

    def timed(uid: str, instance: Instance, recurrence_id: datetime | None = None) -> Any:
        found = event(uid, instance.cancelled)
        if recurrence_id is not None:
            found.add("recurrence-id", recurrence_id.replace(tzinfo=zone))
        found.add("dtstart", _utc(instance.start))
        found.add("dtend", _utc(instance.end))
        return found

    title = window.title.say(lang)
    summary = gettext("Maintenance: %(title)s", title=clean_line(title))
    message = window.message.say(lang)
    text = "\n\n".join(part for part in (
        clean_text(message),
        gettext("Affects:") + " " + ", ".join(clean_line(names.get(sid, sid))
                                              for sid in window.service_ids),
        base + "/maintenance") if part)
    uid = f"maintenance-{window.id}@{host}"
    recurrence = window.recurrence
    if recurrence is None:
        if window.expanded:
            for instance in window.instances:
                yield timed(f"maintenance-{window.id}-{int(instance.start)}@{host}", instance)
        else:
            yield from (timed(uid, instance) for instance in window.instances)
        return
    zone = ZoneInfo(window.timezone)
    master = event(uid, recurrence.cancelled)
    master.add("dtstart", recurrence.first.replace(tzinfo=zone))
    master.add("duration", timedelta(seconds=recurrence.duration))
    master.add("rrule", vRecur.from_ical(recurrence.rrule))
    if recurrence.exdates:
        master.add("exdate", [d.replace(tzinfo=zone) for d in recurrence.exdates])
    yield master
    for naive, instance in recurrence.overrides:
        yield timed(uid, instance, naive)


def _utc(at: float) -> datetime:
    return datetime.fromtimestamp(int(at), UTC)


# Time zones ---------------------------------------------------------------------------


def vtimezone(name: str, first_year: int, last_year: int) -> Any:
    """A VTIMEZONE for the zone ``name`` valid from ``first_year`` to ``last_year``:
    its offset on 1 January of the first year, then every change of the clocks
    (:func:`monitor.incidents.calendar.clock_changes`; each observance's ``DTSTART`` and
    ``RDATE`` in the wall-clock time before the change, as RFC 5545 says)."""
    from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

    out = Timezone()
    out.add("tzid", name)
    begin = datetime(first_year, 1, 1, tzinfo=UTC)
    local = begin.astimezone(ZoneInfo(name))
    offset = local.utcoffset() or timedelta()
    observances: dict[tuple, list[datetime]] = {
        (offset, offset, local.tzname() or "", bool(local.dst())):
            [(begin + offset).replace(tzinfo=None)]}
    for at, before, after, after_name, after_dst in clock_changes(name, first_year, last_year):
        observances.setdefault((before, after, after_name, after_dst), []).append(
            (at + before).replace(tzinfo=None))
    for (before, after, tzname, dst), starts in observances.items():
        part = TimezoneDaylight() if dst else TimezoneStandard()
        part.add("dtstart", starts[0])
        if starts[1:]:
            part.add("rdate", starts[1:])
        if tzname:
            part.add("tzname", tzname)
        part.add("tzoffsetfrom", before)
        part.add("tzoffsetto", after)
        out.add_component(part)
    return out
