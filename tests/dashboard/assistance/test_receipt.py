"""The page after sending: a form sent again gets its reference (even at the rate limit),
and the request's state is said as it is, in French and in English."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from monitor.assistance.models import AssistanceRow
from tests.dashboard.assistance.helpers import png
from tests.dashboard.assistance.test_send import filled, leftovers, post, rows
from tests.dashboard.assistance.test_steps import main_of, text_of

REFERENCE = re.compile(r'id="reference">([^<]+)<')


def test_at_the_limit_a_form_sent_again_gets_its_reference_and_a_new_one_429(site_with):
    site = site_with("  limits: {per_email: 1}\n")
    client = site.client()
    fields = filled(client)
    first = post(client, fields, [("capture.png", png())])
    assert first.status_code == 303
    reference = REFERENCE.search(client.get(first.headers["Location"]).text).group(1)
    # the member is at their limit now: the same form sent again is no new request
    again = post(client, fields, [("capture.png", png())])
    assert again.status_code == 303, text_of(main_of(again.text))
    page = client.get(again.headers["Location"]).text
    assert REFERENCE.search(page).group(1) == reference
    assert "Cette demande avait déjà été envoyée" in text_of(main_of(page))
    # a new form is a new request: refused at the limit
    other = post(client, filled(client, description="Une seconde demande."))
    assert other.status_code == 429
    assert "Trop de demandes ont été envoyées" in text_of(main_of(other.text))
    assert len(rows(site)) == 1
    assert len(leftovers(site)) == 1  # the resent screenshot was not kept
    assert site.counts() == {"sent": 1, "duplicate": 1, "refused": 1}


#: state → (French, English) of what the page says happens to the request
WORDS = {
    "received": ("Votre demande part vers les bénévoles du support.",
                 "Your request is on its way to the support volunteers."),
    "held": ("Le support ne peut pas être joint en ce moment. Votre demande est gardée et "
             "lui parviendra dès son retour : vous n'avez rien à refaire.",
             "The support desk cannot be reached right now. Your request is kept and will "
             "reach it as soon as it is back: you have nothing to do again."),
    "delivered": ("Votre demande est arrivée chez les bénévoles du support.",
                  "Your request has reached the support volunteers."),
    "dead": ("Votre demande n'a pas pu être remise automatiquement au support. Elle est "
             "gardée et les bénévoles la voient parmi les demandes qui les attendent : ils "
             "s'en occupent, vous n'avez rien à renvoyer.",
             "Your request could not be handed to the support desk automatically. It is "
             "kept, and the volunteers see it among the requests waiting for them: they "
             "will handle it, you have nothing to send again."),
}


@pytest.mark.parametrize("state", list(WORDS))
def test_the_receipt_page_says_each_state_as_it_is(site, state):
    client = site.client()
    answer = post(client, filled(client))
    assert answer.status_code == 303
    with site.store.write_session() as session, session.begin():
        session.execute(update(AssistanceRow).values(state=state))
    receipt = answer.headers["Location"]
    for lang, expected in zip(("fr", "en"), WORDS[state]):
        main = main_of(client.get(f"{receipt}?lang={lang}").text)
        said = re.search(r'<p class="request-state" data-state="(\w+)">', main)
        assert said.group(1) == state
        words = text_of(main)
        assert expected in words
        others = [w[lang == "en"] for s, w in WORDS.items() if s != state]
        assert not any(other in words for other in others), (state, lang)
