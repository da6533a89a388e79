"""Posting, editing and ending notices from the admin pages; bad input is refused with a
message next to the field, status 422, and nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from monitor.incidents.models import Notice

GOOD = {"level": "warning", "title_fr": "Coupure réseau ce soir",
        "text_fr": "Entre **22 h** et 23 h.", "title_en": "Network cut tonight",
        "text_en": "Between 10 and 11 pm."}


def notices(store) -> list[Notice]:
    with store.session() as session:
        return list(session.scalars(select(Notice).order_by(Notice.id)))


def count(store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Notice))


def test_a_notice_posted_here_is_on_the_status_page(admin, store, admin_app):
    response = admin.post("/admin/notices", GOOD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/notices"
    page = admin.get("/admin/notices").get_data(as_text=True)
    assert "Le message est publié." in page and "Coupure réseau ce soir" in page
    notice = notices(store)[-1]
    assert (notice.level, notice.created_by, notice.title_en) == (
        "warning", "camille", "Network cut tonight")
    public = admin_app.test_client().get("/").get_data(as_text=True)
    assert "Coupure réseau ce soir" in public
    assert "<strong>22 h</strong>" in public  # Markdown rendered


@pytest.mark.parametrize("change, field, message", [
    ({"title_fr": "  "}, "title_fr", "Ce champ est obligatoire."),
    ({"starts_at": "2030-05-02T10:00", "ends_at": "2030-05-01T10:00"}, "ends_at",
     "La fin doit être après le début."),
    ({"text_fr": "x" * 20_001}, "text_fr", "Texte trop long"),
    ({"title_fr": "t" * 201}, "title_fr", "Texte trop long"),
    ({"text_fr": "Cliquez <script>alert('vol')</script> ici"}, "text_fr", "HTML actif"),
    ({"text_en": '<img src=x onerror="alert(1)">'}, "text_en", "HTML actif"),
    ({"text_fr": "[aide](javascript:alert(1))"}, "text_fr", "HTML actif"),
    ({"level": "panic"}, "level", "Valeur « panic » inconnue"),
    ({"starts_at": "demain"}, "starts_at", "Date invalide"),
])
def test_bad_input_is_refused_and_changes_nothing(admin, store, change, field, message):
    before = count(store)
    response = admin.post("/admin/notices", {**GOOD, **change})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert f'id="{field}"' in page and 'aria-invalid="true"' in page
    assert count(store) == before
    # what the volunteer typed comes back, escaped, never as live HTML
    assert "<script>alert" not in page and "<img src=x" not in page
    if "<script>" in change.get("text_fr", ""):
        assert "&lt;script&gt;alert(&#39;vol&#39;)&lt;/script&gt;" in page


def test_english_pages_give_english_messages(admin, store):
    admin.get("/lang/en")
    response = admin.post("/admin/notices", {**GOOD, "title_fr": ""})
    assert response.status_code == 422
    assert "This field is required." in response.get_data(as_text=True)


def test_a_notice_can_be_edited(admin, store, seeded_ids):
    notice_id = seeded_ids["notice"]
    page = admin.get(f"/admin/notices/{notice_id}").get_data(as_text=True)
    assert 'value="Hameçonnage en cours"' in page
    # the seeded text holds a script: the preview cleans it, the form escapes it
    assert "<script>" not in page
    response = admin.post(f"/admin/notices/{notice_id}", {**GOOD, "title_fr": "Nouveau titre"})
    assert response.status_code == 303
    with store.session() as session:
        assert session.get(Notice, notice_id).title_fr == "Nouveau titre"


def test_a_bad_edit_changes_nothing(admin, store, seeded_ids):
    notice_id = seeded_ids["notice"]
    response = admin.post(f"/admin/notices/{notice_id}", {**GOOD, "title_fr": ""})
    assert response.status_code == 422
    with store.session() as session:
        assert session.get(Notice, notice_id).title_fr == "Hameçonnage en cours"


def test_ending_a_notice_takes_it_off_the_status_page(admin, store, seeded_ids, admin_app):
    notice_id = seeded_ids["notice"]
    assert "Hameçonnage en cours" in admin_app.test_client().get("/").get_data(as_text=True)
    response = admin.post(f"/admin/notices/{notice_id}/end")
    assert response.status_code == 303
    with store.session() as session:
        assert session.get(Notice, notice_id).ends_at is not None
    # at once: the admin area drops the page's snapshot after a change
    assert "Hameçonnage en cours" not in admin_app.test_client().get("/").get_data(as_text=True)


def test_unknown_notice_is_404(admin):
    assert admin.get("/admin/notices/999999").status_code == 404
    assert admin.post("/admin/notices/999999/end").status_code == 404
