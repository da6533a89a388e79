"""One live state everywhere (issue 13, "Truth"): today's segment and figure follow the
service status within one snapshot, availability is defined once (a service that was only
slow stays available), detected maintenance is on the maintenance page and in the API, a
recurring window is shown once with its rule in words."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from dashboard import _load_config, create_app
from monitor.incidents.models import MaintenanceWindow
from monitor.incidents.recurrence import build_rule
from monitor.probe import Status
from monitor.state import ServiceStatus
from tests.dashboard import seed
from tests.dashboard.conftest import Clock, refreshed

DAY = 86400.0
#: a percentage as the one formatting function writes it: the two exact ends without
#: decimals, anything between with two (French: comma, non-breaking space before %)
PERCENT = {"fr": re.compile(r"^(100|0|\d{1,2},\d\d)\xa0%$"),
           "en": re.compile(r"^(100|0|\d{1,2}\.\d\d)%$")}


def service_block(html: str, service_id: str) -> str:
    """The overview's ``<li class="service">`` of one service."""
    match = re.search(rf'<li class="service" data-service="{service_id}">(.*?)</li>\s*'
                      r'(?:<li class="service"|</ul>)', html, re.S)
    assert match, f"no service {service_id} on the page"
    return match.group(1)


def segments(html: str, service_id: str) -> list[str]:
    """The attributes of each day's ``<li>`` of a service's bar (``""``: operational)."""
    bar = re.search(r'<ol class="bars"[^>]*>(.*?)</ol>', service_block(html, service_id), re.S)
    return re.findall(r"<li([^>]*)>", bar.group(1))


def figure(html: str, service_id: str) -> str:
    """The uptime sentence under a service's bar."""
    return re.search(r'<span class="uptime">([^<]*)</span>',
                     service_block(html, service_id)).group(1)


def status_text(html: str, service_id: str) -> str:
    return re.search(r'<span class="status-text">([^<]*)</span>',
                     service_block(html, service_id)).group(1)


def today_value(attributes: str) -> str | None:
    found = re.search(r'data-t="([^"]*)"', attributes)
    return found.group(1) if found else None


# Today's segment and figure are live ---------------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_today_follows_an_outage_within_one_snapshot(app, client, seeded, clock, lang):
    """No rollup pass runs in this test: the outage reaches today's segment and figure
    with the next snapshot, as it reaches the status."""
    _, store, _ = seeded
    refreshed(app, client)
    before = client.get(f"/?lang={lang}").get_data(as_text=True)
    assert segments(before, "web")[-1] == "", "web has been operational all day"
    store.record_service_change("web", clock.now + 1, ServiceStatus.OPERATIONAL,
                                ServiceStatus.MAJOR_OUTAGE)
    clock.advance(app.config["CHECK_INTERVAL"])  # one snapshot period
    refreshed(app, client)
    after = client.get(f"/?lang={lang}").get_data(as_text=True)
    assert status_text(after, "web") == {"fr": "En panne", "en": "Outage"}[lang]
    today = segments(after, "web")[-1]
    assert "class=m" in today, "today's segment must show the outage"
    value = today_value(today)
    assert value and PERCENT[lang].match(value.split(", ")[0])
    assert value.split(", ")[0] not in ("100\xa0%", "100%"), "today was not fully available"
    # the sentence read without JavaScript says the same
    summary = re.search(r'<p class="visually-hidden bar-summary">([^<]*)</p>',
                        service_block(after, "web")).group(1)
    assert value.split(", ")[0] in summary
    # and so do the API and the summary the page refreshes itself from
    day = client.get("/api/v1/services/web").get_json()["days"][-1]
    assert day["worst_status"] == "major_outage" and day["uptime"] < 1
    web = next(c for c in client.get(f"/api/v1/summary.json?lang={lang}").get_json()[
        "components"] if c["id"] == "web")
    assert web["vigie_today"]["worst_status"] == "major_outage"
    assert web["vigie_today"]["text"] == value


def test_a_recovery_turns_today_back_within_one_snapshot(app, client, seeded, clock):
    _, store, _ = seeded
    store.record_service_change("forum", clock.now - 3600, ServiceStatus.OPERATIONAL,
                                ServiceStatus.MAJOR_OUTAGE)
    store.record_service_change("forum", clock.now - 1800, ServiceStatus.MAJOR_OUTAGE,
                                ServiceStatus.OPERATIONAL)
    clock.advance(app.config["CHECK_INTERVAL"])
    refreshed(app, client)
    html = client.get("/").get_data(as_text=True)
    assert status_text(html, "forum") == "Fonctionne normalement"
    today = segments(html, "forum")[-1]
    assert "class=m" in today  # the day had an outage
    # half an hour down out of the 14 h 05 of the day
    elapsed = clock.now - datetime.fromtimestamp(clock.now, seed.ZONE).replace(
        hour=0, minute=0, second=0).timestamp()
    expected = (1 - 1800 / elapsed) * 100
    assert today_value(today) == f"{expected:.2f}".replace(".", ",") + "\xa0%"


