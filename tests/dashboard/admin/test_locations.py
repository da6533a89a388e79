"""The check × location grid: ``/admin/locations`` for every signed-in volunteer, and a
service's page showing its part only to a signed-in volunteer (members, before and
after, get the cached page without it); in French and English; a dashboard without the
running Vigie's grid says where it is."""

from __future__ import annotations

import time

import pytest

from dashboard import _load_config, create_app
from dashboard.admin import accounts
from monitor.locations.book import LocationBook
from monitor.plugins import build_plugin_manager
from monitor.probe import ProbeResult, reason
from tests.dashboard import seed
from tests.dashboard.admin.conftest import PASSWORD, QUICK, AdminClient, login, quick_hasher

LOCATIONS = """\
locations:
  remote:
    - {name: lyon, label: {fr: Lyon, en: Lyon}}
    - {name: marseille, label: {fr: "Marseille (chez Alice)", en: "Marseille (Alice's)"}}
"""


@pytest.fixture
def located(tmp_path):
    """``(config, store, book)``: the seed's services, the first check of ``web`` run
    from the server and two remote locations; lyon sees it down, the others up."""
    path = seed.write_config(tmp_path, f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    text = path.read_text(encoding="utf-8").replace(
        "        kind: tcp\n", "        kind: tcp\n        locations: [local, lyon, marseille]\n", 1)
    path.write_text(text + LOCATIONS, encoding="utf-8")
    config = _load_config(path)
    store = seed.prepare_store(f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    seed.seed_all(store, config, now=time.time(), result_hours=0)
    with store.session() as session, session.begin():
        accounts.create_user(session, "camille", PASSWORD, passwords=QUICK)
    book = LocationBook(config.checks, config.file.locations)
    now = time.time()
    failing = reason("http.status", "HTTP 503 depuis Lyon", "HTTP 503 from Lyon")
    for location, result in (("local", ProbeResult.up(started_at=now)),
                             ("marseille", ProbeResult.up(started_at=now)),
                             ("lyon", ProbeResult.down(failing, started_at=now)),
                             ("lyon", ProbeResult.down(failing, started_at=now + 1))):
        book.record("web/web", location, result)
    assert book.decide("web/web").partial
    yield config, store, book
    store.dispose()


def app_of(config, store, grid):
    pm = build_plugin_manager(load_entry_points=False)
    return create_app(config, {"TESTING": True, "PLUGIN_MANAGER": pm,
                               "PASSWORD_HASHER": quick_hasher()}, store=store,
                      locations=grid)


def signed_in(app) -> AdminClient:
    client = app.test_client()
    assert login(client).status_code == 303
    return AdminClient(client)


def test_the_grid_needs_a_signed_in_volunteer(located):
    config, store, book = located
    client = app_of(config, store, book.grid).test_client()
    response = client.get("/admin/locations")
    assert response.status_code == 303 and "/admin/login" in response.headers["Location"]


def test_the_grid_in_both_languages(located):
    config, store, book = located
    admin = signed_in(app_of(config, store, book.grid))
    assert "/admin/locations" in admin.get("/admin/").get_data(as_text=True)
    english = admin.get("/admin/locations?lang=en")
    assert english.headers["Cache-Control"] == "no-store"
    page = english.get_data(as_text=True)
    assert "Each check as each location sees it" in page
    assert "Marseille (Alice&#39;s)" in page and "Vigie server" in page
    assert "Partial failure: below the quorum" in page
    assert "HTTP 503 from Lyon" in page
    assert "quorum: 2 locations of 3" in page
    assert 'role="region"' in page and '<th scope="row">' in page
    french = admin.get("/admin/locations?lang=fr").get_data(as_text=True)
    assert "Chaque contrôle vu de chaque lieu" in french
    assert "Panne partielle : sous le quorum" in french
    assert "1 lieu sur 3 voit une panne (Lyon) : HTTP 503 depuis Lyon" in french
    assert "Serveur Vigie" in french and "quorum : 2 lieux sur 3" in french


def test_a_silent_location_is_shown_unreachable(located):
    config, store, book = located
    book.clock = lambda: time.time() + 3600
    book.look()
    book.decide("web/web")
    admin = signed_in(app_of(config, store, book.grid))
    page = admin.get("/admin/locations?lang=en").get_data(as_text=True)
    assert "<strong>unreachable</strong>" in page
    assert "left out: location unreachable" in page


def test_members_never_see_the_locations_of_a_service_volunteers_do(located):
    config, store, book = located
    app = app_of(config, store, book.grid)
    member = app.test_client()
    for _ in range(2):  # the second answer comes from the members' cached copy
        page = member.get("/services/web?lang=en").get_data(as_text=True)
        assert "Seen from each location" not in page and "Lyon" not in page
    volunteer = signed_in(app)
    response = volunteer.get("/services/web?lang=en")
    page = response.get_data(as_text=True)
    assert "Seen from each location (volunteers only)" in page
    assert "HTTP 503 from Lyon" in page
    assert response.headers["Cache-Control"] == "private, no-store"
    # a service without checks run from several places: the same page as members'
    assert "Seen from each location" not in volunteer.get("/services/mail").get_data(
        as_text=True)
    # and members still get theirs, never the volunteer's copy
    page = member.get("/services/web?lang=en").get_data(as_text=True)
    assert "Seen from each location" not in page and "Lyon" not in page


def test_a_dashboard_serving_alone_says_where_the_grid_is(located):
    config, store, _ = located
    admin = signed_in(app_of(config, store, None))
    page = admin.get("/admin/locations?lang=en").get_data(as_text=True)
    assert "kept in the memory of the Vigie that runs the checks" in page
    page = admin.get("/services/web?lang=en").get_data(as_text=True)
    assert "kept in the memory of the Vigie that runs the checks" in page


def test_no_page_nor_menu_entry_when_every_check_runs_on_the_server_alone(admin):
    assert admin.get("/admin/locations").status_code == 404
    assert "/admin/locations" not in admin.get("/admin/").get_data(as_text=True)
