"""The links of the mails: confirmation (a button; unknown, used and expired links get one
page with a way to start again), the manage page (services, language, CSRF), and the
one-click unsubscribe of RFC 8058 (a plain POST with no cookie, no CSRF, no redirect)."""

from __future__ import annotations

import re

import pytest

from tests.dashboard.subscriptions.helpers import (
    confirmed,
    csrf_of,
    main_of,
    signup,
    words,
)

UNKNOWN_FR = "Ce lien ne fonctionne plus"


def test_a_confirmation_link_shows_a_button_which_confirms(site):
    client = site.client()
    signup(client)
    token = site.confirm_token()
    # opening the link (a mail scanner does) confirms nothing
    opened = client.get(f"/abonnement/confirmer/{token}")
    assert opened.status_code == 200
    assert words(opened).startswith("Confirmez votre abonnement")
    assert f'action="/abonnement/confirmer/{token}"' in opened.text
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    assert opened.headers["Cache-Control"] == "no-store"
    assert site.subscriber().state == "pending"
    # the button; from another browser too (the link itself is the secret)
    done = site.app.test_client().post(f"/abonnement/confirmer/{token}")
    assert done.status_code == 200
    said = words(done)
    assert said.startswith("Votre abonnement est confirmé alice@example.org recevra")
    assert "Vous suivez : Messagerie." in said
    row = site.subscriber()
    assert row.state == "confirmed"
    assert f'href="/abonnement/gerer/{row.manage_token}"' in done.text


def test_a_used_unknown_or_expired_link_gets_one_page_with_a_way_to_start_again(site):
    client = site.client()
    signup(client)
    token = site.confirm_token()
    assert client.post(f"/abonnement/confirmer/{token}").status_code == 200
    used = client.post(f"/abonnement/confirmer/{token}")
    unknown = client.post("/abonnement/confirmer/" + "A" * 43)
    malformed = client.get("/abonnement/confirmer/<script>")
    signup(client, "bob@example.org")
    late = site.confirm_token()
    site.clock.advance(48 * 3600 + 1)
    expired = client.post(f"/abonnement/confirmer/{late}")
    for answer in (used, unknown, malformed, expired):
        assert answer.status_code == 404
        assert words(answer).startswith(UNKNOWN_FR)
        assert 'href="/abonnement/"' in main_of(answer.text)
    assert main_of(used.text) == main_of(unknown.text) == main_of(expired.text)
    assert site.subscriber("bob@example.org").state == "pending"


