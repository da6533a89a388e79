"""Webhook endpoints in the volunteers' area and the JSON API: the secret shown once (in
the answer that made it), never on a later page or in a list; hostile values answered 422
naming the field; a test ping verified by a real receiver; administrators only."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook

from dashboard.admin import tokens
from tests.dashboard.admin.test_api import API, api  # noqa: F401 (a fixture)


class Receiver:
    """A receiver on 127.0.0.1 in a thread (the ping runs in the web thread), verifying
    each request with ``standardwebhooks``."""

    def __init__(self) -> None:
        self.secret = ""
        self.seen: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    outer.seen.append(Webhook(outer.secret).verify(body, dict(self.headers)))
                    self.send_response(204)
                except Exception:
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/vigie?token=x"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


def test_the_page_adds_shows_the_secret_once_and_pings(admin, receiver):
    page = admin.get("/admin/webhooks").get_data(as_text=True)
    assert "Add a webhook" in page or "Ajouter un webhook" in page
    refused = admin.post("/admin/webhooks", {"name": "Partenaire",
                                             "url": "http://partner.example.org/h"})
    assert refused.status_code == 422
    assert "https://" in refused.get_data(as_text=True)
    made = admin.post("/admin/webhooks", {"name": "Partenaire", "url": receiver.url,
                                          "events": ["incident.opened", "incident.resolved"]})
    assert made.status_code == 201
    html = made.get_data(as_text=True)
    secret = html.split('<code class="secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    for path in ("/admin/webhooks", "/admin/webhooks/1"):
        later = admin.get(path).get_data(as_text=True)
        assert secret not in later and "Partenaire" in later
    receiver.secret = secret
    pinged = admin.post("/admin/webhooks/1/test")
    assert pinged.status_code == 200 and "HTTP 204" in pinged.get_data(as_text=True)
    [seen] = receiver.seen
    assert seen["type"] == "webhook.test" and seen["data"]["endpoint"] == 1
    rotated = admin.post("/admin/webhooks/1/rotate").get_data(as_text=True)
    new = rotated.split('<code class="secret">')[1].split("<")[0]
    assert new != secret and new not in admin.get("/admin/webhooks/1").get_data(as_text=True)
    assert admin.post("/admin/webhooks/1/disable").status_code == 303
    assert "Disabled" in admin.get("/admin/webhooks/1?lang=en").get_data(as_text=True)
    assert admin.post("/admin/webhooks/1/enable").status_code == 303
    assert admin.post("/admin/webhooks/1/remove").status_code == 303
    assert admin.get("/admin/webhooks/1").status_code == 404


def test_the_api_from_create_to_delete(api, store):
    made = api("POST", "/webhooks", {"name": "Outil", "url": "https://partner.example.org/h",
                                     "events": ["maintenance.started"], "services": ["web"]})
    assert made.status_code == 201, made.get_json()
    secret = made.get_json()["secret"]
    assert secret.startswith("whsec_")
    assert made.get_json()["endpoint"]["events"] == ["maintenance.started"]
    listed = api("GET", "/webhooks")
    detail = api("GET", "/webhooks/1")
    assert secret not in listed.get_data(as_text=True) + detail.get_data(as_text=True)
    assert detail.get_json()["deliveries"] == []
    rotated = api("POST", "/webhooks/1/rotate", {"overlap": "2h"}).get_json()
    assert rotated["secret"] != secret and rotated["endpoint"]["previous_secret_until"]
    assert api("POST", "/webhooks/1/disable", {"reason": "pause"}).get_json()["enabled"] is False
    assert api("POST", "/webhooks/1/enable").get_json()["enabled"] is True
    assert api("DELETE", "/webhooks/1").status_code == 200
    assert api("GET", "/webhooks/1").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "url": "http://partner.example.org/h"}, "url"),
    ({"name": "x", "url": "not a url"}, "url"),
    ({"name": "x" * 5000, "url": "https://partner.example.org/h"}, "name"),
    ({"name": "x", "url": "https://partner.example.org/h", "events": ["boom"]}, "events"),
    ({"name": "x", "url": "https://partner.example.org/h", "secret": "whsec_mine"}, "secret"),
    ({"name": 3, "url": "https://partner.example.org/h"}, "name"),
])
def test_hostile_bodies_are_422_naming_the_field(api, body, field):
    answer = api("POST", "/webhooks", body)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["field"] == field
    assert api("GET", "/webhooks").get_json() == []


def test_only_administrators(admin_app, store, volunteer):
    from dashboard.admin import accounts
    from tests.dashboard.admin.conftest import PASSWORD, QUICK

    with store.session() as session, session.begin():
        accounts.create_user(session, "dominique", PASSWORD, role="editor", passwords=QUICK)
        editor = tokens.create_token(session, "dominique", "tests").secret
    answer = admin_app.test_client().get(API + "/webhooks",
                                         headers={"Authorization": f"Bearer {editor}"})
    assert answer.status_code == 403
    assert json.loads(answer.get_data())["error"] == "forbidden"


def test_a_dashboard_serving_alone_writes_the_endpoints_rows(api, store):
    """Not inside `vigie run`: the events it writes have their webhook rows too (the
    running Vigie delivers them)."""
    from sqlalchemy import select

    from monitor.incidents.models import OutboxEntry

    assert api("POST", "/webhooks", {"name": "Outil", "url": "https://partner.example.org/h",
                                     "events": ["incident.opened"]}).status_code == 201
    opened = api("POST", "/incidents", {"services": ["web"], "title_fr": "Lenteurs",
                                        "message_fr": "Nous regardons."})
    assert opened.status_code == 201, opened.get_json()
    with store.session() as s:
        plugins = set(s.scalars(select(OutboxEntry.plugin)))
    assert "webhook-1" in plugins
