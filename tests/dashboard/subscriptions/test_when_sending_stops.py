"""The links in mails members already hold keep working when sending stops
(``subscriptions.enabled: false``, or ``mail.host`` removed): the manage page (its
unsubscribe button) and the one-click unsubscribe of RFC 8058 work whenever the store has
the subscriber, while signing up (and confirming) answers "not offered". The dashboard is
built as ``vigie run`` and ``vigie dashboard`` build it then: without a subscription
service given (``subscriptions.enabled: false``: ``vigie run`` attaches none), or with
the running one that cannot send (no ``mail.host``)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dashboard import _load_config, create_app
from monitor.subscriptions.service import Subscriptions
from tests.dashboard import seed
from tests.dashboard.subscriptions.conftest import MAIL, Site, make_site
from tests.dashboard.subscriptions.helpers import (
    confirmed,
    csrf_of,
    main_of,
    signup,
    words,
)

NOT_OFFERED_FR = "Pas d'abonnement par e-mail ici"
NOTICE_FR = ("Ce site n'envoie pas d'e-mails sur l'état des services en ce moment : vous "
             "n'en recevrez pas, et vos choix ne peuvent pas être modifiés. Vous pouvez "
             "toujours faire effacer votre adresse.")
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@dataclass
class Stopped:
    """The site while it sent mail (the members' links were made then), and the same
    store served by a dashboard that sends none any more."""

    before: Site
    after: object  # the Flask app

    def client(self):
        return self.after.test_client()


@pytest.fixture(params=["disabled", "no-mail", "running-without-mail"])
def stopped(request, seeded_template, tmp_path, clock):
    before = make_site(seeded_template[1], tmp_path, clock)
    folder = tmp_path / "after"
    folder.mkdir()
    url = f"sqlite:///{tmp_path / 'vigie.sqlite'}"  # the same database
    path = seed.write_config(folder, url)
    extra = MAIL + "subscriptions: {enabled: false}\n" if request.param == "disabled" else ""
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    config = _load_config(path)
    # vigie run attaches a service only when subscriptions are enabled (here: no mail)
    running = (Subscriptions(config, before.store, clock=clock)
               if request.param == "running-without-mail" else None)
    after = create_app(config, {"TESTING": True, "CLOCK": clock}, store=before.store,
                       subscriptions=running)
    yield Stopped(before, after)
    before.store.dispose()


def test_signing_up_and_confirming_are_not_offered(stopped):
    client = stopped.before.client()
    assert signup(client, "bob@example.org").status_code == 200
    pending = stopped.before.confirm_token()
    after = stopped.client()
    for answer in (after.get("/abonnement/"), after.get(f"/abonnement/confirmer/{pending}"),
                   after.post(f"/abonnement/confirmer/{pending}")):
        assert answer.status_code == 404
        assert words(answer).startswith(NOT_OFFERED_FR)
    assert stopped.before.subscriber("bob@example.org").state == "pending"
    assert "/abonnement/" not in after.get("/").text  # no page links to it


def test_the_manage_link_shows_the_subscription_and_its_unsubscribe_button(stopped):
    manage = confirmed(stopped.before, stopped.before.client())
    client = stopped.client()
    page = client.get(f"/abonnement/gerer/{manage}")
    assert page.status_code == 200
    said = words(page)
    assert said.startswith("Votre abonnement Adresse : alice@example.org")
    assert NOTICE_FR in said
    main = main_of(page.text)
    assert "Enregistrer mes modifications" not in main and 'name="csrf"' not in main
    assert f'action="/abonnement/u/{manage}"' in main
    assert 'name="List-Unsubscribe" value="One-Click"' in main
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    english = client.get(f"/abonnement/gerer/{manage}?lang=en")
    assert "This site sends no e-mails about the services at the moment" in words(english)
    assert f'action="/abonnement/u/{manage}?lang=en"' in main_of(english.text)


def test_a_change_is_refused_and_nothing_changes(stopped):
    before = stopped.before
    client = before.client()
    manage = confirmed(before, client)
    form = client.get(f"/abonnement/gerer/{manage}")  # while it was offered
    after = stopped.client()
    answer = after.post(f"/abonnement/gerer/{manage}", data={
        "csrf": csrf_of(form.text), "scope": "everything", "language": "en"})
    assert answer.status_code == 409
    assert NOTICE_FR in words(answer)
    row = before.subscriber()
    assert (row.everything, row.language) == (False, "fr")


def test_one_click_unsubscribe_and_the_manage_page_button_delete_the_subscriber(stopped):
    before = stopped.before
    alice = confirmed(before, before.client())
    bob = confirmed(before, before.client(), "bob@example.org")
    client = stopped.client()
    # the link opened in a browser: a page with the button
    opened = client.get(f"/abonnement/u/{alice}")
    assert opened.status_code == 200 and 'value="One-Click"' in opened.text
    # a mail client's POST, alone: no cookie, no CSRF field
    done = stopped.after.test_client().post(f"/abonnement/u/{alice}", data=ONE_CLICK)
    assert done.status_code == 200
    assert words(done).startswith("Désabonnement effectué Cette adresse ne recevra plus")
    assert 'href="/abonnement/"' not in main_of(done.text)  # signing up is not offered
    assert before.subscriber() is None
    # a retry of the mail provider: the same answer
    again = stopped.after.test_client().post(f"/abonnement/u/{alice}", data=ONE_CLICK)
    assert again.status_code == 200 and main_of(again.text) == main_of(done.text)
    # the manage page's button posts the same
    assert client.post(f"/abonnement/u/{bob}", data=ONE_CLICK).status_code == 200
    assert before.subscriber("bob@example.org") is None
    # links to a subscriber the store no longer has: the "not offered" page
    for path in (f"/abonnement/gerer/{alice}", f"/abonnement/u/{alice}"):
        gone = client.get(path)
        assert gone.status_code == 404 and words(gone).startswith(NOT_OFFERED_FR)
    # a POST without One-Click is still refused
    assert client.post(f"/abonnement/u/{alice}", data={}).status_code == 400
