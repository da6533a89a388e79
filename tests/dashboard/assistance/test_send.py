"""``POST /assistance/envoyer`` with Flask's test client against the core's real service:
a request with real screenshots gets a reference, a double submit one request, and every
refusal a 4xx page a person understands with their words kept (never their files)."""

from __future__ import annotations

import io
import json
import re

from sqlalchemy import select, update

from monitor.assistance.models import AssistanceRow
from tests.dashboard.assistance.helpers import form_to, has_exif, jpeg_with_gps, png
from tests.dashboard.assistance.test_steps import describe, main_of, text_of

MEMBER = {"name": "Alice Martin", "email": "alice@example.org", "member_id": "m-42",
          "consent": "on"}


def request_form(client, category: str = "web") -> dict:
    """The fields of the request form as served (step 3 reached by its plain link)."""
    page = client.get(f"/assistance/{category}/demande")
    assert page.status_code == 200
    return form_to(page.text, "/assistance/envoyer")["fields"]


def post(client, fields: dict, files=(), **headers):
    data = dict(fields)
    data["screenshots"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post("/assistance/envoyer", data=data, content_type="multipart/form-data",
                       headers=headers)


def filled(client, category: str = "web", **changes) -> dict:
    fields = {**request_form(client, category), "title": "Mon site est lent",
              "description": "La page met 30 s à s'afficher depuis ce matin.", **MEMBER}
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def rows(site) -> list[AssistanceRow]:
    with site.store.session() as session:
        return list(session.scalars(select(AssistanceRow)))


def leftovers(site) -> list:
    """Files under the assistance folder (the incoming spool included)."""
    root = site.data_dir / "assistance"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_request_with_two_real_screenshots_gets_a_reference(site):
    client = site.client()
    fields = filled(client)
    answer = post(client, fields, [("capture.png", png()), ("photo.jpg", jpeg_with_gps())],
                  **{"User-Agent": "Mozilla/5.0 (Android 14) Test"})
    assert answer.status_code == 303, answer.text
    page = client.get(answer.headers["Location"])
    assert page.status_code == 200
    words = text_of(main_of(page.text))
    reference = re.search(r'<strong class="reference" id="reference">(DEM-20260312-\w{4})<',
                          page.text).group(1)
    assert "Votre demande est bien reçue" in words and "Et maintenant ?" in words
    assert "Votre demande part vers les bénévoles du support." in words
    [row] = rows(site)
    assert row.reference == reference and row.state == "received"
    assert (row.category, row.title, row.name, row.email, row.member_id, row.screenshots) == (
        "web", "Mon site est lent", "Alice Martin", "alice@example.org", "m-42", 2)
    payload = json.loads(row.payload)["data"]
    assert payload["user_agent"] == "Mozilla/5.0 (Android 14) Test"
    assert payload["language"] == "fr"
    # the screenshots were re-encoded: no EXIF (no GPS position, no device) reaches the desk
    kept = [shot["path"] for shot in payload["screenshots"]]
    assert [s["filename"] for s in payload["screenshots"]] == ["capture.png", "photo.jpg"]
    for path in kept:
        with open(path, "rb") as handle:
            assert not has_exif(handle.read()), path
    assert leftovers(site) == sorted(__import__("pathlib").Path(p) for p in kept)
    assert site.counts() == {"sent": 1}


def test_the_request_says_which_suggestions_were_proposed_and_opened(site):
    client = site.client()
    page = describe(client, "mail", "Thunderbird ne reçoit plus", "Erreur de mot de passe.")
    client.get(re.findall(r'href="(/assistance/ouvrir/[^"]+)"', page.text)[1])
    go_on = form_to(page.text, "/assistance/mail/demande")
    step3 = client.post(go_on["action"], data=go_on["fields"])
    fields = {**form_to(step3.text, "/assistance/envoyer")["fields"], **MEMBER}
    assert post(client, fields).status_code == 303
    [row] = rows(site)
    suggestions = json.loads(row.payload)["data"]["suggestions"]
    assert [(s["kind"], s["title"], s["opened"]) for s in suggestions] == [
        ("guide", "Configurer Thunderbird", False),
        ("forum", "Thunderbird ne reçoit plus rien", True)]
    assert site.counts() == {"continued": 1, "sent": 1}


def test_a_double_submit_gives_one_request_and_the_same_reference(site):
    client = site.client()
    fields = filled(client)
    first = post(client, fields, [("capture.png", png())])
    second = post(client, fields, [("capture.png", png())])
    assert first.status_code == second.status_code == 303
    one = client.get(first.headers["Location"]).text
    two = client.get(second.headers["Location"]).text
    ref = re.compile(r'id="reference">([^<]+)<')
    assert ref.search(one).group(1) == ref.search(two).group(1)
    assert "Cette demande avait déjà été envoyée" in text_of(two)
    assert len(rows(site)) == 1
    assert len(leftovers(site)) == 1  # the second copy of the screenshot went
    assert site.counts() == {"sent": 1, "duplicate": 1}


def test_a_request_held_by_a_desk_that_is_down_says_it_was_received(site):
    client = site.client()
    answer = post(client, filled(client))
    with site.store.write_session() as session, session.begin():
        session.execute(update(AssistanceRow).values(state="held"))
    words = text_of(main_of(client.get(answer.headers["Location"]).text))
    assert "Votre demande est bien reçue" in words
    assert "Le support ne peut pas être joint en ce moment. Votre demande est gardée" in words


def test_the_receipt_page_needs_its_signed_address(site):
    assert site.client().get("/assistance/recu/DEM-20260312-ABCD").status_code == 404


def test_missing_fields_are_said_each_at_its_field_and_the_words_are_kept(site):
    client = site.client()
    fields = filled(client, name="", email="alice.example.org", consent=None,
                    description="Mon texte\n« gardé »")
    answer = post(client, fields, [("capture.png", png())])
    assert answer.status_code == 422
    main = main_of(answer.text)
    words = text_of(main)
    assert "Il y a 3 problèmes" in words
    summary = re.search(r'<div class="error-summary".*?</div>', main, re.S).group(0)
    assert re.findall(r'href="#(\w+)"', summary) == ["name", "email", "consent"]
    assert "Cette adresse e-mail ne semble pas correcte" in words
    assert 'value="alice.example.org"' in main and "Mon texte\n« gardé »</textarea>" in main
    # the same form, with the same token, can be sent again once corrected
    again = form_to(answer.text, "/assistance/envoyer")["fields"]
    assert again["token"] == fields["token"]
    assert leftovers(site) == [] and rows(site) == []  # the file was not kept
    fixed = post(client, {**again, "name": "Alice", "email": "alice@example.org",
                          "consent": "on"})
    assert fixed.status_code == 303
    assert site.counts() == {"refused": 1, "sent": 1}


def test_a_file_that_is_not_an_image_is_refused_by_name_and_nothing_is_kept(site):
    client = site.client()
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    answer = post(client, filled(client), [("capture.png", png()), ("facture.png", pdf)])
    assert answer.status_code == 422
    main = main_of(answer.text)
    assert "facture.png" in text_of(main)
    assert re.search(r'<p class="field-message" id="screenshots-error">', main)
    assert "Rien n'a été gardé : choisissez à nouveau vos captures." in text_of(main)
    assert "La page met 30 s" in main  # the words are kept
    assert leftovers(site) == [] and rows(site) == []
    assert site.counts() == {"refused": 1}


def test_a_body_over_the_limit_is_refused_before_it_is_read(site_with):
    site = site_with("  screenshots: {max_file_size: 10240, max_total_size: 20480}\n")
    client = site.client()
    fields = filled(client)
    big = b"x" * (2 * 1024 * 1024)
    answer = post(client, fields, [("big.png", big)])
    assert answer.status_code == 413
    words = text_of(main_of(answer.text))
    assert "bouton « Précédent »" in words and "Traceback" not in answer.text
    assert leftovers(site) == [] and rows(site) == []


def test_the_form_needs_its_cookie_and_its_csrf_field(site):
    client = site.client()
    fields = filled(client)
    # another browser (no cookie) posting this page's fields
    stranger = site.app.test_client()
    answer = post(stranger, fields)
    assert answer.status_code == 400
    words = text_of(main_of(answer.text))
    assert "Votre navigateur n'a pas renvoyé le cookie de ce site" in words
    assert "La page met 30 s" in answer.text  # the words are kept
    # a forged field
    answer = post(client, {**fields, "csrf": "forged"})
    assert answer.status_code == 400
    assert "Ce formulaire ne vient pas de ce site" in text_of(answer.text)
    # a post from another site (its Origin), even with the right field
    answer = post(client, fields, Origin="https://evil.example")
    assert answer.status_code == 403
    assert rows(site) == []
    assert site.counts() == {"refused": 3}
    # the page as served, from this site, is accepted
    assert post(client, fields, Origin="http://localhost").status_code == 303


def test_the_other_forms_need_their_csrf_field_too(site):
    client = site.client()
    page = client.get("/assistance/mail/")
    form = form_to(page.text, "/merci")
    answer = client.post(form["action"], data={**form["fields"], "csrf": "x"})
    assert answer.status_code == 400 and site.counts() == {}
    page = client.get("/assistance/web/decrire")
    form = form_to(page.text, "/suggestions")
    answer = site.app.test_client().post(form["action"], data={
        **form["fields"], "title": "Titre", "description": "Texte gardé"})
    assert answer.status_code == 400
    assert "Texte gardé</textarea>" in answer.text


def test_the_honeypot_refuses_what_a_machine_filled_in(site):
    client = site.client()
    answer = post(client, filled(client, website="https://spam.example"))
    assert answer.status_code == 400
    assert "Ce formulaire n'a pas pu être envoyé" in text_of(answer.text)
    assert rows(site) == [] and site.counts() == {"refused": 1}


def test_a_forged_or_foreign_state_is_refused_and_a_fresh_form_given(site):
    client = site.client()
    fields = filled(client)
    other = filled(client)
    answer = post(client, {**fields, "token": other["token"]})
    assert answer.status_code == 400
    again = form_to(answer.text, "/assistance/envoyer")["fields"]
    assert again["token"] not in (fields["token"], other["token"])
    assert again["title"] == "Mon site est lent"
    assert post(client, {**fields, "category": "lists"}).status_code == 400
    assert post(client, {**fields, "category": "nothing"}).status_code == 400
    assert rows(site) == []


def test_the_rate_limit_answers_429_with_the_words_kept(site_with):
    site = site_with("  limits: {per_email: 1}\n")
    client = site.client()
    assert post(client, filled(client)).status_code == 303
    answer = post(client, filled(client, description="Une seconde demande."))
    assert answer.status_code == 429
    words = text_of(main_of(answer.text))
    assert "Trop de demandes ont été envoyées" in words
    assert "Une seconde demande." in answer.text
    assert len(rows(site)) == 1
    assert site.counts() == {"sent": 1, "refused": 1}


def test_the_address_limit_counts_a_visitors_own_address_never_a_shared_proxys(site_with):
    site = site_with("  limits: {per_address: 1}\n")
    # behind nginx without a trusted X-Forwarded-For every member comes from 127.0.0.1:
    # counting it would let one sender lock everybody out, so only the e-mail is counted
    proxied = site.client()
    assert post(proxied, filled(proxied, email="a@exemple.coop")).status_code == 303
    assert post(proxied, filled(proxied, email="b@exemple.coop")).status_code == 303
    # a visitor's own address is counted
    own = site.app.test_client()
    own.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert post(own, filled(own, email="c@exemple.coop")).status_code == 303
    refused = post(own, filled(own, email="d@exemple.coop"))
    assert refused.status_code == 429
    assert "Trop de demandes ont été envoyées" in text_of(main_of(refused.text))
    assert len(rows(site)) == 3


def test_the_screenshot_limits_are_said_in_words(site, site_with):
    words = text_of(main_of(site.client().get("/assistance/web/demande").text))
    assert ("Jusqu'à 5 images (PNG, JPEG ou WebP), 5 Mo chacune au plus, 15 Mo en tout."
            in words.replace("\u202f", " ").replace("\xa0", " "))
    other = site_with("  screenshots: {max_files: 1, max_file_size: 524288, "
                      "max_total_size: 524288, formats: [png]}\n")
    english = text_of(main_of(other.client().get("/assistance/web/demande?lang=en").text))
    assert "At most 1 image (PNG), of 0.5 MB at most." in english
    none = site_with("  screenshots: {max_files: 0}\n")
    assert 'type="file"' not in none.client().get("/assistance/web/demande").text


def test_the_receipt_mail_is_announced_only_when_mail_is_set(site, site_with):
    client = site.client()
    done = client.get(post(client, filled(client)).headers["Location"]).text
    assert "Vous allez recevoir un e-mail" not in done
    mailed = site_with("mail: {host: 127.0.0.1, port: 2525, security: none, "
                       "from_address: \"support@example.coop\"}\n")
    client = mailed.client()
    done = client.get(post(client, filled(client)).headers["Location"]).text
    assert "Vous allez recevoir un e-mail qui la confirme, avec cette référence." in done


def test_a_page_left_open_too_long_is_refused_with_the_words_kept(site, clock):
    client = site.client()
    fields = filled(client)
    clock.advance(12 * 3600 + 60)  # past the CSRF field's half day
    answer = post(client, fields)
    assert answer.status_code == 400
    assert "Cette page a été ouverte il y a trop longtemps" in text_of(answer.text)
    assert "La page met 30 s" in answer.text
    again = form_to(answer.text, "/assistance/envoyer")["fields"]
    assert again["token"] == fields["token"]  # the state is good for a day
    assert post(client, {**again, **MEMBER}).status_code == 303
    fields = filled(client)
    clock.advance(24 * 3600 + 60)  # past the form state's day as well
    answer = post(client, fields)
    assert answer.status_code == 400
    again = form_to(answer.text, "/assistance/envoyer")["fields"]
    assert again["token"] != fields["token"] and again["title"] == "Mon site est lent"
    assert post(client, {**again, **MEMBER}).status_code == 303
    assert len(rows(site)) == 2


def test_the_public_address_is_this_site_for_the_origin_check(site):
    site.app.config["PUBLIC_URL"] = "https://etat.example.coop"
    client = site.client()
    fields = filled(client)
    assert post(client, fields, Origin="https://etat.example.coop.evil.example").status_code == 403
    assert post(client, fields, Origin="https://etat.example.coop").status_code == 303
