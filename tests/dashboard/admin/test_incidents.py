"""Incidents from the admin pages: open by hand (the plugins are told), updates through
the phases, private notes, impact, resolution, post-mortem; every link the bridges
attached — the private helpdesk ticket too — shown here and never on the public pages."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from monitor.incidents.models import Incident, OutboxEntry

NEW = {"services": ["web", "mail"], "title_fr": "Lenteurs générales",
       "message_fr": "Nous cherchons la cause.", "title_en": "General slowness",
       "message_en": "We are looking for the cause.", "impact": "degraded",
       "phase": "investigating"}
TICKET = "https://desk.example.coop/ticket/991"


def count(store, model=Incident) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def outbox_hooks(store, incident_id: int) -> list[tuple[str, str]]:
    with store.session() as session:
        rows = session.scalars(select(OutboxEntry).where(OutboxEntry.incident_id == incident_id)
                               .order_by(OutboxEntry.id))
        return [(r.plugin, r.hook) for r in rows]


def open_one(admin, store) -> int:
    response = admin.post("/admin/incidents", NEW)
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_opening_an_incident_by_hand(admin, store, admin_app):
    incident_id = open_one(admin, store)
    with store.session() as session:
        incident = session.get(Incident, incident_id)
        assert (incident.automatic, incident.created_by, incident.impact) == (
            False, "camille", "degraded")
        assert sorted(incident.service_ids) == ["mail", "web"]
    # the plugins hear about it as about an automatic one (through the outbox)
    assert outbox_hooks(store, incident_id) == [("recorder", "vigie_incident_opened")]
    page = admin.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    assert "L&#39;incident est ouvert." in page and "Lenteurs générales" in page
    public = admin_app.test_client().get(f"/incidents/{incident_id}")
    assert public.status_code == 200 and "Lenteurs générales" in public.get_data(as_text=True)


def test_the_new_incident_form_preselects_a_service(admin):
    page = admin.get("/admin/incidents/new?service=mail").get_data(as_text=True)
    assert 'value="mail" checked' in page and 'value="web" checked' not in page


@pytest.mark.parametrize("change, message", [
    ({"services": []}, "Choisissez au moins un service."),
    ({"services": ["imaginary"]}, "Service inconnu : imaginary."),
    ({"title_fr": ""}, "Ce champ est obligatoire."),
    ({"message_fr": "   "}, "Ce champ est obligatoire."),
    ({"impact": "apocalypse"}, "Valeur « apocalypse » inconnue"),
    ({"message_fr": "Voir <script src=//evil.example/x.js></script>"}, "HTML actif"),
    ({"title_fr": "T" * 300}, "Texte trop long"),
])
def test_bad_input_opens_nothing(admin, store, change, message):
    before = count(store)
    response = admin.post("/admin/incidents", {**NEW, **change})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert "<script src=//evil" not in page
    assert count(store) == before


def test_updates_move_through_the_phases_and_resolve(admin, store, admin_app):
    incident_id = open_one(admin, store)
    for phase, text in [("identified", "Un disque est plein."),
                        ("monitoring", "Disque remplacé, nous surveillons.")]:
        response = admin.post(f"/admin/incidents/{incident_id}/updates",
                              {"phase": phase, "message_fr": text})
        assert response.status_code == 303
    response = admin.post(f"/admin/incidents/{incident_id}/resolve",
                          {"message_fr": "Tout fonctionne."})
    assert response.status_code == 303
    with store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident.phase == "resolved" and incident.resolved_at is not None
    hooks = [h for _, h in outbox_hooks(store, incident_id)]
    assert hooks == ["vigie_incident_opened", "vigie_incident_updated",
                     "vigie_incident_updated", "vigie_incident_resolved"]
    public = admin_app.test_client().get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "Disque remplacé, nous surveillons." in public and "Tout fonctionne." in public
    # a resolved incident takes no more updates
    response = admin.post(f"/admin/incidents/{incident_id}/updates",
                          {"phase": "monitoring", "message_fr": "Encore ?"})
    assert response.status_code == 422
    assert "Cet incident est déjà résolu." in response.get_data(as_text=True)


def test_a_private_note_stays_in_the_admin_area(admin, store, admin_app):
    incident_id = open_one(admin, store)
    before = outbox_hooks(store, incident_id)
    response = admin.post(f"/admin/incidents/{incident_id}/updates",
                          {"phase": "identified", "message_fr": "Note : voir avec Dominique.",
                           "private": "1"})
    assert response.status_code == 303
    assert outbox_hooks(store, incident_id) == before  # nobody is notified
    assert "voir avec Dominique" in admin.get(f"/admin/incidents/{incident_id}").get_data(
        as_text=True)
    public = admin_app.test_client().get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "voir avec Dominique" not in public


def test_an_update_needs_a_message_and_a_known_phase(admin, store):
    incident_id = open_one(admin, store)
    for form, message in [({"phase": "identified", "message_fr": ""}, "Ce champ est obligatoire."),
                          ({"phase": "sleeping", "message_fr": "x"}, "Valeur « sleeping » inconnue"),
                          ({"phase": "identified", "message_fr": "<script>x</script>"},
                           "HTML actif")]:
        response = admin.post(f"/admin/incidents/{incident_id}/updates", form)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert len(outbox_hooks(store, incident_id)) == 1


def test_changing_the_impact(admin, store):
    incident_id = open_one(admin, store)
    response = admin.post(f"/admin/incidents/{incident_id}/impact", {"impact": "major_outage"})
    assert response.status_code == 303
    with store.session() as session:
        incident = session.get(Incident, incident_id)
        assert (incident.impact, incident.worst_impact) == ("major_outage", "major_outage")
    response = admin.post(f"/admin/incidents/{incident_id}/impact", {"impact": "nope"})
    assert response.status_code == 422


def test_publishing_a_post_mortem(admin, store, admin_app, seeded_ids):
    incident_id = seeded_ids["resolved"]
    text = "## Ce qui s'est passé\n\nUne mise à jour a saturé le **serveur**."
    response = admin.post(f"/admin/incidents/{incident_id}/postmortem", {"text_fr": text})
    assert response.status_code == 303
    with store.session() as session:
        assert session.get(Incident, incident_id).postmortem_fr == text
    public = admin_app.test_client().get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "<strong>serveur</strong>" in public
    response = admin.post(f"/admin/incidents/{incident_id}/postmortem",
                          {"text_fr": "<script>alert(1)</script>"})
    assert response.status_code == 422
    with store.session() as session:
        assert session.get(Incident, incident_id).postmortem_fr == text


def test_the_seeded_script_in_a_post_mortem_is_never_rendered(admin, seeded_ids):
    page = admin.get(f"/admin/incidents/{seeded_ids['resolved']}").get_data(as_text=True)
    assert "<script>alert('pm')</script>" not in page


def test_the_private_ticket_link_is_for_volunteers_only(admin, admin_app, seeded_ids):
    incident_id = seeded_ids["open"]
    page = admin.get(f"/admin/incidents/{incident_id}").get_data(as_text=True)
    assert TICKET in page and "Ticket #991" in page
    assert "privé : bénévoles seulement" in page
    assert "NOTE INTERNE" in page  # the private timeline note too
    assert "https://guides.example.coop/thunderbird" in page
    public = admin_app.test_client()
    for path in ("/", "/incidents", f"/incidents/{incident_id}", "/api/v1/summary.json",
                 "/api/v1/incidents", f"/api/v1/incidents/{incident_id}", "/history.atom",
                 "/services/mail"):
        response = public.get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        assert TICKET not in body and "NOTE INTERNE" not in body, path
    # the public page does show the public links
    assert "https://guides.example.coop/thunderbird" in public.get(
        f"/incidents/{incident_id}").get_data(as_text=True)


def test_lists_and_unknown_incidents(admin, seeded_ids):
    page = admin.get("/admin/incidents").get_data(as_text=True)
    assert "INC-2026-0007" in page and "INC-2026-0005" in page
    assert admin.get("/admin/incidents/999999").status_code == 404
    response = admin.post("/admin/incidents/999999/updates",
                          {"phase": "identified", "message_fr": "x"})
    assert response.status_code == 404
