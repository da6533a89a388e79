"""The status page in a real browser: phone and desktop widths, keyboard, no JavaScript,
self-refresh, and an axe-core accessibility scan."""

from __future__ import annotations

import pytest

from monitor.state import ServiceStatus
from tests.browser.conftest import artifact
from tests.dashboard import seed

pytestmark = pytest.mark.browser

NO_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.mark.parametrize("width", [360, 1280])
def test_overview_fits_the_screen(browser, served, width):
    base, _ = served
    context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(base + "/")
    assert ("Le service Messagerie est en partie en panne et le service Nextcloud est ralenti ; "
            "les autres services fonctionnent.") in page.inner_text("#banner")
    assert page.evaluate(NO_SCROLL), "the page scrolls horizontally"
    visible = page.locator("ol.bars").first.evaluate(
        "bar => Array.from(bar.children).filter(li => li.offsetParent !== null).length")
    assert visible == (30 if width < 600 else 90)
    page.screenshot(path=str(artifact(f"dashboard-overview-{width}.png")), full_page=True)
    # the service page too (chart and tables stay within the screen)
    page.goto(base + "/services/mail")
    assert page.evaluate(NO_SCROLL)
    page.screenshot(path=str(artifact(f"dashboard-service-{width}.png")), full_page=True)
    context.close()


def test_keyboard_moves_through_the_days_of_a_bar(page, served):
    base, _ = served
    page.goto(base + "/")
    # Tab from the top until a day of a bar has the focus
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('ol.bars li')"):
            break
    else:
        pytest.fail("no day of a bar could be reached with Tab")
    focused = page.locator("ol.bars li:focus span")
    assert focused.is_visible() and focused.bounding_box()["width"] > 50
    assert focused.inner_text().startswith("jeu. 12 mars")
    page.keyboard.press("ArrowLeft")
    assert page.locator("ol.bars li:focus span").inner_text().startswith("mer. 11 mars")
    page.keyboard.press("Home")
    assert page.locator("ol.bars li:focus span").inner_text().startswith("sam. 13 déc.")
    page.keyboard.press("End")
    assert page.locator("ol.bars li:focus span").inner_text().startswith("jeu. 12 mars")
    # one tab stop per bar: the next Tab leaves this bar for the next service's link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "A"


def test_page_works_without_javascript(browser, served):
    base, _ = served
    context = browser.new_context(locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    page.goto(base + "/")
    assert ("The Mail service is partly down and the Nextcloud service is slow; "
            "the other services work.") in page.inner_text("#banner")
    assert page.locator("[data-service=mail] .status-text").inner_text() == "Partial outage"
    assert page.locator("noscript").count() >= 1
    page.goto(base + "/services/mail?range=7d")
    chart = page.locator("svg.chart")
    assert chart.is_visible() and chart.bounding_box()["height"] > 100
    page.get_by_role("link", name="90 days", exact=True).click()
    assert "range=90d" in page.url
    page.get_by_role("link", name="Français").click()
    assert page.locator("html").get_attribute("lang") == "fr"
    context.close()


def test_status_updates_itself_without_a_reload(page, served):
    base, store = served
    page.goto(base + "/")
    page.evaluate("window.__notReloaded = true")
    mail = page.locator("[data-service=mail] .service-status .status-text")
    assert mail.inner_text() == "Panne partielle"
    store.record_service_change("mail", seed.NOW + 1, ServiceStatus.PARTIAL_OUTAGE,
                                ServiceStatus.OPERATIONAL)
    store.record_service_change("nextcloud", seed.NOW + 1, ServiceStatus.DEGRADED,
                                ServiceStatus.OPERATIONAL)
    from playwright.sync_api import expect

    # polled by Playwright (the page's CSP forbids the eval of wait_for_function)
    expect(mail).to_have_text("Fonctionne normalement", timeout=10_000)
    expect(page.locator("#banner")).to_have_attribute("data-banner", "operational", timeout=10_000)
    assert "Tous les services fonctionnent normalement" in page.inner_text("#banner")
    assert page.evaluate("window.__notReloaded") is True


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violation(browser, served, scheme):
    from axe_playwright_python.sync_playwright import Axe

    base, _ = served
    context = browser.new_context(locale="fr-FR", color_scheme=scheme,
                                  viewport={"width": 1280, "height": 900})
    page = context.new_page()
    axe = Axe()
    problems = []
    for path in ("/", "/services/mail", "/incidents/1", "/incidents", "/maintenance",
                 "/services/nope"):
        page.goto(base + path)
        for violation in axe.run(page).response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [n["target"] for n in violation["nodes"]][:3]
                problems.append(f"{path}: {violation['id']} ({violation['impact']}) {targets}")
    context.close()
    assert not problems, "\n".join(problems)
