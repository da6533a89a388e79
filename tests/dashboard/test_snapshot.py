"""The snapshot: reused until the database changes, rebuilt when it does."""

from __future__ import annotations

from sqlalchemy.orm import Session

from monitor.incidents.models import MaintenanceWindow, Notice
from monitor.probe import Status
from monitor.state import ServiceStatus
from monitor.store import ResultRecord
from tests.dashboard import seed
from tests.dashboard.conftest import refreshed


def cache_of(app):
    """The app's snapshot cache."""
    return app.extensions["vigie"].cache


def test_second_request_does_not_rebuild(app, client, clock):
    cache = cache_of(app)
    assert client.get("/").status_code == 200
    assert cache.rebuilds == 1
    first = cache.get()
    for path in ("/", "/api/v1/summary.json", "/services/web", "/incidents"):
        assert client.get(path).status_code == 200
    clock.advance(60)  # the version is checked again, and has not changed
    assert client.get("/").status_code == 200
    assert cache.rebuilds == 1 and cache.get() is first


def test_rendered_page_is_reused_from_the_snapshot(app, client, monkeypatch):
    from dashboard import status

    calls = []
    real = status.render_template
    monkeypatch.setattr(status, "render_template",
                        lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    client.get("/")
    client.get("/")
    client.get("/", headers={"Accept-Language": "en"})
    client.get("/", headers={"Accept-Language": "en"})
    assert calls == ["status/overview.html", "status/overview.html"]  # once per language


def test_state_change_rebuilds_after_the_check_interval(app, client, clock, seeded):
    _, store, _ = seeded
    cache = cache_of(app)
    assert 'data-banner="disturbed"' in client.get("/").get_data(as_text=True)
    store.record_service_change("mail", seed.NOW + 1, ServiceStatus.PARTIAL_OUTAGE,
                                ServiceStatus.OPERATIONAL)
    store.record_service_change("nextcloud", seed.NOW + 1, ServiceStatus.DEGRADED,
                                ServiceStatus.OPERATIONAL)
    # within the check interval the snapshot is served as it is
    assert 'data-banner="disturbed"' in client.get("/").get_data(as_text=True)
    assert cache.rebuilds == 1
    clock.advance(cache.check_interval)
    # the request that finds the check due is answered at once; the rebuild follows
    assert 'data-banner="disturbed"' in client.get("/").get_data(as_text=True)
    assert cache.wait_idle(60)
    page = client.get("/").get_data(as_text=True)
    assert 'data-banner="operational"' in page
    assert '<span class="banner-text" aria-live="polite">Tous les services fonctionnent normalement' in page
    assert cache.rebuilds == 2
    doc = client.get("/api/v1/summary.json").get_json()
    assert {c["id"]: c["status"] for c in doc["components"]}["mail"] == "operational"


def test_new_result_updates_the_time_but_not_the_snapshot(app, client, clock, seeded):
    _, store, _ = seeded
    cache = cache_of(app)
    client.get("/")
    store.write_results([ResultRecord("web/web", seed.NOW - 10, Status.UP, 0.1)])
    clock.advance(cache.check_interval)
    refreshed(app, client)
    page = client.get("/").get_data(as_text=True)
    assert 'datetime="2026-03-12T13:04:50Z"' in page and "14:04" in page
    assert cache.rebuilds == 1


def test_notice_posted_by_a_volunteer_appears(app, client, clock, seeded):
    _, store, _ = seeded
    client.get("/")
    with Session(store.engine) as session, session.begin():
        session.add(Notice(level="info", title_fr="Nouvelle offre de stockage", text_fr="",
                           created_at=seed.NOW, updated_at=seed.NOW))
    cache_of(app).invalidate()  # what the admin area calls after a change
    assert "Nouvelle offre de stockage" in client.get("/").get_data(as_text=True)


def test_maintenance_start_rebuilds_without_any_write(app, client, clock, seeded):
    _, store, _ = seeded
    with Session(store.engine) as session, session.begin():
        session.add(MaintenanceWindow(
            title_fr="Changement de disque", service_ids=["lists"], starts_at=seed.NOW + 600,
            ends_at=seed.NOW + 4200, timezone="Europe/Paris", created_at=seed.NOW,
            updated_at=seed.NOW))
    doc = client.get("/api/v1/summary.json").get_json()
    assert {c["id"]: c["status"] for c in doc["components"]}["lists"] == "operational"
    clock.advance(601)
    refreshed(app, client, "/api/v1/summary.json")
    doc = client.get("/api/v1/summary.json").get_json()
    assert {c["id"]: c["status"] for c in doc["components"]}["lists"] == "under_maintenance"
    assert doc["scheduled_maintenances"][0]["status"] == "in_progress"
    assert 'data-banner="disturbed"' in client.get("/").get_data(as_text=True)  # mail is worse


def test_etag_gives_304(client):
    response = client.get("/")
    etag = response.headers["ETag"]
    again = client.get("/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    other = client.get("/", headers={"If-None-Match": etag, "Accept-Language": "en"})
    assert other.status_code == 200


def test_gzip_body_is_served_to_browsers_that_accept_it(client):
    import gzip

    plain = client.get("/api/v1/services").data
    response = client.get("/api/v1/services", headers={"Accept-Encoding": "gzip, br"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.data) == plain


def test_database_outage_serves_the_last_snapshot(app, client, clock, seeded):
    from sqlalchemy import text

    _, store, _ = seeded
    client.get("/")
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE service_status_changes RENAME TO broken"))
    clock.advance(60)
    response = client.get("/")
    assert response.status_code == 200
    assert "le service Nextcloud est ralenti" in response.get_data(as_text=True)


def test_repeated_requests_are_answered_without_entering_flask(app, client, clock):
    calls = []
    view = app.view_functions["status.overview"]
    app.view_functions["status.overview"] = lambda: calls.append(1) or view()
    first = client.get("/")
    second = client.get("/")
    assert first.data == second.data and len(calls) == 1
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Content-Security-Policy"]
    # another language, a cookie or a query string is another entry
    assert b'lang="en"' in client.get("/", headers={"Accept-Language": "en"}).data
    client.set_cookie("lang", "en")
    assert b'lang="en"' in client.get("/").data
    assert len(calls) == 2  # the cookie's English is the cached English
    assert client.get("/", headers={"If-None-Match": second.headers["ETag"]}).status_code == 200
    client.delete_cookie("lang")
    assert client.get("/", headers={"If-None-Match": second.headers["ETag"]}).status_code == 304
    assert len(calls) == 2


def test_error_pages_are_never_kept(app, client):
    # errors and pages outside the public views always go through Flask
    assert client.get("/services/nope").status_code == 404
    calls = []
    handler = app.view_functions["status.service"]
    app.view_functions["status.service"] = lambda **kw: calls.append(1) or handler(**kw)
    client.get("/services/nope")
    client.get("/services/nope")
    assert len(calls) == 2


def test_rebuild_freezes_long_lived_objects(seeded, clock):
    import gc

    from dashboard import create_app

    config, store, _ = seeded
    app = create_app(config, {"TESTING": True, "CLOCK": clock, "FREEZE_GC": True}, store=store)
    try:
        gc.unfreeze()
        app.test_client().get("/")
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the snapshot, and what the first rendering loaded
        store.record_service_change("web", seed.NOW + 1, ServiceStatus.OPERATIONAL,
                                    ServiceStatus.MAJOR_OUTAGE)
        clock.advance(10)
        refreshed(app, app.test_client())
        assert b'data-banner="major"' in app.test_client().get("/").data
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()


def test_cached_answer_never_waits_for_the_database(app, client, clock):
    """What Vigie's listener sends from its loop: only responses Flask already made for
    this snapshot, and nothing while the snapshot is due for its database check."""
    from werkzeug.test import EnvironBuilder

    def environ(**headers):
        return EnvironBuilder(path="/api/v1/summary.json", headers=headers).get_environ()

    cache = cache_of(app)
    assert app.cached_answer(environ()) is None  # nothing built yet: a worker builds it
    made = client.get("/api/v1/summary.json")
    status, headers, body = app.cached_answer(environ())
    assert status == "200 OK" and body == made.data
    assert dict(headers)["Content-Security-Policy"].startswith("default-src 'self'")
    # English is another response, not made yet
    assert app.cached_answer(environ(**{"Accept-Language": "en"})) is None
    status, headers, body = app.cached_answer(environ(**{"If-None-Match": made.headers["ETag"]}))
    assert status.startswith("304") and body == b"" and ("ETag", made.headers["ETag"]) in headers
    # the database check is due: still answered from memory, the check runs on the
    # snapshot's own thread (the version did not change: no rebuild)
    rebuilds = cache.rebuilds
    clock.advance(60)
    status, _, body = app.cached_answer(environ())
    assert status == "200 OK" and body == made.data
    assert cache.wait_idle(60)
    assert app.cached_answer(environ()) is not None and cache.rebuilds == rebuilds
    # never for anything but a GET, nor for the volunteers' area
    post = EnvironBuilder(path="/api/v1/summary.json", method="POST").get_environ()
    assert app.cached_answer(post) is None
    assert app.cached_answer(EnvironBuilder(path="/admin/").get_environ()) is None


def test_details_are_not_even_asked_for_while_the_database_fails(app, client, clock, seeded,
                                                                 monkeypatch):
    from sqlalchemy import text

    from dashboard import status

    _, store, _ = seeded
    assert client.get("/").status_code == 200
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE service_status_changes RENAME TO broken"))
    clock.advance(60)
    refreshed(app, client)  # the check fails: the last snapshot stays
    assert cache_of(app).database_slow()
    asked = []
    monkeypatch.setattr(status, "_series", lambda *a: asked.append(a))
    page = client.get("/services/web")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text_ = page.get_data(as_text=True)
    assert "Le graphique ne peut pas être tracé pour le moment" in text_
    assert "L'historique de ce service ne peut pas être lu pour le moment" in text_
    assert asked == []  # no read started: the request did not wait at all
    english = client.get("/services/web", headers={"Accept-Language": "en"})
    assert "The chart cannot be drawn right now" in english.get_data(as_text=True)
    # the database is back: the next check clears it, the full page is served and kept
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE broken RENAME TO service_status_changes"))
    monkeypatch.undo()
    clock.advance(60)
    refreshed(app, client)
    assert not cache_of(app).database_slow()
    full = client.get("/services/web")
    assert "Le graphique ne peut pas" not in full.get_data(as_text=True)
    assert "no-store" not in full.headers["Cache-Control"]
