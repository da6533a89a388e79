"""Every public page, in French and in English, on a phone and a desktop: no word of the
other language in the text a visitor sees (tests/language.py), on the seeded data with an
open incident, a maintenance, a degraded service and the mail service down."""

from __future__ import annotations

import re

import pytest

from tests.language import foreign_words

LOCALES = {"fr": "fr-FR", "en": "en-GB"}
#: the public pages; the first incident page is found from the history
PAGES = ["/", "/services/web", "/services/nextcloud", "/services/mail", "/incidents",
         "/maintenance", "/admin/login"]


def visible_text(page) -> str:
    """The text a visitor reads, without the titles of links to other sites (a forum
    topic's or a guide's title is that site's own, in its own language)."""
    return page.evaluate("""() => {
        const hidden = [...document.querySelectorAll('a[href^="http"]')];
        hidden.forEach(a => a.dataset.text = a.innerText);
        hidden.forEach(a => a.innerText = '');
        const text = document.body.innerText;
        hidden.forEach(a => a.innerText = a.dataset.text);
        return text;
    }""")


def incident_pages(page, base: str) -> list[str]:
    page.goto(base + "/incidents")
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    return sorted({h.split("?")[0] for h in hrefs if re.fullmatch(r"/incidents/\d+(\?.*)?", h)})


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_no_page_carries_words_of_the_other_language(browser, outage, lang, width):
    base, _ = outage
    context = browser.new_context(locale=LOCALES[lang], viewport={"width": width, "height": 800})
    page = context.new_page()
    try:
        paths = PAGES + incident_pages(page, base)
        assert any(p.startswith("/incidents/") for p in paths)
        found = {}
        for path in paths:
            page.goto(f"{base}{path}")
            foreign = foreign_words(visible_text(page), lang)
            if foreign:
                found[path] = foreign
        assert not found, f"{lang} at {width} px: {found}"
    finally:
        context.close()
