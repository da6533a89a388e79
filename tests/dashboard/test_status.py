"""The public pages in French and English, and their error paths."""

from __future__ import annotations

import json
import re

import pytest

EN = {"Accept-Language": "en-GB,en;q=0.9"}


def text(response) -> str:
    """The decoded body, with Babel's narrow and no-break spaces as plain spaces."""
    return response.get_data(as_text=True).replace("\u202f", " ").replace("\xa0", " ")


def test_overview_in_french_by_default(client):
    response = client.get("/")
    assert response.status_code == 200
    page = text(response)
    assert '<html lang="fr"' in page
    # mail is in partial outage, Nextcloud slow: named, and the rest works
    assert ('<span class="banner-text" aria-live="polite">Le service Messagerie est en partie '
            'en panne et le service Nextcloud est ralenti ; les autres services '
            'fonctionnent.</span>') in page
    assert "Nous sommes au courant" in page
    assert "Hébergement web" in page and "Messagerie" in page
    assert '<h3 id="group-hebergement">Hébergement</h3>' in page
    assert "Autres services" in page  # the forum has no group
    assert "Panne partielle" in page and "Ralenti" in page
    # the open incident with its latest public update, not the private note
    assert "Réception du courrier perturbée" in page
    assert "<strong>imap2</strong>" in page
    assert "NOTE INTERNE" not in page
    # notices at the top, the expired one gone; upcoming maintenance
    assert "Hameçonnage en cours" in page and "Ancienne information" not in page
    assert page.index("Hameçonnage") < page.index("Incidents en cours") < page.index("Services</h2>")
    assert "Mise à jour de Nextcloud" in page
    # where to read more, and when the page was last updated (newest result: 13:00 UTC)
    assert 'href="https://forum.example.coop/"' in page
    assert 'Dernière mise à jour : <time id="updated" datetime="2026-03-12T13:00:00Z">12 mars, 14:00</time>' in page
    assert '<noscript><meta http-equiv="refresh" content="300"></noscript>' in page


def test_overview_bars_have_ninety_days_with_text(client):
    page = text(client.get("/"))
    bars = re.findall(r'<ol class="bars" aria-hidden="true"[^>]*>(.*?)</ol>', page, re.DOTALL)
    assert len(bars) == 5
    for bar in bars:
        # one light segment per day; vigie.js writes the text and the tab stop
        assert bar.count("<li") == 90
        assert "<span>" not in bar and "tabindex" not in bar and "class=o" not in bar
    # an operational day is a bare segment; a day's value is sent only when its class does
    # not imply it (100 %, or no data)
    assert "<li><li><li>" in page and "<li class=n>" in page
    assert '<li class=m data-t="82,00 %">' in page
    assert '<li data-t="100 %, 1 incident">' in page
    assert 'data-t="100 %"' not in page and 'data-t="pas de données"' not in page
    # the dates come once per page, with the defaults
    labels = json.loads(re.search(r'<script type="application/json" id="vigie-days">(.*?)</script>',
                                  page).group(1))
    assert len(labels["days"]) == 90
    assert labels["days"][0] == "sam. 13 déc." and labels["days"][-1] == "jeu. 12 mars"
    assert labels["full"].replace("\xa0", " ") == "100 %" and labels["nodata"] == "pas de données"
    # without JavaScript, a sentence per service says the same: colour is never the only sign
    summaries = re.findall(r'<p class="visually-hidden bar-summary">(.*?)</p>', page)
    assert len(summaries) == 5
    assert any("sam. 7 mars : 100 %, 1 incident" in s for s in summaries)
    assert all(s.startswith("Jours pas entièrement disponibles sur les 90 derniers : ")
               for s in summaries)
    assert sum("1 jour sans données." in s for s in summaries) == 1  # the forum's first day
    assert "disponible à 99," in page


