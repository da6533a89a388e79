"""The maintenance calendars (/maintenance.ics, /services/<id>.ics): parsed with the
``icalendar`` library and expanded with ``recurring-ical-events`` as calendar apps do,
they give Vigie's own occurrences to the second across the changes of the clocks; UIDs
stay, SEQUENCE grows, cancellations show; the text is folded and escaped so no title
can add a property; only public words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from sqlalchemy.orm import Session

from monitor.incidents.context import IncidentContext
from monitor.incidents.models import MaintenanceWindow
from monitor.incidents.recurrence import occurrences
from monitor.incidents.service import Operations
from tests.dashboard.conftest import refreshed

PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def ops(seeded, clock):
    """Volunteers' operations on the seeded store, at the test clock's time."""
    config, store, _ = seeded
    return Operations(IncidentContext.build(config, None, clock=clock))


@pytest.fixture
def change(app, client, seeded, ops, clock):
    """``change(operation, …)``: a volunteer's change, then the page's next snapshot."""
    _, store, _ = seeded

    def run(name: str, *args, **kwargs):
        with Session(store.engine) as session, session.begin():
            found = getattr(ops, name)(session, *args, **kwargs)
            result = found.id if hasattr(found, "id") else found
        clock.advance(app.config["CHECK_INTERVAL"])
        refreshed(app, client)
        return result
    return run


def calendar(client, path: str = "/maintenance.ics", **headers) -> icalendar.Calendar:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(response.data)


def events(cal: icalendar.Calendar, uid_start: str = "") -> list:
    return [e for e in cal.walk("VEVENT") if str(e["UID"]).startswith(uid_start)]


def instants(cal: icalendar.Calendar, since: datetime, until: datetime,
             uid: str) -> dict[datetime, tuple[datetime, str]]:
    """What a calendar app shows of ``uid`` between two instants: start (UTC) → (end
    (UTC), status), expanded by recurring-ical-events."""
    found = {}
    for event in recurring_ical_events.of(cal).between(since, until):
        if str(event["UID"]) == uid:
            start = event.decoded("DTSTART").astimezone(UTC)
            found[start] = (event.decoded("DTEND").astimezone(UTC),
                            str(event.get("STATUS", "")))
    return found


# What it is --------------------------------------------------------------------------------


def test_the_calendar_says_what_it_is(client, seeded):
    cal = calendar(client)
    assert cal["VERSION"] == "2.0" and cal["METHOD"] == "PUBLISH"
    assert str(cal["PRODID"]).startswith("-//Vigie//")
    assert str(cal["X-WR-CALNAME"]) == ("Coopérative Exemple — état des services : "
                                        "maintenances prévues")
    [upgrade] = [e for e in events(cal) if "Nextcloud" in str(e["SUMMARY"])]
    assert str(upgrade["SUMMARY"]) == "Maintenance : Mise à jour de Nextcloud"
    assert "Nextcloud sera indisponible une heure." in str(upgrade["DESCRIPTION"])
    assert str(upgrade["STATUS"]) == "CONFIRMED" and str(upgrade["TRANSP"]) == "TRANSPARENT"
    assert str(upgrade["UID"]).endswith("@localhost")
    # a one-off window: UTC instants, as stored
    _, store, _ = seeded
    with Session(store.engine) as session:
        row = session.query(MaintenanceWindow).filter_by(title_fr="Mise à jour de Nextcloud").one()
        start, end = row.starts_at, row.ends_at
    assert upgrade.decoded("DTSTART") == datetime.fromtimestamp(start, UTC)
    assert upgrade.decoded("DTEND") == datetime.fromtimestamp(end, UTC)
    assert upgrade.to_ical().count(b"DTSTART:") == 1 and b"Z\r\n" in upgrade.to_ical()
    assert "DTSTAMP" in upgrade and "SEQUENCE" in upgrade and "CREATED" in upgrade
    assert cal["REFRESH-INTERVAL"].dt.total_seconds() == 3600


def test_in_english_when_the_address_says_so(client):
    cal = calendar(client, "/maintenance.ics?lang=en")
    assert str(cal["X-WR-CALNAME"]) == ("Example cooperative — service status: "
                                        "planned maintenance")
    assert "Maintenance: Nextcloud upgrade" in [str(e["SUMMARY"]) for e in events(cal)]
    # the app's own language never changes what a subscription's address gives
    french = calendar(client, "/maintenance.ics", **{"Accept-Language": "en"})
    assert "Maintenance : Mise à jour de Nextcloud" in [str(e["SUMMARY"]) for e in events(french)]


def test_a_service_calendar_holds_only_its_windows(client):
    nextcloud = events(calendar(client, "/services/nextcloud.ics"))
    web = events(calendar(client, "/services/web.ics"))
    assert sorted(str(e["SUMMARY"]) for e in nextcloud) == [
        "Maintenance : Changement de routeur", "Maintenance : Mise à jour de Nextcloud"]
    assert [str(e["SUMMARY"]) for e in web] == ["Maintenance : Changement de routeur"]
    cal = calendar(client, "/services/web.ics")
    assert str(cal["X-WR-CALNAME"]).startswith("Hébergement web : maintenances prévues")
    assert client.get("/services/nope.ics").status_code == 404
    assert client.get("/services/nope.atom").status_code == 404


# Recurring windows across the changes of the clocks ---------------------------------------


def test_a_weekly_window_gives_the_right_instants_across_the_changes(change, client):
    """Every Sunday 02:00–04:00 in Paris: on 29 March 2026 02:00 does not exist (03:00–
    04:00 CEST, one hour); on 25 October it runs 02:00 CEST–04:00 CET (three hours)."""
    wid = change("create_maintenance", title_fr="Sauvegarde hebdomadaire",
                 title_en="Weekly backup", services=["web"], weekly="sunday", at="02:00",
                 duration="2h", start="2026-03-01 00:00")
    cal = calendar(client)
    [master] = [e for e in events(cal) if "RRULE" in e]
    assert master.to_ical().count(b"DTSTART;TZID=Europe/Paris:20260301T020000") == 1
    assert str(master["UID"]) == f"maintenance-{wid}@localhost"
    [zone] = cal.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/Paris"
    # each change at the wall-clock time before it (RFC 5545), for ten years ahead
    onsets = {}
    for part in zone.subcomponents:
        key = (part.name, part.decoded("TZOFFSETFROM"), part.decoded("TZOFFSETTO"))
        rdates = part.get("RDATE", [])
        for rdate in rdates if isinstance(rdates, list) else [rdates]:
            onsets.setdefault(key, []).extend(d.dt for d in rdate.dts)
        onsets.setdefault(key, []).append(part.decoded("DTSTART"))
    hour = timedelta(hours=1)
    summer = onsets[("DAYLIGHT", hour, 2 * hour)]
    assert datetime(2026, 3, 29, 2) in summer and datetime(2036, 3, 30, 2) in summer
    assert datetime(2026, 10, 25, 3) in onsets[("STANDARD", 2 * hour, hour)]
    uid = f"maintenance-{wid}@localhost"
    shown = instants(cal, utc(2026, 3, 20), utc(2026, 11, 3), uid)
    assert shown[utc(2026, 3, 22, 1)] == (utc(2026, 3, 22, 3), "CONFIRMED")
    assert shown[utc(2026, 3, 29, 1)] == (utc(2026, 3, 29, 2), "CONFIRMED")
    assert shown[utc(2026, 4, 5, 0)] == (utc(2026, 4, 5, 2), "CONFIRMED")
    assert shown[utc(2026, 10, 25, 0)] == (utc(2026, 10, 25, 3), "CONFIRMED")
    assert shown[utc(2026, 11, 1, 1)] == (utc(2026, 11, 1, 3), "CONFIRMED")
    # the same as Vigie's own expansion, occurrence by occurrence
    with_vigie = {datetime.fromtimestamp(o.start, UTC): datetime.fromtimestamp(o.end, UTC)
                  for o in occurrences("RRULE:FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0",
                                       7200, "Europe/Paris", utc(2026, 3, 20).timestamp(),
                                       utc(2026, 11, 3).timestamp())}
    assert {s: e for s, (e, _) in shown.items()} == with_vigie
    # and for a reader taking DURATION as exact time (RFC 5545), as python-dateutil does
    assert strictly(cal, uid, utc(2026, 3, 20), utc(2026, 11, 3)) == with_vigie


def strictly(cal: icalendar.Calendar, uid: str, since: datetime,
             until: datetime) -> dict[datetime, datetime]:
    """A recurrence expanded to the letter of RFC 5545 with python-dateutil: RRULE from
    DTSTART, each occurrence lasting DURATION of exact time, EXDATE left out, the
    occurrences written again (RECURRENCE-ID) taken as written: start → end, UTC."""
    from dateutil.rrule import rrulestr

    found = [e for e in cal.walk("VEVENT") if str(e["UID"]) == uid]
    [master] = [e for e in found if "RRULE" in e]
    rule = rrulestr("RRULE:" + master["RRULE"].to_ical().decode(),
                    dtstart=master.decoded("DTSTART"))
    excluded = {d.dt for d in getattr(master.get("EXDATE"), "dts", [])}
    written = {e.decoded("RECURRENCE-ID"): e for e in found if "RECURRENCE-ID" in e}
    out = {}
    for start in rule.between(since, until, inc=True):
        if start in excluded:
            continue
        if start in written:
            event = written[start]
            out[event.decoded("DTSTART").astimezone(UTC)] = event.decoded("DTEND").astimezone(UTC)
        else:
            out[start.astimezone(UTC)] = datetime.fromtimestamp(
                start.timestamp() + master.decoded("DURATION").total_seconds(), UTC)
    return out


def test_the_rrule_alone_gives_the_right_starts(change, client):
    """The RRULE expanded by python-dateutil from its DTSTART in the VTIMEZONE's zone
    starts where Vigie does: 01:00 UTC before the change of March, 00:00 UTC after."""
    from dateutil.rrule import rrulestr

    change("create_maintenance", title_fr="Sauvegarde", services=["web"], weekly="sunday",
           at="02:00", duration="2h", start="2026-03-01 00:00")
    [master] = [e for e in events(calendar(client)) if "RRULE" in e]
    rule = rrulestr("RRULE:" + master["RRULE"].to_ical().decode(),
                    dtstart=master.decoded("DTSTART"))
    starts = [s.astimezone(UTC) for s in rule.between(utc(2026, 3, 20), utc(2026, 11, 3))]
    assert starts[:3] == [utc(2026, 3, 22, 1), utc(2026, 3, 29, 1), utc(2026, 4, 5, 0)]
    assert utc(2026, 10, 25, 0) in starts and utc(2026, 11, 1, 1) in starts


def test_an_occurrence_the_change_swallows_is_left_out(change, client):
    wid = change("create_maintenance", title_fr="Nuit courte", services=["web"],
                 weekly="sunday", at="02:30", duration="1h", start="2026-03-01 00:00")
    shown = instants(calendar(client), utc(2026, 3, 20), utc(2026, 4, 10),
                     f"maintenance-{wid}@localhost")
    assert sorted(shown) == [utc(2026, 3, 22, 1, 30), utc(2026, 4, 5, 0, 30)]


def test_a_rule_no_rrule_says_is_written_out(change, client, clock):
    wid = change("create_maintenance", title_fr="Redémarrage", services=["web"],
                 cron="0 3 * * 1", duration="30m")
    found = events(calendar(client), f"maintenance-{wid}-")
    assert len(found) > 40 and "RRULE" not in found[0]
    got = {e.decoded("DTSTART"): e.decoded("DTEND") for e in found}
    expected = {datetime.fromtimestamp(o.start, UTC): datetime.fromtimestamp(o.end, UTC)
                for o in occurrences("CRON:0 3 * * 1", 1800, "Europe/Paris", clock.now,
                                     clock.now + 86400 * 60)}
    assert expected and set(expected.items()) <= set(got.items())
    assert len({str(e["UID"]) for e in found}) == len(found)


# Changes -----------------------------------------------------------------------------------


def test_the_uid_stays_and_the_sequence_grows(change, client, clock):
    wid = change("create_maintenance", title_fr="Migration", services=["mail"],
                 start="2026-04-01 22:00", duration="2h")
    first = client.get("/maintenance.ics")
    again = client.get("/maintenance.ics")
    assert first.data == again.data and first.headers["ETag"] == again.headers["ETag"]
    [before] = events(icalendar.Calendar.from_ical(first.data), f"maintenance-{wid}@")
    clock.advance(3600)
    change("edit_maintenance", wid, title_fr="Migration du courrier", start="2026-04-02 22:00",
           end="2026-04-03 00:00")
    [after] = events(calendar(client), f"maintenance-{wid}@")
    assert str(after["UID"]) == str(before["UID"]) == f"maintenance-{wid}@localhost"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTSTAMP") > before.decoded("DTSTAMP")
    assert after.decoded("DTSTART") == datetime(2026, 4, 2, 22, tzinfo=PARIS)
    assert str(after["SUMMARY"]) == "Maintenance : Migration du courrier"


def test_a_cancelled_window_is_marked_cancelled(change, client, clock):
    wid = change("create_maintenance", title_fr="Migration", services=["mail"],
                 start="2026-04-01 22:00", duration="2h")
    [before] = events(calendar(client), f"maintenance-{wid}@")
    clock.advance(60)
    change("cancel_maintenance", wid)
    [after] = events(calendar(client), f"maintenance-{wid}@")
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTSTART") == before.decoded("DTSTART")


def test_a_recurring_window_cancelled_keeps_what_happened(change, client, clock):
    wid = change("create_maintenance", title_fr="Sauvegarde", services=["web"],
                 weekly="sunday", at="02:00", duration="2h", start="2026-03-01 00:00")
    change("cancel_maintenance", wid)  # on Thursday 12 March
    uid = f"maintenance-{wid}@localhost"
    shown = instants(calendar(client), utc(2026, 2, 1), utc(2026, 12, 31), uid)
    assert shown == {utc(2026, 3, 1, 1): (utc(2026, 3, 1, 3), "CONFIRMED"),
                     utc(2026, 3, 8, 1): (utc(2026, 3, 8, 3), "CONFIRMED"),
                     utc(2026, 3, 15, 1): (utc(2026, 3, 15, 3), "CANCELLED")}


# Text --------------------------------------------------------------------------------------


LONG_TITLE = ("Mise à niveau générale des serveurs d'hébergement, de la messagerie électronique "
              "et des listes de diffusion (arrêt prévu, sécurité renforcée, coupures brèves)")


def test_lines_end_in_crlf_and_are_folded_at_75_octets(change, client):
    change("create_maintenance", title_fr=LONG_TITLE, services=["web"],
           message_fr="Première ligne ; deuxième, troisième.\n\nÉtape suivante : « fin ».",
           start="2026-04-01 22:00", duration="2h")
    raw = client.get("/maintenance.ics").data
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 75
    assert sum(1 for line in lines if line.startswith(b" ")) > 3  # folding happened
    for line in lines:
        line.decode("utf-8")  # a fold never cuts a character in two
    [event] = [e for e in events(icalendar.Calendar.from_ical(raw))
               if LONG_TITLE in str(e["SUMMARY"])]
    assert str(event["SUMMARY"]) == f"Maintenance : {LONG_TITLE}"
    assert str(event["DESCRIPTION"]).startswith(
        "Première ligne ; deuxième, troisième.\n\nÉtape suivante : « fin ».")


HOSTILE = ("Panne\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil; x=1, y"
           "\u202egnp.exe\u2066")


def test_a_hostile_title_cannot_add_a_property(seeded, app, client, clock):
    """A row stored around the boundary (another program, an older version): the
    calendar still holds one event with its own status, and no bidirectional control."""
    _, store, _ = seeded
    with Session(store.engine) as session, session.begin():
        window = MaintenanceWindow(
            title_fr=HOSTILE, title_en=HOSTILE, message_fr="a;b,c\\d\nEND:VCALENDAR\r\nX",
            service_ids=["web"], starts_at=clock.now + 3600, ends_at=clock.now + 7200,
            timezone="Europe/Paris", created_at=clock.now, updated_at=clock.now)
        session.add(window)
        session.flush()
        wid = window.id
    clock.advance(app.config["CHECK_INTERVAL"])
    refreshed(app, client)
    raw = client.get("/maintenance.ics").data
    text = raw.decode("utf-8")
    assert "\u202e" not in text and "\u2066" not in text
    cal = icalendar.Calendar.from_ical(raw)
    mine = [e for e in cal.walk("VEVENT") if str(e["UID"]).startswith(f"maintenance-{wid}")]
    assert len(mine) == 1 and len(cal.walk("VEVENT")) == 3
    [event] = mine
    assert str(event["UID"]) == f"maintenance-{wid}@localhost"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "STATUS:CANCELLED" in str(event["SUMMARY"])  # said, as text, inside the title
    assert str(event["DESCRIPTION"]).startswith("a;b,c\\d\nEND:VCALENDAR\nX")
    # one STATUS and one UID line per event: none came from the title
    lines = text.split("\r\n")
    assert sum(1 for line in lines if line.startswith("STATUS:")) == 3
    assert sum(1 for line in lines if line.startswith("UID:")) == 3
    assert text.count("\r\nBEGIN:VEVENT\r\n") == 3 and text.count("\r\nEND:VCALENDAR") == 1


def test_no_private_text(change, client, ids):
    change("create_maintenance", title_fr="Migration", services=["mail"],
           start="2026-04-01 22:00", duration="2h", author="camille-la-benevole")
    for path in ("/maintenance.ics", "/maintenance.ics?lang=en", "/services/mail.ics",
                 "/services/mail.atom", "/services/mail.atom?lang=en"):
        body = client.get(path).get_data(as_text=True)
        assert "camille-la-benevole" not in body, path
        assert "NOTE INTERNE" not in body and "INTERNAL NOTE" not in body, path
        assert "desk.example.coop" not in body, path  # the helpdesk ticket's link


# Serving ----------------------------------------------------------------------------------


def test_apps_polling_get_304_until_it_changes(change, client, clock):
    first = client.get("/maintenance.ics")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get("/maintenance.ics", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/maintenance.ics",
                      headers={"If-Modified-Since": modified}).status_code == 304
    # something else on the page changes (a new snapshot): the calendar is the same
    page = client.get("/").headers["ETag"]
    clock.advance(120)
    change("post_notice", title_fr="Information", text_fr="Rien de grave.")
    assert client.get("/").headers["ETag"] != page
    same = client.get("/maintenance.ics", headers={"If-None-Match": etag})
    assert same.status_code == 304
    assert client.get("/maintenance.ics",
                      headers={"If-Modified-Since": modified}).status_code == 304
    # the calendar changes: a new ETag and a later Last-Modified
    change("create_maintenance", title_fr="Migration", services=["mail"],
           start="2026-04-01 22:00", duration="2h")
    changed = client.get("/maintenance.ics", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.headers["Last-Modified"] != modified
    assert client.get("/maintenance.ics",
                      headers={"If-Modified-Since": modified}).status_code == 200


def test_what_ended_long_ago_leaves_the_calendar(seeded, app, client, clock):
    """The router window of the seed ended 10 days ago: kept; one ended 100 days ago is
    gone, and so is one cancelled 100 days ago."""
    _, store, _ = seeded
    day = 86400
    with Session(store.engine) as session, session.begin():
        session.add_all([
            MaintenanceWindow(title_fr="Très ancienne", service_ids=["web"],
                              starts_at=clock.now - 100 * day, ends_at=clock.now - 100 * day + 60,
                              timezone="Europe/Paris", created_at=clock.now - 101 * day,
                              updated_at=clock.now - 101 * day),
            MaintenanceWindow(title_fr="Annulée il y a longtemps", service_ids=["web"],
                              rule="RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=3", duration=600,
                              timezone="Europe/Paris", created_at=clock.now - 200 * day,
                              updated_at=clock.now - 100 * day,
                              cancelled_at=clock.now - 100 * day)])
    clock.advance(app.config["CHECK_INTERVAL"])
    refreshed(app, client)
    summaries = [str(e["SUMMARY"]) for e in events(calendar(client))]
    assert "Maintenance : Changement de routeur" in summaries
    assert not any("ancienne" in t or "longtemps" in t for t in summaries)


def test_with_a_public_address(seeded, clock):
    """UIDs and links name the site's public address, whatever address was asked, and
    the page offers the webcal:// link that opens a calendar app."""
    from dashboard import create_app

    config, store, _ = seeded
    app = create_app(config, {"TESTING": True, "CLOCK": clock,
                              "PUBLIC_URL": "https://etat.example.coop"}, store=store)
    client = app.test_client()
    cal = calendar(client, "/maintenance.ics", Host="other.example")
    assert {str(e["UID"]).split("@")[1] for e in events(cal)} == {"etat.example.coop"}
    assert str(cal["SOURCE"]) == "https://etat.example.coop/maintenance.ics"
    page = client.get("/maintenance").get_data(as_text=True)
    assert 'href="webcal://etat.example.coop/maintenance.ics"' in page
    service = client.get("/services/mail?lang=en").get_data(as_text=True)
    assert 'href="webcal://etat.example.coop/services/mail.ics?lang=en"' in service


