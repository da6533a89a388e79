"""The Atom feed and the SVG badges: valid XML with the right content."""

from __future__ import annotations

import xml.etree.ElementTree as ET

ATOM = "{http://www.w3.org/2005/Atom}"
SVG = "{http://www.w3.org/2000/svg}"


def test_atom_feed_is_valid_xml_with_entries(client):
    response = client.get("/feed.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    assert feed.find(f"{ATOM}title").text == "Coopérative Exemple — état des services"
    entries = feed.findall(f"{ATOM}entry")
    titles = [e.find(f"{ATOM}title").text for e in entries]
    assert "Réception du courrier perturbée — Cause identifiée" in titles
    assert "Sites web lents — Résolu" in titles
    assert any(t.startswith("Maintenance : Mise à jour de Nextcloud") for t in titles)
    assert len(entries) == 4
    incident = entries[0]
    assert incident.find(f"{ATOM}link").get("href") == "http://localhost/incidents/1"
    assert incident.find(f"{ATOM}updated").text == "2026-03-12T12:35:00Z"
    content = incident.find(f"{ATOM}content")
    assert content.get("type") == "html" and "<strong>imap2</strong>" in content.text
    assert feed.find(f"{ATOM}updated").text == "2026-03-12T12:35:00Z"


def test_atom_feed_in_english_and_history_alias(client):
    feed = ET.fromstring(client.get("/history.atom?lang=en").data)
    titles = [e.find(f"{ATOM}title").text for e in feed.findall(f"{ATOM}entry")]
    assert "Incoming mail disrupted — Cause identified" in titles
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"


def test_notice_script_is_escaped_in_the_feed(client):
    assert b"<script" not in client.get("/feed.atom").data


def test_status_badge(client):
    response = client.get("/badges/mail/status.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    svg = ET.fromstring(response.data)
    assert svg.tag == f"{SVG}svg" and svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Messagerie : Panne partielle"
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts == ["Messagerie", "Panne partielle"]
    assert int(svg.get("width")) > 100
    svg = ET.fromstring(client.get("/badges/web/status.svg?lang=en").data)
    assert svg.find(f"{SVG}title").text == "Web hosting : Operational"


def test_uptime_and_overall_badges(client):
    svg = ET.fromstring(client.get("/badges/web/uptime.svg", headers={"Accept-Language": "en"}).data)
    label, value = [t.text for t in svg.iter(f"{SVG}text")]
    assert label == "uptime 90 days" and value.endswith("%") and value.startswith("99.")
    svg = ET.fromstring(client.get("/badges/status.svg").data)
    assert [t.text for t in svg.iter(f"{SVG}text")] == ["état", "Certains services sont perturbés"]


def test_badge_of_unknown_service_is_404(client):
    assert client.get("/badges/nope/status.svg").status_code == 404
    assert client.get("/badges/nope/uptime.svg").status_code == 404


def test_feed_links_follow_the_host_asked_without_leaking_to_others(client):
    ET.fromstring(client.get("/feed.atom", headers={"Host": "evil.example"}).data)
    feed = ET.fromstring(client.get("/feed.atom").data)
    link = feed.find(f"{ATOM}entry").find(f"{ATOM}link").get("href")
    assert link.startswith("http://localhost/")


def test_a_service_has_its_own_feed(client):
    response = client.get("/services/mail.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    assert feed.find(f"{ATOM}id").text == "http://localhost/services/mail.atom"
    assert feed.find(f"{ATOM}title").text.startswith("Messagerie — ")
    alternate = [l for l in feed.findall(f"{ATOM}link") if l.get("rel") == "alternate"]
    assert alternate[0].get("href") == "http://localhost/services/mail"
    titles = [e.find(f"{ATOM}title").text for e in feed.findall(f"{ATOM}entry")]
    # its incident and the maintenance over every service; not the web sites' incident
    assert "Réception du courrier perturbée — Cause identifiée" in titles
    assert any(t.startswith("Maintenance : Changement de routeur") for t in titles)
    assert not any("Sites web lents" in t or "Nextcloud" in t for t in titles)
    web = ET.fromstring(client.get("/services/web.atom?lang=en").data)
    titles = [e.find(f"{ATOM}title").text for e in web.findall(f"{ATOM}entry")]
    assert "Slow web sites — Resolved" in titles
    assert not any("mail" in t.lower() for t in titles)


def test_a_service_feed_is_served_by_its_content(client):
    first = client.get("/services/mail.atom")
    assert first.headers["Last-Modified"]
    again = client.get("/services/mail.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