def test_bar_summary_when_every_day_was_perfect(app):
    from datetime import date, timedelta

    from dashboard.bars import bar_segments, bar_summary, bar_values
    from dashboard.views import DayView
    from monitor.state import ServiceStatus

    first = date(2026, 3, 1)
    days = [DayView(first + timedelta(days=i), 1.0, ServiceStatus.OPERATIONAL) for i in range(3)]
    days.insert(0, DayView(first - timedelta(days=1), None, None))
    with app.test_request_context("/", headers=EN):
        assert bar_values(days, "en") == [None, None, None, None]
        assert bar_segments(days, "en") == "<li class=n><li><li><li>"
        assert bar_summary(days, "en") == ("Each of the last 4 days with data was fully available."
                                           " 1 day without data.")
    with app.test_request_context("/"):
        days[1] = DayView(first, None, None, incidents=2)
        assert bar_values(days, "fr") == [None, "pas de données, 2 incidents", None, None]
        assert bar_segments(days, "fr") == ('<li class=n><li class=n data-t="pas de données, '
                                            '2 incidents"><li><li>')
        assert bar_summary(days, "fr") == (
            "Jours pas entièrement disponibles sur les 4 derniers : "
            "dim. 1 mars : pas de données, 2 incidents. 1 jour sans données.")
    with app.test_request_context("/", headers=EN):
        # the day and its value are joined the English way (no space before the colon)
        assert bar_summary(days, "en") == (
            "Days not fully available over the last 4: Sun, Mar 1: no data, 2 incidents."
            " 1 day without data.")


def test_overview_in_english_from_accept_language(client):
    page = text(client.get("/", headers=EN))
    assert '<html lang="en"' in page
    assert ('<span class="banner-text" aria-live="polite">The Mail service is partly down and '
            'the Nextcloud service is slow; the other services work.</span>') in page
    assert "Web hosting" in page and "Mail" in page and "Hosting</h3>" in page
    assert "Incoming mail disrupted" in page
    assert "Last updated:" in page and "Mar 12, 2:00 PM" in page
    assert "Current incidents" in page


