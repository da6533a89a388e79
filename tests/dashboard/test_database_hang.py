"""The status page while PostgreSQL hangs: nothing refused, nothing answered.

A :class:`tests.dashboard.hangproxy.HangingProxy` stands between the dashboard and the
machine's PostgreSQL; pausing it is a database that stops answering. Every member request
must then be answered from the last snapshot, and the answers must arrive *while the proxy
is still paused* (no time bound is asserted: a request waiting on the database would only
come back once the proxy resumes, and the test would fail waiting for it). Once the proxy
resumes, the page catches up.
"""

from __future__ import annotations

import threading

import pytest
from werkzeug.test import EnvironBuilder

from dashboard import _load_config, create_app
from monitor.state import ServiceStatus
from monitor.store import Store
from tests.dashboard import seed
from tests.dashboard.conftest import Clock
from tests.dashboard.hangproxy import HangingProxy

pytestmark = pytest.mark.postgres

#: a hang is only declared after this long; a correct run answers in well under a second
PATIENCE = 120.0

#: what members read, and the volunteers' tools read the same way (badges, feeds, API)
PATHS = ["/", "/incidents", "/maintenance", "/services/mail", "/services/mail?range=7d",
         "/api/v1/summary.json", "/api/v1/services", "/api/v1/services/mail",
         "/api/v1/incidents", "/feed.atom", "/history.atom", "/badges/status.svg",
         "/badges/mail/status.svg", "/badges/mail/uptime.svg"]


@pytest.fixture
def hung(postgres_schema_url, tmp_path):
    """``(app, clock, proxy, direct store, seeded ids)``: the app reads PostgreSQL through
    the proxy; the direct store writes around it."""
    direct = seed.prepare_store(postgres_schema_url)
    with HangingProxy(("127.0.0.1", 5432)) as proxy:
        url = postgres_schema_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/", 1)
        assert url != postgres_schema_url
        config = _load_config(seed.write_config(tmp_path, url))
        ids = seed.seed_all(direct, config, result_hours=6)
        proxied = Store(url)
        clock = Clock(seed.NOW)
        app = create_app(config, {"TESTING": True, "CLOCK": clock}, store=proxied)
        try:
            yield app, clock, proxy, direct, ids
        finally:
            proxy.resume()  # let whatever is stuck finish before the schema goes
            app.extensions["vigie"].cache.wait_idle(PATIENCE)
            proxied.dispose()
            direct.dispose()


def answered_while_paused(proxy: HangingProxy, ask):
    """Run ``ask()`` in a thread; its result, which must come while ``proxy`` is paused."""
    out: dict = {}

    def run():
        try:
            out["value"] = ask()
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(PATIENCE)
    came = not thread.is_alive()
    proxy.resume()  # whatever happened, nothing stays stuck
    thread.join(PATIENCE)
    assert came, "the request waited for the hung database"
    if "error" in out:
        raise out["error"]
    return out["value"]


def caught_up(app) -> None:
    """Return once the refresh that waited for the database has ended (the proxy
    resumed): the next page shows what it read."""
    assert app.extensions["vigie"].cache.wait_idle(PATIENCE), "the refresh never ended"


def test_pages_are_served_from_the_snapshot_while_the_database_hangs(hung):
    app, clock, proxy, direct, ids = hung
    client = app.test_client()
    before = {path: client.get(path) for path in PATHS}
    assert {path: r.status_code for path, r in before.items()} == dict.fromkeys(PATHS, 200)
    assert client.get(f"/incidents/{ids[0]}").status_code == 200
    cache = app.extensions["vigie"].cache
    # the data changes, then the database stops answering, and the check is due
    direct.record_service_change("mail", seed.NOW + 1, ServiceStatus.PARTIAL_OUTAGE,
                                 ServiceStatus.MAJOR_OUTAGE)
    proxy.pause()
    clock.advance(cache.check_interval)

    def ask():
        answers = {path: client.get(path) for path in PATHS}
        # a page whose details the snapshot does not hold, never asked before
        answers["/services/web"] = client.get("/services/web")
        answers["open incident"] = client.get(f"/incidents/{ids[0]}")
        answers["old incident"] = client.get(f"/incidents/{ids[1]}")
        answers["old incident, API"] = client.get(f"/api/v1/incidents/{ids[1]}")
        environ = EnvironBuilder(path="/api/v1/summary.json").get_environ()
        answers["from the event loop"] = app.cached_answer(environ)
        answers["healthz"] = client.get("/healthz")
        return answers

    during = answered_while_paused(proxy, ask)
    for path in PATHS:
        assert during[path].status_code == 200, path
        assert during[path].data == before[path].data, path  # the last snapshot, as it was
    assert during["from the event loop"][2] == before["/api/v1/summary.json"].data
    assert during["open incident"].status_code == 200  # in the snapshot
    # what needs the database says it is unavailable, at once
    web = during["/services/web"]
    assert web.status_code == 200 and web.headers["Cache-Control"] == "no-store"
    assert "Le graphique ne peut pas être tracé pour le moment" in web.get_data(as_text=True)
    assert during["old incident"].status_code == 503
    assert during["old incident, API"].status_code == 503
    assert during["old incident, API"].get_json() == {"error": "unavailable", "status": 503}
    assert during["healthz"].status_code == 200  # pages are served: keep it in rotation

    # the database answers again: the page catches up with what was written meanwhile
    caught_up(app)
    assert 'data-banner="major"' in client.get("/").get_data(as_text=True)
    summary = client.get("/api/v1/summary.json").get_json()
    assert summary["status"]["indicator"] == "major"
    assert "Le graphique ne peut pas" not in client.get("/services/web").get_data(as_text=True)
    assert client.get(f"/incidents/{ids[1]}").status_code == 200


