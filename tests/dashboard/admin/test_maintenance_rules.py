"""A recurring rule sent through the admin API, the admin form or the CLI can never take
Vigie down (issue 12, point 4): ``{"rrule": "FREQ=SECONDLY", "duration": "1s"}`` through
``POST /admin/api/v1/maintenance`` never returned and locked the database; it is now a
422 naming the field. A row stored before the fix is shown to volunteers as refused."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from monitor.cli import cli
from monitor.incidents.models import MaintenanceWindow
from tests.dashboard import seed
from tests.dashboard.admin.test_api import API, count
from tests.monitor.test_maintenance_rules import within


@pytest.fixture
def api(admin_app, token):
    client = admin_app.test_client()

    def call(method: str, path: str, json=None):
        return within(lambda: client.open(API + path, method=method, json=json,
                                          headers={"Authorization": f"Bearer {token}"}))
    return call


@pytest.mark.parametrize("body", [
    {"rrule": "FREQ=SECONDLY", "duration": "1s"},
    {"rrule": "FREQ=MINUTELY", "duration": "1s"},
    {"cron": "* * * * *", "duration": "1s"},
])
def test_the_rules_of_the_issue_are_a_422_through_the_api(api, store, body):
    before = count(store, MaintenanceWindow)
    response = api("POST", "/maintenance", {"title_fr": "Boucle", "all_services": True, **body})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()
    assert error["error"] == "invalid_input" and error["field"] == "rule"
    assert "au plus une fois par heure" in error["message_fr"]
    assert "at most once an hour" in error["message_en"]
    assert count(store, MaintenanceWindow) == before
    # and Vigie still answers
    assert api("GET", "/maintenance").status_code == 200


def test_a_duration_as_long_as_the_period_is_a_422_through_the_api(api):
    response = api("POST", "/maintenance", {"title_fr": "T", "all_services": True,
                                            "rrule": "FREQ=HOURLY", "duration": "1h"})
    assert response.status_code == 422 and response.get_json()["field"] == "duration"


def test_the_admin_form_refuses_it_with_the_message(admin, store):
    before = count(store, MaintenanceWindow)
    response = within(lambda: admin.post("/admin/maintenance", {
        "title_fr": "Boucle", "scope": "all", "recurrence": "rrule",
        "recurrence_value": "FREQ=SECONDLY", "duration": "1s"}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "au plus une fois par heure" in page
    assert count(store, MaintenanceWindow) == before


def insert_bad_row(store, rule: str = "RRULE:FREQ=SECONDLY") -> int:
    now = time.time()
    with store.session() as session, session.begin():
        row = MaintenanceWindow(title_fr="Ancienne règle", all_services=True, rule=rule,
                                duration=1.0, timezone="Europe/Paris", created_at=now,
                                updated_at=now, created_by="avant")
        session.add(row)
        session.flush()
        return row.id


def test_a_row_stored_before_the_fix_is_shown_as_refused(admin, api, store):
    window_id = insert_bad_row(store)
    page = within(lambda: admin.get("/admin/maintenance")).get_data(as_text=True)
    assert "Ancienne règle" in page and "Règle refusée" in page
    assert "au plus une fois par heure" in page
    listed = {w["id"]: w for w in api("GET", "/maintenance").get_json()}
    assert listed[window_id]["refused"] and listed[window_id]["next_start"] is None
    # the pages members see do not care
    assert within(lambda: admin.get("/")).status_code == 200
    # and a volunteer can cancel it
    assert api("POST", f"/maintenance/{window_id}/cancel").status_code == 200


def test_the_cli_refuses_it_and_lists_a_stored_one_as_refused(tmp_path, admin_seeded):
    _, store, _ = admin_seeded
    (tmp_path / "cli").mkdir()
    # the seeded store of this test (admin_seeded copies it to tmp_path / vigie.sqlite)
    path = seed.write_config(tmp_path / "cli", f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    runner = CliRunner()

    def vigie(*args: str, lang: str = "C.UTF-8"):
        env = {"LANG": lang, "LC_ALL": None, "LC_MESSAGES": None}
        return within(lambda: runner.invoke(cli, ["-c", str(path), *args],
                                            catch_exceptions=False, env=env))

    for lang, words in (("fr_FR.UTF-8", "au plus une fois par heure"),
                        ("C.UTF-8", "once an hour")):
        result = vigie("maintenance", "add", "Boucle", "--all", "--rrule", "FREQ=SECONDLY",
                       "--duration", "1s", lang=lang)
        assert result.exit_code == 3, result.output
        assert words in result.output and "--rrule" in result.output
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(MaintenanceWindow)
                              .where(MaintenanceWindow.title_fr == "Boucle")) == 0
    window_id = insert_bad_row(store)
    listing = vigie("maintenance", "list")
    assert listing.exit_code == 0, listing.output
    line = next(l for l in listing.output.splitlines() if l.startswith(f"{window_id} "))
    assert "refused" in line



def test_an_hourly_window_keeps_the_status_page_short(api, store):
    from dashboard import reads

    response = api("POST", "/maintenance", {"title_fr": "Horaire", "all_services": True,
                                            "rrule": "FREQ=HOURLY", "duration": "30m"})
    assert response.status_code == 201, response.get_json()
    with store.engine.connect() as conn:
        shown = [v for v in reads.maintenance(conn, time.time()) if v.title.fr == "Horaire"]
    # 90 days behind and 60 ahead hold 3,600 occurrences
    assert len(shown) == 2 * reads.PER_WINDOW
