"""Every page of the assistance path in French and in English: no word of the other
language in what a member reads (tests/language.py), the guides' and threads' own titles
aside (another site's words, in that site's language)."""

from __future__ import annotations

import re

import pytest

from tests.dashboard.assistance.helpers import form_to, forms
from tests.dashboard.assistance.test_send import MEMBER, post
from tests.dashboard.assistance.test_steps import main_of, text_of
from tests.language import foreign_words

#: what another site wrote: links leaving the status site, and the suggestions' lines
_OUTSIDE = re.compile(r'<a [^>]*href="(?:https?:|/assistance/ouvrir/)[^"]*"[^>]*>.*?</a>'
                      r'|<p class="suggestion-excerpt">.*?</p>', re.S)


def readable(html: str) -> str:
    return text_of(_OUTSIDE.sub(" ", main_of(html)))


def pages(client, lang: str) -> dict[str, str]:
    """The path's pages as a member in ``lang`` meets them (the language chosen once)."""
    client.get(f"/lang/{lang}")
    found = {"choose": client.get("/assistance/").text,
             "known": client.get("/assistance/mail/").text,
             "group": client.get("/assistance/lists/").text,
             "describe": client.get("/assistance/web/").text,
             "category": client.get("/assistance/account/").text}
    waiting = form_to(found["known"], "/merci")
    found["waiting"] = client.post(waiting["action"], data=waiting["fields"]).text
    describe = form_to(found["describe"], "/suggestions")
    found["empty"] = client.post(describe["action"], data=describe["fields"]).text
    page = client.get("/assistance/mail/decrire").text
    describe = form_to(page, "/suggestions")
    found["suggestions"] = client.post(describe["action"], data={
        **describe["fields"], "title": "Thunderbird", "description": "Thunderbird"}).text
    solved = next(f for f in forms(found["suggestions"]) if "/resolu" in f["action"])
    found["solved"] = client.post(solved["action"], data=solved["fields"]).text
    go_on = form_to(found["suggestions"], "/demande")
    found["request"] = client.post(go_on["action"], data=go_on["fields"]).text
    fields = form_to(found["request"], "/envoyer")["fields"]
    found["refused"] = post(client, {**fields, "email": "nope"}).text
    sent = post(client, {**fields, **MEMBER})
    found["done"] = client.get(sent.headers["Location"]).text
    found["too-large"] = client.post("/assistance/web/suggestions", data="x" * 600_000,
                                     content_type="application/x-www-form-urlencoded").text
    return found


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_no_page_of_the_path_carries_words_of_the_other_language(site, lang):
    found = {}
    for name, html in pages(site.client(), lang).items():
        assert f'<html lang="{lang}"' in html, name
        foreign = foreign_words(readable(html), lang)
        if foreign:
            found[name] = foreign
    assert not found, found