# Availability, defined once ------------------------------------------------------------------


def write_history(folder):
    """``(config, store)``: ten days of status history and the rollups the real rollup
    pass computes from it: web only slow for five days (and now), mail one day in partial
    outage, nextcloud one day down, lists one day in maintenance, forum never judged."""
    url = f"sqlite:///{folder / 'vigie.sqlite'}"
    config = _load_config(seed.write_config(folder, url))
    store = seed.prepare_store(url)
    store.sync_catalog(config)
    now = seed.NOW
    start = now - 10 * DAY
    for sid in ("web", "mail", "nextcloud", "lists"):
        store.record_service_change(sid, start, None, ServiceStatus.OPERATIONAL)
    store.record_service_change("web", now - 5 * DAY, ServiceStatus.OPERATIONAL,
                                ServiceStatus.DEGRADED)
    for sid, status in (("mail", ServiceStatus.PARTIAL_OUTAGE),
                        ("nextcloud", ServiceStatus.MAJOR_OUTAGE),
                        ("lists", ServiceStatus.MAINTENANCE)):
        store.record_service_change(sid, now - 4 * DAY, ServiceStatus.OPERATIONAL, status)
        store.record_service_change(sid, now - 3 * DAY, status, ServiceStatus.OPERATIONAL)
    seed.seed_results(store, config, now, hours=11 * 24, every=3600)
    today = seed.day_of(now)
    store.compute_rollups(today - timedelta(days=11), today, "Europe/Paris", now=now)
    return config, store


@pytest.fixture
def history(tmp_path):
    """The app on :func:`write_history`'s store."""
    config, store = write_history(tmp_path)
    app = create_app(config, {"TESTING": True, "CLOCK": Clock(seed.NOW)}, store=store)
    yield app, app.test_client()
    store.dispose()


def test_a_service_that_was_only_slow_stays_available(history):
    app, client = history
    for lang in ("fr", "en"):
        html = client.get(f"/?lang={lang}").get_data(as_text=True)
        assert status_text(html, "web") == {"fr": "Ralenti", "en": "Slowed down"}[lang]
        assert figure(html, "web") == {"fr": "disponible à 100\xa0%",
                                       "en": "100% available"}[lang]
        assert "class=g" in segments(html, "web")[-1]  # slow today: the colour says so
        badge = client.get(f"/badges/web/uptime.svg?lang={lang}").get_data(as_text=True)
        assert {"fr": ">100\xa0%<", "en": ">100%<"}[lang] in badge
    services = {s["id"]: s for s in client.get("/api/v1/services").get_json()["services"]}
    assert services["web"]["uptime_90d"] == 1.0
    # a day of partial outage in ten counts 30 % of a day down (Statuspage's weight)
    assert services["mail"]["uptime_90d"] == pytest.approx(1 - 0.3 / 10, abs=1e-6)
    assert services["nextcloud"]["uptime_90d"] == pytest.approx(1 - 1 / 10, abs=1e-6)
    # planned work is left out of the count: nine days observed, all available
    assert services["lists"]["uptime_90d"] == 1.0
    assert services["forum"]["uptime_90d"] is None
    html = client.get("/").get_data(as_text=True)
    assert figure(html, "mail") == "disponible à 97,00\xa0%"
    assert figure(html, "nextcloud") == "disponible à 90,00\xa0%"
    assert "—" in figure(html, "forum")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_one_percentage_format_on_every_page_and_badge(history, lang):
    app, client = history
    found = []
    for path in ("/", "/services/web", "/services/mail", "/badges/mail/uptime.svg",
                 "/badges/forum/uptime.svg"):
        body = client.get(f"{path}?lang={lang}").get_data(as_text=True)
        found += re.findall(r"(?<!\w)\d[\d,.]*\s?%", body.replace("\\u00a0", "\xa0"))
    assert found
    bad = [p for p in found if not PERCENT[lang].match(p)]
    assert not bad, bad


# Detected maintenance --------------------------------------------------------------------------


def _detected(store, at):
    for check in ("nextcloud/web", "nextcloud/db"):
        store.record_check_change(check, at, Status.DEGRADED if check.endswith("web")
                                  else Status.UP, Status.MAINTENANCE)
    store.record_service_change("nextcloud", at, ServiceStatus.DEGRADED,
                                ServiceStatus.MAINTENANCE)


