"""``/abonnement/``: the form (grouped as on the status page, fieldsets and legends, French
first, English by ``?lang=en``), its one answer whatever the address's state, its CSRF
protection, its rate limits, and what it refuses (each with a message beside its field)."""

from __future__ import annotations

import re

from tests.dashboard.subscriptions.helpers import csrf_of, main_of, signup, text_of, words

#: the answer's words, whatever the address's state
SENT_FR = ("Consultez votre messagerie Nous envoyons un message à alice@example.org. Pour "
           "commencer votre abonnement, ouvrez-le et suivez son lien dans les 2 jours. Rien "
           "d'autre ne vous est envoyé avant.")


def test_the_form_shows_the_services_grouped_as_on_the_status_page(site):
    page = site.client().get("/abonnement/")
    assert page.status_code == 200
    main = main_of(page.text)
    # the groups of the status page in its order, each a fieldset with its legend, then the
    # services without a group
    legends = re.findall(r"<legend>([^<]+)</legend>", main)
    assert legends == ["Quels services ?", "Hébergement", "Communication", "Autres services",
                       "Langue des e-mails"]
    services = re.findall(r'name="service" value="(\w+)"', main)
    assert services == ["web", "nextcloud", "mail", "lists", "forum"]
    assert re.findall(r'name="group" value="(\w+)"', main) == ["hebergement", "communication"]
    # every input has its label
    for ident in re.findall(r'<input type="(?:checkbox|radio|email)" id="([\w-]+)"', main):
        assert f'<label for="{ident}"' in main, ident
    # all services by default, the page's language for the mails
    assert re.search(r'id="scope-all" name="scope" value="all" checked', main)
    assert re.search(r'id="language-fr" name="language" value="fr" checked', main)
    assert 'name="csrf"' in main
    assert page.headers["Cache-Control"] == "no-store"
    assert "vigie_subscriptions=" in page.headers["Set-Cookie"]
    assert "Path=/abonnement" in page.headers["Set-Cookie"]


def test_in_english_the_form_and_its_answer_keep_the_language_of_the_link(site):
    client = site.client()
    page = client.get("/abonnement/?lang=en")
    assert "Subscribe by e-mail" in words(page) and "Which services?" in words(page)
    assert re.search(r'id="language-en" name="language" value="en" checked', page.text)
    # the form posts back to the English page
    assert 'action="/abonnement/?lang=en"' in page.text
    answer = signup(client, language="en", query="?lang=en")
    assert answer.status_code == 200
    assert words(answer).startswith("Check your mailbox We are sending a message to "
                                    "alice@example.org.")
    assert site.subscriber().language == "en"


def test_an_incident_link_ticks_its_services_in_advance(site):
    main = main_of(site.client().get("/abonnement/?service=mail&service=nope").text)
    assert re.search(r'id="scope-chosen" name="scope" value="chosen" checked', main)
    assert re.findall(r'name="service" value="(\w+)" checked', main) == ["mail"]


def test_the_answer_is_the_same_whatever_the_state_of_the_address(site):
    client = site.client()
    new = signup(client)
    assert new.status_code == 200
    assert words(new).startswith(SENT_FR), words(new)
    pending = signup(client)
    token = site.confirm_token()
    assert client.post(f"/abonnement/confirmer/{token}").status_code == 200
    already = signup(client)
    # the same page, word for word: nobody learns which addresses are subscribed
    assert main_of(new.text) == main_of(pending.text) == main_of(already.text)
    assert [job.kind for job in site.jobs()] == ["confirm", "confirm", "confirm"]
    # the last one carries no confirmation link: the manage link of a confirmed address
    assert site.jobs()[-1].token is None


def test_the_choice_reaches_the_service(site):
    client = site.client()
    assert signup(client, services=("mail", "lists"), groups=("hebergement",),
                  language="en").status_code == 200
    row = site.subscriber()
    assert (row.state, row.language, row.everything) == ("pending", "en", False)
    assert (row.services, row.groups) == (["mail", "lists"], ["hebergement"])
    assert signup(client, "bob@example.org", scope="all", services=()).status_code == 200
    assert site.subscriber("bob@example.org").everything


def test_a_form_without_the_cookie_is_refused_and_nothing_is_queued(site):
    client = site.client()
    field = csrf_of(client.get("/abonnement/").text)
    stranger = site.app.test_client()  # another browser: no cookie
    answer = stranger.post("/abonnement/", data={
        "csrf": field, "email": "alice@example.org", "scope": "all", "language": "fr"})
    assert answer.status_code == 400
    assert "Votre navigateur n'a pas renvoyé le cookie de ce site" in words(answer)
    # the member's address is kept in the form shown again
    assert 'value="alice@example.org"' in answer.text
    forged = signup(client, csrf="forged")
    assert forged.status_code == 400
    assert "Ce formulaire ne vient pas de ce site" in words(forged)
    assert site.subscriber() is None and site.jobs() == []


