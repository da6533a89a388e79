"""Volunteers' text made safe where the forms, the API and the CLI meet (issue 12, point
8 and part of 14): control characters never reach the database or the Atom feed, bidi
overrides never reach a title; the feed stays valid XML even for rows stored earlier."""

from __future__ import annotations

import time
from xml.etree import ElementTree

import pytest
from sqlalchemy import select

from dashboard import create_app
from dashboard.admin import accounts, tokens
from monitor.incidents.models import Incident, IncidentUpdate, Notice
from monitor.plugins import build_plugin_manager
from tests.dashboard import seed
from tests.dashboard.admin.conftest import QUICK, Recorder

API = "/admin/api/v1"
ATOM = "{http://www.w3.org/2005/Atom}"


def caller(app, token: str):
    """Call the admin API of ``app`` with ``token``."""
    client = app.test_client()

    def call(method: str, path: str, json=None):
        return client.open(API + path, method=method, json=json,
                           headers={"Authorization": f"Bearer {token}"})
    return call


def feed_titles(client) -> list[str]:
    """The entry titles of ``/feed.atom``, read by an XML parser (which refuses a
    control character: the feed would be broken for every reader)."""
    answer = client.get("/feed.atom")
    assert answer.status_code == 200
    root = ElementTree.fromstring(answer.get_data())
    return [entry.findtext(f"{ATOM}title") for entry in root.iter(f"{ATOM}entry")]


def test_control_characters_in_an_incident_title_keep_the_feed_valid(admin_app, token):
    api = caller(admin_app, token)
    answer = api("POST", "/incidents", {
        "services": ["mail"], "title_fr": "Courrier\u0000\u0008 en\r\npanne",
        "message_fr": "Nous\u0007 regardons.\r\nDeuxième ligne\u001b[31m."})
    assert answer.status_code == 201, answer.get_json()
    incident = answer.get_json()
    assert incident["summary"]["title_fr"] == "Courrier en panne"
    # a message keeps its lines; each control character became a space
    assert incident["updates"][0]["message_fr"] == "Nous  regardons.\nDeuxième ligne [31m."
    titles = feed_titles(admin_app.test_client())
    assert any(t.startswith("Courrier en panne") for t in titles), titles


def test_bidi_overrides_never_reach_a_title(admin_app, token, store):
    api = caller(admin_app, token)
    answer = api("POST", "/notices", {"title_fr": "Facture\u202egpj.exe\r\n  ",
                                      "text_fr": "Voir\u2066 la page\u2069."})
    assert answer.status_code == 201, answer.get_json()
    with store.session() as session:
        notice = session.scalars(select(Notice).order_by(Notice.id.desc())).first()
    assert notice.title_fr == "Facture gpj.exe"
    assert notice.text_fr == "Voir  la page ."


def test_text_made_only_of_control_characters_is_an_empty_field(admin_app, token):
    answer = caller(admin_app, token)("POST", "/notices", {"title_fr": "\u0000\u0008 \u202e"})
    assert answer.status_code == 422
    body = answer.get_json()
    assert body["field"] == "title_fr" and body["message_en"] == "This field is required."


def test_the_feed_stays_valid_for_rows_stored_before_the_fix(admin_app, store, seeded_ids):
    # written straight to the database, as an older Vigie did
    with store.session() as session, session.begin():
        incident = session.get(Incident, seeded_ids["open"])
        incident.title_fr = "Ancien\u0000 titre\u0008 \ufffe"
        incident.title_en = "Old\u0000 title\u0008"
        session.add(IncidentUpdate(incident_id=incident.id, at=time.time(), kind="update",
                                   phase="identified", impact=incident.impact,
                                   message_fr="Cause\u0001 trouvée\u001f.", public=True,
                                   automatic=False))
    titles = feed_titles(admin_app.test_client())
    assert any(t.startswith("Ancien titre") for t in titles), titles


@pytest.mark.postgres
def test_a_notice_with_a_nul_is_stored_on_postgresql(admin_config, postgres_schema_url):
    store = seed.prepare_store(postgres_schema_url)
    try:
        seed.seed_all(store, admin_config, now=time.time(), result_hours=0)
        with store.session() as session, session.begin():
            accounts.create_user(session, "camille", "correct horse battery staple", passwords=QUICK)
            secret = tokens.create_token(session, "camille", "tests").secret
        pm = build_plugin_manager(load_entry_points=False,
                                  extra_plugins=[("recorder", Recorder())])
        app = create_app(admin_config, {"TESTING": True, "PLUGIN_MANAGER": pm}, store=store)
        api = caller(app, secret)
        answer = api("POST", "/notices", {"title_fr": "Coupure\u0000 prévue",
                                          "text_fr": "Le\u0000 service s'arrête."})
        assert answer.status_code == 201, answer.get_data(as_text=True)
        notice_id = answer.get_json()["id"]
        answer = api("PATCH", f"/notices/{notice_id}", {"text_fr": "Encore\u0000 un."})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        answer = api("POST", "/incidents", {"services": ["mail"], "title_fr": "Panne\u0000",
                                            "message_fr": "Nous\u0000 regardons."})
        assert answer.status_code == 201, answer.get_data(as_text=True)
        with store.session() as session:
            notice = session.get(Notice, notice_id)
        assert (notice.title_fr, notice.text_fr) == ("Coupure prévue", "Encore  un.")
    finally:
        store.dispose()