def test_detected_maintenance_is_on_the_maintenance_page(app, client, seeded, clock):
    _, store, _ = seeded
    _detected(store, clock.now - 600)
    clock.advance(app.config["CHECK_INTERVAL"])
    refreshed(app, client)
    overview = client.get("/").get_data(as_text=True)
    assert status_text(overview, "nextcloud") == "Maintenance"
    html = client.get("/maintenance").get_data(as_text=True)
    in_progress = html.split('id="active-title"')[1].split('id="upcoming-title"')[0]
    assert "Aucune maintenance en cours" not in in_progress
    assert "Nextcloud" in in_progress and "détectée" in in_progress
    assert "13:55" in in_progress  # since when it was detected
    assert "→" not in in_progress  # and no invented end
    english = client.get("/maintenance?lang=en").get_data(as_text=True)
    assert "detected" in english.split('id="active-title"')[1].split('id="upcoming-title"')[0]


def test_detected_maintenance_is_in_the_api(app, client, seeded, clock):
    _, store, _ = seeded
    _detected(store, clock.now - 600)
    clock.advance(app.config["CHECK_INTERVAL"])
    refreshed(app, client)
    doc = client.get("/api/v1/maintenance").get_json()
    [detected] = doc["detected"]
    assert detected["components"] == ["nextcloud"] and detected["detected"] is True
    assert detected["status"] == "in_progress"
    assert detected["detected_at"] == "2026-03-12T12:55:00Z"
    summary = client.get("/api/v1/summary.json").get_json()
    assert summary["vigie_detected"] == [detected]
    nextcloud = next(c for c in summary["components"] if c["id"] == "nextcloud")
    assert nextcloud["status"] == "under_maintenance"
    assert nextcloud["vigie_maintenance"] == "detected"


def test_a_window_is_not_detected_maintenance(app, client, seeded, clock):
    """A service a window keeps in maintenance is listed under its window only."""
    _, store, _ = seeded
    with Session(store.engine) as session, session.begin():
        session.add(MaintenanceWindow(
            title_fr="Migration", service_ids=["nextcloud"], starts_at=clock.now - 900,
            ends_at=clock.now + 900, timezone="Europe/Paris", created_at=clock.now - 1000,
            updated_at=clock.now - 1000))
    _detected(store, clock.now - 600)
    clock.advance(app.config["CHECK_INTERVAL"])
    refreshed(app, client)
    assert client.get("/api/v1/maintenance").get_json()["detected"] == []
    html = client.get("/maintenance").get_data(as_text=True)
    assert "détectée" not in html


# Recurring windows ------------------------------------------------------------------------------


@pytest.fixture
def monthly(app, client, seeded, clock):
    """A window every first Sunday of the month, 06:00 for 30 minutes."""
    _, store, _ = seeded
    with Session(store.engine) as session, session.begin():
        session.add(MaintenanceWindow(
            title_fr="Sauvegarde mensuelle", title_en="Monthly backup",
            rule=build_rule(monthly="first sunday", at="06:00"), duration=1800,
            starts_at=clock.now - 200 * DAY, service_ids=["web"], timezone="Europe/Paris",
            created_at=clock.now - 200 * DAY, updated_at=clock.now - 200 * DAY))
    clock.advance(app.config["CHECK_INTERVAL"])
    refreshed(app, client)


def test_a_recurring_window_is_shown_once_with_its_rule(monthly, client):
    html = client.get("/maintenance").get_data(as_text=True)
    html = html.replace("\xa0", " ").replace("\u202f", " ")
    planned = html.split('id="upcoming-title"')[1].split('id="past-title"')[0]
    assert planned.count("Sauvegarde mensuelle") == 1
    assert "chaque premier dimanche du mois, de 6 h à 6 h 30" in planned
    assert "5 avr. 2026, 06:00</time> → <time" in planned  # the next occurrence
    assert ">06:30</time>" in planned  # its end, the date not said twice
    past = html.split('id="past-title"')[1]
    assert past.count("Sauvegarde mensuelle") == 1  # its latest, once
    english = client.get("/maintenance?lang=en").get_data(as_text=True)
    planned = english.split('id="upcoming-title"')[1].split('id="past-title"')[0]
    assert planned.count("Monthly backup") == 1
    assert "every first Sunday of the month, 6:00–6:30" in planned
    overview = client.get("/").get_data(as_text=True)
    assert overview.count("Sauvegarde mensuelle") == 1


def test_a_recurring_window_is_once_in_the_api(monthly, client):
    doc = client.get("/api/v1/maintenance?lang=en").get_json()
    [window] = [m for m in doc["planned"] if m["name"] == "Monthly backup"]
    assert window["recurring"] is True
    assert window["vigie_rule"] == "every first Sunday of the month, 6:00–6:30"
    assert window["scheduled_for"] == "2026-04-05T04:00:00Z"
    summary = client.get("/api/v1/summary.json?lang=en").get_json()
    assert [m["name"] for m in summary["scheduled_maintenances"]].count("Monthly backup") == 1