def test_the_page_says_when_it_was_last_updated(hung):
    app, clock, proxy, direct, _ = hung
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'id="updated"' in page
    stamp = page.split('id="updated" datetime="', 1)[1].split('"', 1)[0]
    from monitor.probe import Status
    from monitor.store import ResultRecord

    direct.write_results([ResultRecord("web/web", seed.NOW + 30, Status.UP, 0.1)])
    proxy.pause()
    clock.advance(app.extensions["vigie"].cache.check_interval)
    during = answered_while_paused(proxy, lambda: client.get("/").get_data(as_text=True))
    assert f'datetime="{stamp}"' in during  # still the time of the data shown
    caught_up(app)
    assert f'datetime="{stamp}"' not in client.get("/").get_data(as_text=True)


def test_without_a_snapshot_the_first_request_waits_a_bounded_time(postgres_schema_url,
                                                                    tmp_path):
    direct = seed.prepare_store(postgres_schema_url)
    with HangingProxy(("127.0.0.1", 5432)) as proxy:
        url = postgres_schema_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/", 1)
        config = _load_config(seed.write_config(tmp_path, url))
        seed.seed_all(direct, config, result_hours=1)
        proxied = Store(url)
        app = create_app(config, {"TESTING": True, "CLOCK": Clock(seed.NOW),
                                  "FIRST_WAIT": 0.5}, store=proxied)
        client = app.test_client()
        try:
            proxy.pause()
            answers = answered_while_paused(
                proxy, lambda: (client.get("/"), client.get("/api/v1/summary.json")))
            page, api = answers
            assert page.status_code == 503
            assert "La page d'état ne peut pas lire ses données" in page.get_data(as_text=True)
            assert api.status_code == 503 and api.get_json()["error"] == "unavailable"
            caught_up(app)
            assert client.get("/").status_code == 200
        finally:
            proxy.resume()
            app.extensions["vigie"].cache.wait_idle(PATIENCE)
            proxied.dispose()
            direct.dispose()


def test_a_calendar_is_never_served_empty_while_the_database_hangs(hung):
    """While the database does not answer, calendars and a service's feed are served
    from what the snapshot already read."""
    app, clock, proxy, direct, _ = hung
    client = app.test_client()
    before = client.get("/maintenance.ics")
    assert before.status_code == 200 and b"BEGIN:VEVENT" in before.data
    direct.record_service_change("mail", seed.NOW + 1, ServiceStatus.PARTIAL_OUTAGE,
                                 ServiceStatus.MAJOR_OUTAGE)
    cache = app.extensions["vigie"].cache
    proxy.pause()
    clock.advance(cache.check_interval)
    client.get("/")  # the check is due: the refresh starts, and hangs

    def ask():
        return (client.get("/maintenance.ics"), client.get("/services/mail.ics?lang=en"),
                client.get("/services/mail.atom"))

    # the snapshot is still the one before the hang: its calendar is served as it was,
    # and the windows it read make any other calendar (one read serves them all)
    same, english, feed = answered_while_paused(proxy, ask)
    assert same.status_code == 200 and same.data == before.data
    assert english.status_code == 200 and b"BEGIN:VCALENDAR" in english.data
    # the service's history was never read: its feed is made of the snapshot's incidents
    assert feed.status_code == 200 and feed.headers["Cache-Control"] == "no-store"
    assert "Réception du courrier perturbée" in feed.get_data(as_text=True)
    caught_up(app)
    assert client.get("/services/mail.ics?lang=en").status_code == 200


def test_a_calendar_never_read_is_refused_while_the_database_hangs(hung):
    """A calendar app that got an empty calendar would delete the member's events: one
    the snapshot has not read is refused (503, try again later), never served empty."""
    app, clock, proxy, direct, _ = hung
    client = app.test_client()
    client.get("/")  # a snapshot, without the calendars' read
    direct.record_service_change("mail", seed.NOW + 1, ServiceStatus.PARTIAL_OUTAGE,
                                 ServiceStatus.MAJOR_OUTAGE)
    proxy.pause()
    clock.advance(app.extensions["vigie"].cache.check_interval)
    client.get("/")  # the refresh starts, and hangs
    refused = answered_while_paused(proxy, lambda: client.get("/maintenance.ics"))
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "300"
    assert b"BEGIN:VCALENDAR" not in refused.data
    caught_up(app)
    assert client.get("/maintenance.ics").status_code == 200
