"""Incident cards on the overview: the public links of an open incident (guides, forum
thread) travel with the snapshot to its card, and a date is said once, not twice in a row."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from monitor.incidents.models import Incident, IncidentLink, IncidentService, IncidentUpdate
from tests.dashboard import seed


def page_of(client) -> str:
    return client.get("/").get_data(as_text=True).replace("\u202f", " ").replace("\xa0", " ")


def card(page: str, title: str) -> str:
    """The text of the overview's card titled ``title`` (tags removed)."""
    found = re.search(r'<article class="incident[^"]*">(?:(?!</article>).)*?' + re.escape(title)
                      + r".*?</article>", page, re.DOTALL)
    assert found, f"no card {title!r}"
    return found.group(0)


def refresh(app, client, clock) -> None:
    cache = app.extensions["vigie"].cache
    clock.advance(cache.check_interval)
    client.get("/")
    assert cache.wait_idle(60)


def test_an_open_incidents_card_carries_its_public_links(app, client, clock, seeded, ids):
    _, store, _ = seeded
    html = card(page_of(client), "Réception du courrier perturbée")
    assert '<a href="https://guides.example.coop/thunderbird" rel="noopener noreferrer">' \
           'Configurer Thunderbird</a>' in html
    assert 'href="https://forum.example.coop/t/imap/42"' in html
    assert "desk.example.coop" not in html  # the ticket is for volunteers
    # a guide attached later by a bridge reaches the card with the next snapshot
    with Session(store.engine) as session, session.begin():
        session.add(IncidentLink(incident_id=ids["open"], plugin="docs_bridge", kind="guide",
                                 title="Relever son courrier avec K-9", created_at=seed.NOW,
                                 url="https://guides.example.coop/k9"))
    refresh(app, client, clock)
    html = card(page_of(client), "Réception du courrier perturbée")
    assert '<a href="https://guides.example.coop/k9" rel="noopener noreferrer">' \
           "Relever son courrier avec K-9</a>" in html


def test_the_latest_update_of_the_same_day_gives_only_its_time(client):
    html = card(page_of(client), "Réception du courrier perturbée")
    # opened 12 mars, 12:05; updated at 13:35 the same day
    assert "depuis le 12 mars 2026, 12:05" in html
    assert "Dernière mise à jour à 13:35 :" in html
    assert html.count("12 mars") == 1


def _incident(store, title: str, opened: float, updated: float) -> None:
    with Session(store.engine) as session, session.begin():
        incident = Incident(title_fr=title, impact="degraded", worst_impact="degraded",
                            phase="investigating", automatic=True, opened_at=opened,
                            updated_at=updated)
        incident.services.append(IncidentService(service_id="web"))
        incident.updates.append(IncidentUpdate(
            at=opened, kind="opened", phase="investigating", impact="degraded",
            message_fr="Les sites répondent lentement."))
        if updated != opened:
            incident.updates.append(IncidentUpdate(
                at=updated, kind="update", phase="investigating", automatic=False,
                message_fr="Toujours lent."))
        session.add(incident)


def test_an_update_at_the_opening_repeats_no_date(app, client, clock, seeded):
    _, store, _ = seeded
    _incident(store, "Sites lents", seed.NOW - 600, seed.NOW - 600)
    refresh(app, client, clock)
    html = card(page_of(client), "Sites lents")
    assert "depuis le 12 mars 2026, 13:55" in html
    assert "Dernière mise à jour" not in html and html.count("12 mars") == 1
    assert "Les sites répondent lentement." in html


def test_an_update_of_another_day_gives_its_date(app, client, clock, seeded):
    _, store, _ = seeded
    _incident(store, "Sites lents", seed.NOW - 2 * 86400, seed.NOW - 600)
    refresh(app, client, clock)
    html = card(page_of(client), "Sites lents")
    assert "depuis le 10 mars 2026, 14:05" in html
    assert "Dernière mise à jour, le 12 mars 2026, 13:55 :" in html