def test_a_form_posted_from_another_site_is_refused(site):
    answer = signup(site.client(), headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert "Ce formulaire ne vient pas de ce site" in words(answer)
    assert site.subscriber() is None
    # this site's own origin is fine
    assert signup(site.client(), headers={"Origin": "http://localhost"}).status_code == 200


def test_over_the_rate_limit_a_readable_429(site_with):
    from tests.dashboard.subscriptions.conftest import MAIL

    site = site_with(MAIL + "subscriptions: {per_address_per_hour: 2}\n")
    client = site.client()
    assert signup(client).status_code == 200
    assert signup(client).status_code == 200
    refused = signup(client)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "3600"
    said = words(refused)
    assert said.startswith("Trop de demandes")
    assert "Réessayez dans une heure" in said or "dans une heure" in said
    assert "Retour à la page d'abonnement" in said
    assert len(site.jobs()) == 2
    english = signup(client, query="?lang=en")
    assert english.status_code == 429 and words(english).startswith("Too many requests")


def test_the_client_limit_counts_a_visitors_own_address_never_a_shared_proxys(site_with):
    from tests.dashboard.subscriptions.conftest import MAIL

    site = site_with(MAIL + "subscriptions: {per_client_per_hour: 1}\n")
    # behind nginx without a trusted X-Forwarded-For every member comes from 127.0.0.1
    proxied = site.client()
    for n in range(3):
        assert signup(proxied, f"m{n}@example.org").status_code == 200
    own = site.app.test_client()
    own.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert signup(own, "own1@example.org").status_code == 200
    assert signup(own, "own2@example.org").status_code == 429
    assert len(site.jobs()) == 4


def test_every_problem_is_said_beside_its_field_and_in_the_summary(site):
    client = site.client()
    answer = signup(client, email="", scope="chosen", services=(), language="de")
    assert answer.status_code == 400
    main = main_of(answer.text)
    summary = re.findall(r'<li><a href="#(\w+)">', main)
    assert summary == ["email", "choice", "language"]
    for name in summary:
        assert f'id="{name}-error"' in main
    assert re.search(r'<input type="email" id="email"[^>]*aria-describedby="email-hint '
                     r'email-error"[^>]*aria-invalid="true"', main)
    assert re.search(r'<fieldset[^>]*id="choice"[^>]*aria-describedby="choice-hint '
                     r'choice-error"', main)
    assert answer.text.count("<title>Erreur :") == 1
    assert site.jobs() == []


def test_all_services_with_boxes_ticked_is_asked_again(site):
    answer = signup(site.client(), scope="all", services=("mail",))
    assert answer.status_code == 400
    assert "Vous avez choisi « tous les services » et coché" in words(answer)
    # shown as the member left it
    main = main_of(answer.text)
    assert re.search(r'value="all" checked', main)
    assert re.findall(r'name="service" value="(\w+)" checked', main) == ["mail"]


def test_a_service_not_on_the_page_is_refused(site):
    answer = signup(site.client(), services=("mail", "../etc"))
    assert answer.status_code == 400
    assert "Un service choisi n'est plus sur la page d'état" in words(answer)
    assert site.subscriber() is None


def test_hostile_addresses_are_refused_with_a_message(site):
    client = site.client()
    for hostile, message in [
            ("alice\x00@example.org", "caractères invisibles ou de contrôle"),
            ("alice@\u202egro.elpmaxe", "caractères invisibles ou de contrôle"),
            ("a" * 5000 + "@example.org", "trop longue : 254 caractères au plus"),
            ("pas une adresse", "ne semble pas correcte")]:
        answer = signup(client, email=hostile)
        assert answer.status_code == 400, hostile[:40]
        assert message in words(answer), (hostile[:40], words(answer))
    assert site.subscriber() is None and site.jobs() == []


def test_a_body_too_large_is_refused_before_it_is_read(site):
    client = site.client()
    field = csrf_of(client.get("/abonnement/").text)
    answer = client.post("/abonnement/", data={"csrf": field, "email": "x" * 100_000})
    assert answer.status_code == 413
    assert "Ce formulaire est trop gros" in words(answer)


def test_what_the_member_typed_is_escaped(site):
    client = site.client()
    answer = signup(client, email='<b>"x"</b>@example.org')
    assert answer.status_code == 200
    assert "<b>" not in main_of(answer.text)
    assert "&lt;b&gt;&#34;x&#34;&lt;/b&gt;@example.org" in answer.text
    refused = signup(client, email='<script>alert(1)</script>', services=())
    assert refused.status_code == 400
    assert "<script>alert" not in refused.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in refused.text


def test_a_body_sent_without_its_length_is_read_no_further_than_the_limit(site):
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    client = site.client()
    form = client.get("/abonnement/")
    field = csrf_of(form.text)
    cookie = client.get_cookie("vigie_subscriptions", path="/abonnement").value
    body = f"csrf={field}&scope=all&language=fr&email=".encode() + b"x" * 100_000
    environ = EnvironBuilder(path="/abonnement/", method="POST", data=body, headers={
        "Cookie": f"vigie_subscriptions={cookie}"},
        content_type="application/x-www-form-urlencoded").get_environ()
    # sent in chunks: the length is known to nobody in advance
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    body_parts, status, _headers = run_wsgi_app(site.app, environ, buffered=True)
    page = b"".join(body_parts).decode()
    # what was read (64 KiB) ends inside the address: too long, refused
    assert status.startswith("400")
    assert "trop longue : 254 caractères au plus" in text_of(main_of(page))
    assert site.subscriber() is None
