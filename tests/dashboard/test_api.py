"""The JSON API: Statuspage-shaped summary, services, incidents; errors as JSON."""

from __future__ import annotations

from sqlalchemy import select

from monitor.probe import Reason, Status
from monitor.reasonwords import public_words
from monitor.store import CheckChange
from monitor.store.models import CheckStatusChange
from monitor.words import Bilingual
from tests.dashboard import seed

COMPONENT_STATUSES = {"operational", "degraded_performance", "partial_outage", "major_outage",
                      "under_maintenance"}
PHASES = {"investigating", "identified", "monitoring", "resolved"}


def test_summary_has_the_statuspage_shape(client):
    response = client.get("/api/v1/summary.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    doc = response.get_json()
    assert set(doc) == {"page", "status", "components", "incidents", "scheduled_maintenances",
                        "vigie_detected"}
    assert doc["page"]["name"] == "Coopérative Exemple — état des services"
    assert doc["page"]["time_zone"] == "Europe/Paris"
    assert doc["page"]["updated_at"] == "2026-03-12T13:00:00Z"
    assert doc["status"] == {"indicator": "minor", "description": "Certains services sont perturbés",
                             "vigie_banner": "disturbed"}
    by_id = {c["id"]: c for c in doc["components"]}
    assert {c["status"] for c in doc["components"]} <= COMPONENT_STATUSES
    assert by_id["mail"]["status"] == "partial_outage"
    assert by_id["nextcloud"]["status"] == "degraded_performance"
    assert by_id["web"]["status"] == "operational"
    assert by_id["hebergement"]["group"] is True
    assert by_id["hebergement"]["components"] == ["web", "nextcloud"]
    assert by_id["mail"]["group_id"] == "communication"
    assert 0.9 < by_id["web"]["uptime_90d"] < 1
    [incident] = doc["incidents"]
    assert incident["name"] == "Réception du courrier perturbée"
    assert incident["status"] == "identified" and incident["impact"] == "major"
    assert incident["components"] == ["mail"]
    assert [u["status"] for u in incident["incident_updates"]] == ["identified", "investigating"]
    assert all(u["status"] in PHASES for u in incident["incident_updates"])
    assert not any("NOTE INTERNE" in u["body"] for u in incident["incident_updates"])
    assert {link["title"] for link in incident["links"]} == {"Configurer Thunderbird",
                                                            "Sujet sur le forum"}
    [maintenance] = doc["scheduled_maintenances"]
    assert maintenance["name"] == "Mise à jour de Nextcloud"
    assert maintenance["status"] == "scheduled" and maintenance["components"] == ["nextcloud"]
    assert maintenance["scheduled_for"] == "2026-03-14T13:05:00Z"


def test_summary_in_english(client):
    doc = client.get("/api/v1/summary.json?lang=en").get_json()
    assert doc["page"]["language"] == "en"
    assert doc["status"]["description"] == "Some services are disturbed"
    assert {c["name"] for c in doc["components"]} >= {"Web hosting", "Mail", "Hosting"}
    assert doc["incidents"][0]["name"] == "Incoming mail disrupted"


def test_services_with_checks_and_reasons(client):
    doc = client.get("/api/v1/services", headers={"Accept-Language": "en"}).get_json()
    services = {s["id"]: s for s in doc["services"]}
    assert list(services) == ["web", "nextcloud", "mail", "lists", "forum"]
    mail = services["mail"]
    assert mail["vigie_status"] == "partial_outage"
    assert mail["checks"][0] == {
        "id": "mail/web", "name": "Home page", "kind": "tcp", "status": "down",
        "since": "2026-03-12T11:05:00Z",
        "reason": "The service refuses connections"}
    assert mail["checks"][1]["status"] == "up" and mail["checks"][1]["reason"] is None


def test_one_service_with_its_days(client):
    doc = client.get("/api/v1/services/forum").get_json()
    assert doc["id"] == "forum" and len(doc["days"]) == 90
    assert doc["days"][0]["uptime"] is None  # no data on its first day
    assert doc["days"][-1]["date"] == "2026-03-12"
    assert client.get("/api/v1/services/nope").status_code == 404
    assert client.get("/api/v1/services/nope").get_json() == {"error": "not_found", "status": 404}


def test_incidents_list_and_detail(client, ids):
    doc = client.get("/api/v1/incidents").get_json()
    assert [i["reference"] for i in doc["incidents"]] == ["INC-2026-0007", "INC-2026-0005"]
    resolved = doc["incidents"][1]
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    detail = client.get(f"/api/v1/incidents/{ids['resolved']}").get_json()
    assert detail["postmortem_body"].startswith("## Ce qui s'est passé")
    assert [u["status"] for u in detail["incident_updates"]] == ["resolved", "investigating"]
    response = client.get("/api/v1/incidents/9999")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_reasons_quoting_outside_text_are_replaced_on_public_places(seeded, app, client):
    """A reason a probe marked non-public (a plugin's output, a server's error) never
    reaches the service page or the API; it is still stored for volunteers."""
    _config, store, _ = seeded
    raw = Reason("nagios.critical", Bilingual("Sonde : CRITICAL - db01.interne refuse vigie_ro",
                                          "Plugin: CRITICAL - db01.interne refuses vigie_ro"),
                 public=False)
    store.write_batch((), [CheckChange("mail/web", seed.NOW - 60, Status.DOWN, Status.DOWN, raw)])

    doc = client.get("/api/v1/services", headers={"Accept-Language": "en"}).get_json()
    mail = {s["id"]: s for s in doc["services"]}["mail"]
    member = public_words("nagios.critical")
    assert mail["checks"][0]["reason"] == member.en
    french = client.get("/api/v1/services").get_json()
    assert {s["id"]: s for s in french["services"]}["mail"]["checks"][0]["reason"] == member.fr
    page = client.get("/services/mail").get_data(as_text=True)
    assert "db01.interne" not in page and "vigie_ro" not in page
    assert member.fr.replace("'", "&#39;") in page
    # a reason quoting nothing from outside is not shown as the probe said it either
    nextcloud = {s["id"]: s for s in doc["services"]}["nextcloud"]
    assert nextcloud["checks"][0]["reason"] == "The site is slow: pages may take a while to load"
    with store.engine.connect() as conn:
        kept = conn.execute(select(CheckStatusChange.reason_fr, CheckStatusChange.reason_public)
                            .where(CheckStatusChange.at == seed.NOW - 60)).one()
    assert kept == (raw.fr, False)
