"""The assistance path's first two steps with Flask's test client: the choice of a
service, what is already known about it said first (and the member may stop there), the
description, the suggestions of a real plugin, opening one, and the answers counted."""

from __future__ import annotations

import re

from tests.dashboard.assistance.helpers import form_to, forms


def text_of(html: str) -> str:
    """The page's words, tags removed, spaces made single."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").split())


def main_of(html: str) -> str:
    return html[html.index("<main"):html.index("</main>")]


def test_the_assistance_is_a_404_and_unlinked_when_it_is_not_enabled(client):
    assert client.get("/assistance/").status_code == 404
    assert client.get("/assistance/mail/").status_code == 404
    assert "Un problème" not in client.get("/").text


def test_a_problem_is_linked_from_every_public_page(site, ids):
    client = site.client()
    for path in ("/", "/services/mail", f"/incidents/{ids['open']}", "/incidents",
                 "/maintenance", "/no-such-page", "/assistance/"):
        page = client.get(path).text
        link = re.search(r'<a class="assistance-link" href="([^"]+)"[^>]*>([^<]+)</a>', page)
        assert link is not None, path
        assert link.groups() == ("/assistance/", "Un problème ?"), path
    english = client.get("/?lang=en").text
    assert ">A problem?</a>" in english


def test_step_one_lists_the_services_as_grouped_on_the_page_then_the_categories(site):
    page = site.client().get("/assistance/")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    words = text_of(main_of(page.text))
    assert "Étape 1 sur 3 : le service" in words
    # the groups of the status page, in its order, each service with its status
    assert words.index("Hébergement") < words.index("Hébergement web") < words.index(
        "Nextcloud") < words.index("Communication") < words.index("Messagerie")
    assert "Messagerie ! Panne partielle" in words
    assert "Hébergement web ✓ Fonctionne normalement" in words
    assert words.index("Autres services") < words.index("Forum")
    assert words.index("Un autre sujet") < words.index("Mon compte") < words.index(
        "Autre chose")
    links = re.findall(r'href="(/assistance/[^"]+)"', page.text)
    assert "/assistance/mail/" in links and "/assistance/account/" in links


def test_a_known_incident_is_said_first_with_its_update_guides_and_how_to_follow_it(site, ids):
    page = site.client().get("/assistance/mail/")
    assert page.status_code == 200
    main = main_of(page.text)
    words = text_of(main)
    # first the plain words, then the incident with its latest public update and guides
    assert re.search(r"<h1[^>]*>Nous sommes au courant</h1>", main)
    assert words.index("Nous sommes au courant") < words.index(
        "Un incident touche Messagerie en ce moment : les bénévoles s'en occupent.")
    assert "Réception du courrier perturbée" in words
    assert "Le disque du serveur imap2 est plein" in words
    assert "NOTE INTERNE" not in words  # never a private update
    assert 'href="https://guides.example.coop/thunderbird"' in main
    assert "Ticket #991" not in words  # nor a volunteers' link
    assert f'href="/incidents/{ids["open"]}"' in main
    assert re.search(r'href="/(feed|history).atom"', main)
    # then the choice: stop here, or say it is something else
    assert form_to(page.text, "/assistance/mail/merci")["buttons"] == ["Oui, merci : j'attends"]
    assert 'href="/assistance/mail/decrire"' in main
    assert site.counts() == {}  # reading counts nothing


def test_a_member_who_stops_at_the_known_incident_is_counted(site):
    client = site.client()
    page = client.get("/assistance/mail/")
    form = form_to(page.text, "/merci")
    thanks = client.post(form["action"], data=form["fields"])
    assert thanks.status_code == 200
    assert "Les bénévoles s'en occupent" in text_of(thanks.text)
    assert site.counts() == {"incident_known": 1}


def test_an_incident_on_another_service_of_the_group_is_known_too(site):
    # mailing lists share the "Communication" group with mail, which has an open incident
    page = site.client().get("/assistance/lists/")
    words = text_of(main_of(page.text))
    assert "Nous sommes au courant" in words
    assert ("Un incident touche Messagerie, de la même famille que Listes de diffusion : "
            "il explique peut-être ce que vous voyez.") in words
    assert "Listes de diffusion, en ce moment : ✓ Fonctionne normalement" in words


def test_a_service_with_nothing_known_goes_straight_to_the_description(site):
    page = site.client().get("/assistance/web/")
    words = text_of(main_of(page.text))
    assert "Nous sommes au courant" not in words
    assert "Étape 2 sur 3 : ce qui se passe" in words
    assert "Hébergement web, en ce moment : ✓ Fonctionne normalement" in words
    assert "Nous ne voyons pas de problème sur Hébergement web de notre côté" in words
    form = form_to(page.text, "/assistance/web/suggestions")
    assert set(form["fields"]) == {"csrf", "title", "description"}
    # a planned maintenance (not started) is not "known"
    assert "Nous sommes au courant" not in text_of(site.client().get("/assistance/nextcloud/").text)


def test_a_category_has_no_status_and_an_unknown_choice_is_a_404(site):
    client = site.client()
    page = client.get("/assistance/account/")
    words = text_of(main_of(page.text))
    assert "Sujet : Mon compte." in words and "en ce moment" not in words
    assert client.get("/assistance/nothing-like-it/").status_code == 404
    assert client.get("/assistance/nothing-like-it/demande").status_code == 404


def describe(client, category: str, title: str, description: str):
    page = client.get(f"/assistance/{category}/decrire")
    form = form_to(page.text, "/suggestions")
    return client.post(form["action"], data={**form["fields"], "title": title,
                                             "description": description})


def test_words_that_match_a_guide_show_it_with_a_line_of_text(site):
    client = site.client()
    page = describe(client, "mail", "Thunderbird ne reçoit plus",
                    "Depuis hier, Thunderbird affiche une erreur de mot de passe.")
    assert page.status_code == 200
    main = main_of(page.text)
    words = text_of(main)
    assert "Configurer Thunderbird" in words and "Les réglages IMAP et SMTP, pas à pas." in words
    assert "Thunderbird ne reçoit plus rien" in words  # the forum thread
    assert words.index("Guides") < words.index("Configurer Thunderbird") < words.index(
        "Sur le forum") < words.index("Thunderbird ne reçoit plus rien")
    # the plugin got the member's words, the service and its group
    query = site.plugin.queries[-1]
    assert (query.category, query.service_id, query.group, query.language) == (
        "mail", "mail", "communication", "fr")
    assert "erreur de mot de passe" in query.text and query.service_name == "Messagerie"
    # each suggestion opens through a signed link, in a new tab
    opened = re.findall(r'<a id="suggestion-\d" href="(/assistance/ouvrir/[^"]+)" '
                        r'target="_blank" rel="noopener">', main)
    assert len(opened) == 2
    buttons = [f["buttons"][0] for f in forms(page.text) if "/resolu" in (f["action"] or "")]
    assert buttons == ["Ce guide a résolu mon problème",
                       "Cette discussion a résolu mon problème"]


def test_opening_a_suggestion_redirects_to_it_and_is_remembered(site):
    client = site.client()
    page = describe(client, "mail", "Thunderbird", "Thunderbird ne marche plus.")
    link = re.findall(r'href="(/assistance/ouvrir/[^"]+)"', page.text)[1]
    answer = client.get(link)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "https://forum.example.coop/t/thunderbird/7"
    cookie = client.get_cookie("vigie_assistance_opened", path="/assistance")
    assert cookie is not None and cookie.http_only
    # a link not signed here goes nowhere: never an open redirect
    assert client.get(link[:-3] + "xyz").status_code == 404
    assert client.get("/assistance/ouvrir/aHR0cHM6Ly9ldmlsLmV4YW1wbGU").status_code == 404


def test_a_guide_that_solved_the_problem_is_counted_by_its_kind(site):
    client = site.client()
    page = describe(client, "mail", "Thunderbird", "Thunderbird ne marche plus.")
    guide, thread = [f for f in forms(page.text) if "/resolu" in (f["action"] or "")]
    answer = client.post(guide["action"], data=guide["fields"])
    assert answer.status_code == 200 and "Tant mieux" in answer.text
    client.post(thread["action"], data=thread["fields"])
    assert site.counts() == {"guide_helped": 1, "forum_helped": 1}
    # an index the state never held is refused, not counted
    bad = client.post(guide["action"], data={**guide["fields"], "index": "7"})
    assert bad.status_code == 400
    assert site.counts() == {"guide_helped": 1, "forum_helped": 1}


def test_i_continue_keeps_the_words_and_is_counted(site):
    client = site.client()
    page = describe(client, "mail", "Thunderbird", "Ligne 1\nLigne 2 : « erreur »")
    go_on = form_to(page.text, "/assistance/mail/demande")
    assert go_on["buttons"] == ["Je continue : écrire aux bénévoles"]
    step3 = client.post(go_on["action"], data=go_on["fields"])
    assert step3.status_code == 200
    assert site.counts() == {"continued": 1}
    request_form = form_to(step3.text, "/assistance/envoyer")
    assert request_form["enctype"] == "multipart/form-data"
    assert request_form["fields"]["title"] == "Thunderbird"
    assert request_form["fields"]["description"] == "Ligne 1\nLigne 2 : « erreur »"
    assert {"csrf", "token", "category", "state", "pow", "name", "email", "member_id",
            "website"} <= set(request_form["fields"])
    assert request_form["fields"]["category"] == "mail"


def test_no_suggestion_leads_to_the_request_form_at_once(site):
    client = site.client()
    page = describe(client, "web", "Mon site affiche une page blanche", "Depuis ce matin.")
    assert page.status_code == 200
    words = text_of(main_of(page.text))
    assert "Nous n'avons trouvé ni guide ni discussion du forum" in words
    assert form_to(page.text, "/assistance/envoyer")["fields"]["title"] == (
        "Mon site affiche une page blanche")
    assert site.counts() == {}


def test_a_description_left_empty_is_said_next_to_its_field_with_the_text_kept(site):
    client = site.client()
    page = describe(client, "web", "  ", "Mon texte <b>gardé</b>")
    assert page.status_code == 422
    main = main_of(page.text)
    assert "<title>Erreur :" in page.text
    summary = re.search(r'<div class="error-summary" role="alert" tabindex="-1" autofocus'
                        r'.*?</div>', main, re.S).group(0)
    assert 'href="#title"' in summary and "Il y a un problème" in summary
    assert re.search(r'<input type="text" id="title" name="title" value=""[^>]*'
                     r'aria-describedby="title-hint title-error" aria-invalid="true">', main)
    assert "Mon texte &lt;b&gt;gardé&lt;/b&gt;</textarea>" in main


def test_a_title_too_long_is_refused_with_the_limit_in_words(site):
    client = site.client()
    page = describe(client, "web", "x" * 201, "Description")
    assert page.status_code == 422
    assert "Le titre est trop long : 200 caractères au plus." in text_of(page.text)
    assert 'value="' + "x" * 201 + '"' in page.text  # kept whole, to be shortened


def test_the_pages_speak_english_when_asked(site):
    client = site.client()
    page = client.get("/assistance/mail/?lang=en")
    words = text_of(main_of(page.text))
    assert "We know" in words and "An incident is going on with Mail" in words
    assert form_to(page.text, "/merci")["buttons"] == ["Yes, thanks: I will wait"]
    assert "Which service is it about?" in text_of(client.get("/assistance/?lang=en").text)


def test_the_guides_served_by_vigie_link_to_the_assistance_when_it_is_offered(tmp_path):
    from werkzeug.test import Client

    from docs_bridge.guide_pages import GuidePages

    (tmp_path / "page.md").write_text("# Un guide\n\nDu texte.\n", encoding="utf-8")
    for offered in (True, False):
        app = GuidePages([("g", tmp_path)], assistance=offered)
        page = Client(app).get("/g/page", environ_base={"SCRIPT_NAME": "/guides"}).text
        link = re.search(r'<a class="assistance-link" href="([^"]+)">([^<]+)</a>', page)
        if offered:
            assert link is not None and link.groups() == ("/assistance/", "Un problème ?")
        else:
            assert link is None
