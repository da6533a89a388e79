"""A guide served by Vigie, in a real browser: the status site's header, menu and
language switch around it, its style applied under a policy that allows no script, and
axe-core finds no serious problem (French and English, phone and desktop)."""

from __future__ import annotations

import urllib.request

import pytest

from tests.browser.test_calm_page import LOCALES

pytestmark = pytest.mark.browser

GUIDE = "/guides/g/nextcloud/maintenance"


def test_a_guide_has_the_sites_header_and_switches_language(browser, served_with_guides):
    base = served_with_guides
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text else None)
    try:
        page.goto(base + GUIDE)
        header = page.locator("header.site-header")
        site_name = header.locator(".site-name").inner_text()
        assert site_name == "Coopérative Exemple — état des services"
        nav = page.get_by_role("navigation", name="Menu principal")
        assert [a.inner_text() for a in nav.get_by_role("link").all()] == [
            "Vue d'ensemble", "Incidents", "Maintenance", "English"]
        assert page.get_by_role("heading", level=1).inner_text() == (
            "Nextcloud est en maintenance : que faire ?")
        # the status page's style sheet applies (inline, allowed by its hash); no script
        assert header.evaluate("h => getComputedStyle(h).borderBottomStyle") == "solid"
        assert page.evaluate("document.scripts.length") == 0
        assert not refused, refused

        page.get_by_role("link", name="English").click()
        page.wait_for_url(base + GUIDE)
        assert page.locator("html").get_attribute("lang") == "en"
        nav = page.get_by_role("navigation", name="Main menu")
        assert [a.inner_text() for a in nav.get_by_role("link").all()] == [
            "Overview", "Incidents", "Maintenance", "Français"]
        assert page.locator("main").get_attribute("lang") == "fr"  # the guide's own text
        nav.get_by_role("link", name="Overview").click()
        page.wait_for_url(base + "/")
        assert page.locator("html").get_attribute("lang") == "en"
    finally:
        context.close()
    with urllib.request.urlopen(base + GUIDE, timeout=10) as response:
        assert "script-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("width", [360, 1280])
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_no_serious_accessibility_violation_on_a_guide(browser, served_with_guides, lang, width):
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(locale=LOCALES[lang], viewport={"width": width, "height": 800})
    page = context.new_page()
    problems = []
    try:
        for path in (GUIDE, "/guides/g/absent"):
            page.goto(served_with_guides + path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            problems += [f"{path}: {v['id']} ({v['impact']}) "
                         f"{[n['target'] for n in v['nodes']][:3]}"
                         for v in Axe().run(page).response["violations"]
                         if v["impact"] in ("serious", "critical")]
    finally:
        context.close()
    assert not problems, "\n".join(problems)
