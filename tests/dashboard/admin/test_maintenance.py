"""Planning, editing, ending and cancelling maintenance windows from the admin pages."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from monitor.incidents.models import MaintenanceWindow

PARIS = ZoneInfo("Europe/Paris")
ONE_OFF = {"title_fr": "Mise à jour du serveur web", "message_fr": "Coupure de 30 minutes.",
           "scope": "services", "services": ["web"], "recurrence": "none",
           "start": "2030-06-01T22:00", "end": "2030-06-01T22:30"}


def windows(store) -> list[MaintenanceWindow]:
    with store.session() as session:
        return list(session.scalars(select(MaintenanceWindow).order_by(MaintenanceWindow.id)))


def count(store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(MaintenanceWindow))


def test_a_one_off_window_is_planned(admin, store):
    response = admin.post("/admin/maintenance", ONE_OFF)
    assert response.status_code == 303
    window = windows(store)[-1]
    assert window.service_ids == ["web"] and window.created_by == "camille"
    assert window.starts_at == datetime(2030, 6, 1, 22, 0, tzinfo=PARIS).timestamp()
    assert window.ends_at - window.starts_at == 1800
    page = admin.get("/admin/maintenance").get_data(as_text=True)
    assert "La maintenance est planifiée." in page and "Mise à jour du serveur web" in page


def test_a_weekly_window_for_a_group(admin, store):
    response = admin.post("/admin/maintenance", {
        "title_fr": "Sauvegardes", "scope": "group", "group": "hebergement",
        "recurrence": "weekly", "recurrence_value": "dimanche", "at": "02:00",
        "duration": "2h", "announce_before": "2d"})
    assert response.status_code == 303, response.get_data(as_text=True)
    window = windows(store)[-1]
    assert window.group_id == "hebergement" and window.duration == 7200
    assert window.rule.startswith("RRULE:FREQ=WEEKLY;BYDAY=SU")
    assert window.announce_before == 2 * 86400


def test_every_service(admin, store):
    assert admin.post("/admin/maintenance", {**ONE_OFF, "scope": "all"}).status_code == 303
    assert windows(store)[-1].all_services


@pytest.mark.parametrize("change, message", [
    ({"title_fr": ""}, "Ce champ est obligatoire."),
    ({"end": "2030-06-01T21:00"}, "La fin doit être après le début."),
    ({"services": ["web", "no-such-service"]}, "Service inconnu : no-such-service."),
    ({"services": []}, "Choisissez au moins un service."),
    ({"scope": "group", "group": "nope"}, "Groupe inconnu : nope."),
    ({"start": ""}, "Indiquez le début de la maintenance."),
    ({"recurrence": "weekly", "recurrence_value": "jour de paye", "duration": "1h"},
     "Récurrence invalide"),
    ({"recurrence": "cron", "recurrence_value": "0 2 * *", "duration": "1h"},
     "Récurrence invalide"),
    ({"message_fr": "<iframe src=https://evil.example></iframe>"}, "HTML actif"),
    ({"message_fr": "m" * 20_001}, "Texte trop long"),
])
def test_bad_input_is_refused_and_changes_nothing(admin, store, change, message):
    before = count(store)
    response = admin.post("/admin/maintenance", {**ONE_OFF, **change})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert "<iframe src=https://evil" not in page
    assert count(store) == before


def test_editing_a_window(admin, store):
    admin.post("/admin/maintenance", ONE_OFF)
    window_id = windows(store)[-1].id
    form = admin.get(f"/admin/maintenance/{window_id}").get_data(as_text=True)
    assert 'value="2030-06-01T22:00"' in form
    response = admin.post(f"/admin/maintenance/{window_id}",
                          {**ONE_OFF, "title_fr": "Nouveau titre", "end": "2030-06-01T23:00"})
    assert response.status_code == 303
    window = windows(store)[-1]
    assert window.title_fr == "Nouveau titre" and window.ends_at - window.starts_at == 3600
    response = admin.post(f"/admin/maintenance/{window_id}", {**ONE_OFF, "end": "2030-01-01T00:00"})
    assert response.status_code == 422
    assert windows(store)[-1].ends_at - windows(store)[-1].starts_at == 3600


def test_editing_a_recurring_window_keeps_its_rule(admin, store):
    admin.post("/admin/maintenance", {"title_fr": "Sauvegardes", "scope": "all",
                                      "recurrence": "daily", "at": "03:00", "duration": "1h"})
    window = windows(store)[-1]
    form = admin.get(f"/admin/maintenance/{window.id}").get_data(as_text=True)
    assert '<option value="keep" selected>' in form
    response = admin.post(f"/admin/maintenance/{window.id}", {
        "title_fr": "Sauvegardes nocturnes", "scope": "all", "recurrence": "keep",
        "duration": "90m"})
    assert response.status_code == 303, response.get_data(as_text=True)
    after = windows(store)[-1]
    assert after.rule == window.rule and after.duration == 5400
    assert after.title_fr == "Sauvegardes nocturnes"


def test_cancelling_a_window(admin, store):
    admin.post("/admin/maintenance", ONE_OFF)
    window_id = windows(store)[-1].id
    response = admin.post(f"/admin/maintenance/{window_id}/cancel")
    assert response.status_code == 303
    assert windows(store)[-1].cancelled_at is not None
    # cancelling twice says so, and changes nothing
    response = admin.post(f"/admin/maintenance/{window_id}/cancel")
    assert response.status_code == 422
    assert "Cette maintenance est annulée." in response.get_data(as_text=True)


def test_ending_a_running_window_now(admin, store):
    now = datetime.now(PARIS)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    admin.post("/admin/maintenance", {**ONE_OFF, "start": start.strftime("%Y-%m-%dT%H:%M"),
                                      "end": "2099-01-01T00:00"})
    window_id = windows(store)[-1].id
    response = admin.post(f"/admin/maintenance/{window_id}/end")
    assert response.status_code == 303
    assert windows(store)[-1].ends_at <= datetime.now(PARIS).timestamp()


def test_unknown_window_is_404(admin):
    assert admin.get("/admin/maintenance/999999").status_code == 404
    assert admin.post("/admin/maintenance/999999/cancel").status_code == 404
