"""The page after sending: a form sent again gets its reference (even at the rate limit)."""

from __future__ import annotations

import re

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
