"""The admin page of one incident offers what fits its state: the post-mortem form once
the incident is resolved, not while it is still open."""

from __future__ import annotations

POSTMORTEM_FORM = "/postmortem\""


def test_an_open_incident_offers_no_post_mortem_form(admin, seeded_ids):
    page = admin.get(f"/admin/incidents/{seeded_ids['open']}").get_data(as_text=True)
    assert f"/admin/incidents/{seeded_ids['open']}/updates\"" in page  # updates, yes
    assert POSTMORTEM_FORM not in page
    assert "Le compte rendu s'écrit une fois l'incident résolu." in page


def test_a_resolved_incident_offers_the_post_mortem_form(admin, seeded_ids):
    page = admin.get(f"/admin/incidents/{seeded_ids['resolved']}").get_data(as_text=True)
    assert f"/admin/incidents/{seeded_ids['resolved']}{POSTMORTEM_FORM}" in page
    assert "Publier le compte rendu" in page


def test_the_phases_offered_are_worded_as_members_and_alerts_read_them(admin):
    """Issue 13: one wording of the phases; the admin form had a third one."""
    from monitor import terms

    page = admin.get("/admin/incidents/new").get_data(as_text=True)
    for label in ("investigating", "identified", "monitoring"):
        assert terms.sentence_case(terms.phase(label).say("fr")) in page
    assert "Investigating" not in page