def test_the_page_links_to_the_calendars_and_feeds(client, change):
    service = client.get("/services/nextcloud").get_data(as_text=True)
    assert ('<link rel="alternate" type="application/atom+xml" '
            'href="/services/nextcloud.atom"') in service
    assert '<link rel="alternate" type="text/calendar" href="/services/nextcloud.ics"' in service
    maintenance = service.split('id="maint-title"')[1]
    assert 'href="/services/nextcloud.ics"' in maintenance
    assert 'href="/services/nextcloud.atom"' in maintenance
    overview = client.get("/").get_data(as_text=True)
    section = overview.split('id="maintenance-title"')[1].split("</section>")[0]
    assert 'href="/maintenance.ics"' in section
    english = client.get("/maintenance?lang=en").get_data(as_text=True)
    assert 'href="/maintenance.ics?lang=en"' in english
    assert "Add the planned maintenance to your calendar" in english
    assert "webcal:" not in english  # without site.public_url, no address to give
    for path in ("/", "/incidents", "/services/web"):
        footer = client.get(path).get_data(as_text=True).split('class="site-footer"')[1]
        assert 'href="/maintenance.ics"' in footer and "Agenda des maintenances" in footer


def test_a_site_in_english_gives_french_on_request(seeded, clock):
    from dashboard import create_app

    config, store, _ = seeded
    app = create_app(config, {"TESTING": True, "CLOCK": clock, "DEFAULT_LANGUAGE": "en"},
                     store=store)
    client = app.test_client()
    summaries = [str(e["SUMMARY"]) for e in events(calendar(client))]
    assert "Maintenance: Nextcloud upgrade" in summaries
    french = calendar(client, "/maintenance.ics?lang=fr")
    assert "Maintenance : Mise à jour de Nextcloud" in [str(e["SUMMARY"]) for e in events(french)]
    assert str(french["SOURCE"]) == "http://localhost/maintenance.ics?lang=fr"
    assert 'href="/maintenance.ics?lang=fr"' in client.get("/maintenance?lang=fr").get_data(
        as_text=True)
    assert 'href="/maintenance.ics"' in client.get("/maintenance").get_data(as_text=True)