def test_language_switch_is_remembered_in_a_cookie(client):
    response = client.get("/lang/en?next=/services/mail")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/services/mail")
    assert "lang=en" in response.headers["Set-Cookie"]
    # the cookie wins over the browser's French
    page = text(client.get("/", headers={"Accept-Language": "fr"}))
    assert '<html lang="en"' in page and "Current incidents" in page
    assert 'href="/lang/fr?next=/"' in page
    client.get("/lang/fr")
    assert "Incidents en cours" in text(client.get("/", headers=EN))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_language_switch_never_redirects_elsewhere(client, target):
    response = client.get("/lang/en", query_string={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] in ("/", "http://localhost/")


def test_service_page_in_french(client):
    response = client.get("/services/mail")
    assert response.status_code == 200
    page = text(response)
    assert "<h1 class=\"page-title\">Messagerie</h1>" in page
    assert "Le service refuse les connexions" in page  # the members' words
    assert "127.0.0.1" not in page and "993" not in page
    assert "Ne fonctionne pas" in page and "Fonctionne" in page
    # the chart is drawn on the server with a text alternative
    svg = re.search(r"<svg class=\"chart\".*?</svg>", page, re.DOTALL).group(0)
    assert 'role="img"' in svg and "<title id=" in svg
    assert "Temps de réponse de Messagerie sur les dernières 24 heures" in svg
    assert "médiane" in svg and svg.count("<path") == 2
    assert 'aria-current="true">24 heures' in page
    assert "Réception du courrier perturbée" in page  # its incidents
    assert "Changement de routeur" in page  # past maintenance of every service
    assert page.count("<tr><th scope=\"row\">") == 90  # the 90 days as a table


def test_service_page_ranges_and_english(client):
    page = text(client.get("/services/web?range=7d", headers=EN))
    assert "Response time of Web hosting over the last 7 days" in page
    assert 'aria-current="true">7 days' in page
    page = text(client.get("/services/web?range=90d", headers=EN))
    assert "over the last 90 days" in page
    assert "Slow web sites" in page
    # an unknown range falls back to 24 hours
    assert "over the last 24 hours" in text(client.get("/services/web?range=1y", headers=EN))


def test_unknown_service_is_a_friendly_translated_404(client):
    response = client.get("/services/nope")
    assert response.status_code == 404
    assert "Page introuvable" in text(response)
    assert "Retour à l'état de tous les services" in text(response)
    response = client.get("/services/nope", headers=EN)
    assert response.status_code == 404
    assert "Page not found" in text(response)


def test_incidents_page(client):
    page = text(client.get("/incidents"))
    assert "Incidents en cours" in page and "Incidents passés" in page
    assert page.index("Réception du courrier") < page.index("Sites web lents")
    assert "a duré 1 h et 30 min" in page
    page = text(client.get("/incidents", headers=EN))
    assert "lasted 1 hr, 30 min" in page


def test_incident_page_with_timeline_links_and_postmortem(client, ids):
    page = text(client.get(f"/incidents/{ids['open']}"))
    assert "Réception du courrier perturbée" in page
    assert "INC-2026-0007" in page
    assert "Recherche de la cause" in page and "Cause identifiée" in page
    assert page.index("Cause identifiée</span> <time") < page.index("Recherche de la cause</span> <time")
    # public links only
    assert "Configurer Thunderbird" in page and "https://forum.example.coop/t/imap/42" in page
    assert "Ticket #991" not in page and "desk.example.coop" not in page
    assert "NOTE INTERNE" not in page
    assert "2 h (en cours)" in page
    page = text(client.get(f"/incidents/{ids['resolved']}", headers=EN))
    assert "Post-mortem" in page and "What happened</h4>" in page
    assert "Resolved" in page and "1 hr, 30 min" in page


def test_postmortem_markdown_is_sanitised(client, ids):
    page = text(client.get(f"/incidents/{ids['resolved']}"))
    assert "Ce qui s&#39;est passé</h4>" in page or "Ce qui s'est passé</h4>" in page
    assert "<script" not in page.split("</head>", 1)[1].replace('<script src="/static/vigie.js" defer></script>', "")
    assert "alert('pm')" not in page


def test_unknown_incident_is_404(client):
    assert client.get("/incidents/9999").status_code == 404
    assert client.get("/incidents/abc").status_code == 404
    assert "Page not found" in text(client.get("/incidents/9999", headers=EN))


def test_maintenance_page(client):
    page = text(client.get("/maintenance"))
    assert "Aucune maintenance en cours." in page
    assert "Mise à jour de Nextcloud" in page
    assert page.index("Prévue") < page.index("Changement de routeur")
    assert "Tous les services" in page
    page = text(client.get("/maintenance", headers=EN))
    assert "Router replacement" in page and "All services" in page


def test_notice_script_never_reaches_the_page(client):
    for path in ("/", "/incidents", "/maintenance"):
        page = text(client.get(path))
        assert "alert('xss')" not in page and "alert(&#39;xss&#39;)" not in page
        assert "<script>" not in page
    assert "Ne répondez pas aux courriels" in text(client.get("/"))


def test_security_headers_and_no_outside_resources(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    page = text(response)
    # nothing loaded from another site (links to guides are fine, resources are not)
    assert not re.search(r'(src|href)="https?://[^"]+\.(js|css|woff2?)', page)
    assert "fonts.googleapis" not in page


def test_admin_link_in_footer_when_the_admin_area_exists(app, client):
    page = text(client.get("/"))
    if "admin" in app.blueprints:
        assert '<a href="/admin/">Espace bénévoles</a>' in page
    else:
        assert "/admin/" not in page


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"ok": True}


def test_database_unreadable_gives_a_503_page(seeded, clock):
    from sqlalchemy import text as sql

    from dashboard import create_app

    config, store, _ = seeded
    app = create_app(config, {"TESTING": True, "CLOCK": clock}, store=store)
    with store.engine.begin() as conn:
        conn.execute(sql("DROP TABLE service_status_changes"))
    client = app.test_client()
    response = client.get("/")
    assert response.status_code == 503
    assert "État momentanément indisponible" in text(response)
    assert "Status temporarily unavailable" in text(client.get("/incidents", headers=EN))
    assert client.get("/healthz").status_code == 503
    response = client.get("/api/v1/summary.json")
    assert response.status_code == 503 and response.get_json()["status"] == 503