def test_a_confirmation_posted_from_another_site_is_refused(site):
    client = site.client()
    signup(client)
    token = site.confirm_token()
    answer = client.post(f"/abonnement/confirmer/{token}",
                         headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert site.subscriber().state == "pending"


def test_the_manage_page_changes_services_and_language(site):
    client = site.client()
    manage = confirmed(site, client)
    page = client.get(f"/abonnement/gerer/{manage}")
    assert page.status_code == 200
    main = main_of(page.text)
    assert "Adresse : alice@example.org" in words(page)
    assert re.findall(r'name="service" value="(\w+)" checked', main) == ["mail"]
    answer = client.post(f"/abonnement/gerer/{manage}", data={
        "csrf": csrf_of(page.text), "scope": "chosen", "service": ["web", "forum"],
        "group": ["communication"], "language": "en"})
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/abonnement/gerer/{manage}?saved=1"
    row = site.subscriber()
    assert (row.language, row.services, row.groups) == ("en", ["web", "forum"],
                                                        ["communication"])
    saved = client.get(answer.headers["Location"])
    said = words(saved)
    assert "Vos modifications sont enregistrées." in said
    assert "Vous suivez : Hébergement web, Communication (tout le groupe), Forum." in said


def test_the_manage_form_needs_its_csrf_field(site):
    client = site.client()
    manage = confirmed(site, client)
    stranger = site.app.test_client()
    answer = stranger.post(f"/abonnement/gerer/{manage}", data={
        "csrf": "x", "scope": "all", "language": "en"})
    assert answer.status_code == 400
    foreign = client.post(f"/abonnement/gerer/{manage}", headers={
        "Origin": "https://evil.example"}, data={
        "csrf": csrf_of(client.get(f"/abonnement/gerer/{manage}").text), "scope": "all",
        "language": "en"})
    assert foreign.status_code == 403
    assert (site.subscriber().language, site.subscriber().everything) == ("fr", False)


def test_an_unknown_manage_link_gets_the_page_to_start_again(site):
    answer = site.client().get("/abonnement/gerer/" + "B" * 43)
    assert answer.status_code == 404
    assert words(answer).startswith(UNKNOWN_FR)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_unsubscribe_is_a_plain_post_with_no_cookie(site, encoding):
    manage = confirmed(site, site.client())
    # a mail provider's POST (RFC 8058): no cookie, no CSRF field, no Origin
    mailer = site.app.test_client(use_cookies=False)
    answer = mailer.post(f"/abonnement/u/{manage}", data={"List-Unsubscribe": "One-Click"},
                         content_type=("multipart/form-data" if encoding == "multipart"
                                       else "application/x-www-form-urlencoded"))
    assert answer.status_code == 200  # no redirect
    assert "Location" not in answer.headers and "Set-Cookie" not in answer.headers
    assert words(answer).startswith("Désabonnement effectué")
    assert site.subscriber() is None
    # again (a provider's retry, a second click): the same answer
    again = mailer.post(f"/abonnement/u/{manage}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and main_of(again.text) == main_of(answer.text)


def test_the_one_click_link_opened_in_a_browser_shows_one_button(site):
    client = site.client()
    manage = confirmed(site, client)
    page = client.get(f"/abonnement/u/{manage}?lang=en")
    assert page.status_code == 200
    assert words(page).startswith("Unsubscribe")
    main = main_of(page.text)
    assert main.count("<button") == 1
    assert f'action="/abonnement/u/{manage}?lang=en"' in main
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in main
    assert site.subscriber() is not None  # a GET unsubscribes nobody
    answer = client.post(f"/abonnement/u/{manage}?lang=en",
                         data={"List-Unsubscribe": "One-Click"})
    assert words(answer).startswith("You are unsubscribed")
    assert site.subscriber() is None


def test_a_post_without_the_one_click_body_unsubscribes_nobody(site):
    manage = confirmed(site, site.client())
    mailer = site.app.test_client(use_cookies=False)
    for data in ({}, {"List-Unsubscribe": "yes"}):
        answer = mailer.post(f"/abonnement/u/{manage}", data=data)
        assert answer.status_code == 400
        assert "List-Unsubscribe=One-Click" in words(answer)
    assert site.subscriber() is not None


def test_the_manage_page_unsubscribes_through_the_one_click_address(site):
    client = site.client()
    manage = confirmed(site, client)
    main = main_of(client.get(f"/abonnement/gerer/{manage}").text)
    assert f'<form method="post" action="/abonnement/u/{manage}">' in main
    assert client.post(f"/abonnement/u/{manage}",
                       data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert client.get(f"/abonnement/gerer/{manage}").status_code == 404


def test_the_link_of_an_english_mail_keeps_english_and_the_switch_still_works(site):
    client = site.client()
    manage = confirmed(site, client, language="en")
    page = client.get(f"/abonnement/gerer/{manage}?lang=en")
    assert words(page).startswith("Your subscription")
    assert page.headers["X-Robots-Tag"] == "noindex"
    # the form answers in English; the switch goes back to the address without ?lang=
    assert f'action="/abonnement/gerer/{manage}?lang=en"' in page.text
    assert f'href="/lang/fr?next=/abonnement/gerer/{manage}"' in page.text
    saved = client.post(f"/abonnement/gerer/{manage}?lang=en", data={
        "csrf": csrf_of(page.text), "scope": "all", "language": "en"})
    assert saved.headers["Location"] == f"/abonnement/gerer/{manage}?saved=1&lang=en"
    assert "Your changes are saved." in words(client.get(saved.headers["Location"]))
