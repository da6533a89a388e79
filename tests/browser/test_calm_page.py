"""The overview during an outage, in a real browser (French and English, phone and
desktop): the banner names what is broken and says the rest works, it is visible
without scrolling on a phone, the incident cards carry their guide links, and axe-core
finds no serious problem."""

from __future__ import annotations

import pytest

from tests.browser.conftest import artifact

pytestmark = pytest.mark.browser

LOCALES = {"fr": "fr-FR", "en": "en-GB"}
#: the seeded page with mail down and Nextcloud slow (three services of five working)
BANNERS = {
    "fr": "Le service Messagerie est en panne et le service Nextcloud est ralenti ; "
          "les autres services fonctionnent.",
    "en": "The Mail service is down and the Nextcloud service is slow; "
          "the other services work.",
}


def words(text: str) -> str:
    """``text`` with its spaces (no-break ones included) made plain and single."""
    return " ".join(text.replace("\xa0", " ").replace("\u202f", " ").split())


def open_page(browser, base: str, lang: str, width: int, height: int = 640):
    context = browser.new_context(locale=LOCALES[lang], viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(base + "/")
    return context, page


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_banner_names_what_is_broken_and_says_the_rest_works(browser, outage, lang, width):
    base, _ = outage
    context, page = open_page(browser, base, lang, width)
    try:
        banner = page.locator("#banner")
        assert words(banner.locator(".banner-text").inner_text()) == BANNERS[lang]
        # one service down of five is not the red "major outage" of a page where all is down
        assert banner.get_attribute("data-tone") == "partial"
        assert banner.locator(".symbol").first.inner_text() == "!"
        assert "banner-major" not in banner.get_attribute("class")
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_banner_is_visible_without_scrolling_on_a_phone(browser, outage, lang):
    base, _ = outage
    context, page = open_page(browser, base, lang, 360, 640)
    try:
        box = page.locator("#banner").bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 640, box
        # the site's name is said once above it, not twice
        title = page.locator(".site-name").inner_text()
        above = page.evaluate(
            "name => Array.from(document.querySelectorAll('body *')).filter(e =>"
            " e.children.length === 0 && e.offsetParent !== null"
            " && e.getBoundingClientRect().bottom <= document.getElementById('banner')"
            ".getBoundingClientRect().top && e.textContent.trim() === name).length", title)
        assert above == 1
    finally:
        context.close()


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_incident_cards_on_the_overview_carry_their_guide_links(browser, outage, lang, width):
    base, _ = outage
    context, page = open_page(browser, base, lang, width)
    try:
        card = page.locator(".open-incidents article.incident").first
        guide = card.get_by_role("link", name="Configurer Thunderbird")
        assert guide.get_attribute("href") == "https://guides.example.coop/thunderbird"
        assert guide.is_visible()
        assert card.get_by_role("link", name="Sujet sur le forum").is_visible()
        # a volunteer-only link (the ticket) never reaches the page
        assert card.get_by_role("link", name="Ticket #991").count() == 0
        # the day of the opening is said once: the latest update (same day) gives its time
        day = {"fr": "12 mars", "en": "Mar 12"}[lang]
        assert words(card.inner_text()).count(day) == 1, card.inner_text()
    finally:
        context.close()


@pytest.mark.parametrize("width", [360, 1280])
def test_overview_screenshots(browser, outage, width):
    base, _ = outage
    context, page = open_page(browser, base, "fr", width, 800)
    try:
        page.screenshot(path=str(artifact(f"overview-fr-{width}-after.png")), full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_no_serious_accessibility_violation_on_the_overview(browser, outage, lang, width):
    from axe_playwright_python.sync_playwright import Axe

    base, _ = outage
    context, page = open_page(browser, base, lang, width)
    try:
        problems = [f"{v['id']} ({v['impact']}) {[n['target'] for n in v['nodes']][:3]}"
                    for v in Axe().run(page).response["violations"]
                    if v["impact"] in ("serious", "critical")]
    finally:
        context.close()
    assert not problems, "\n".join(problems)
