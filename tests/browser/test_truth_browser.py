"""One live state in a real browser (issue 13, "Truth"), French and English, phone and
desktop widths: today's segment and figure follow an outage within one snapshot, without
a reload and after one; a service that was only slow stays at 99 % or more."""

from __future__ import annotations

import re
import shutil

import pytest

from monitor.state import ServiceStatus
from tests.browser.conftest import REFRESH, artifact
from tests.dashboard import seed
from tests.dashboard.conftest import Clock
from tests.dashboard.test_truth import write_history

pytestmark = pytest.mark.browser

#: how long Playwright polls for the page to change (a hang, never a timing bound)
PATIENCE = 15_000
STATUS = {"fr": "En panne", "en": "Outage"}
SLOW = {"fr": "Ralenti", "en": "Slowed down"}
SIZES = [(lang, width) for lang in ("fr", "en") for width in (360, 1280)]


def _serve(config, store, clock):
    from dashboard import create_app
    from monitor.web import WebServer

    # a snapshot period of one second of the test's clock (the database is asked "did
    # anything change?" that often); the page fetches the summary every REFRESH seconds
    app = create_app(config, {"REFRESH_INTERVAL": REFRESH, "CHECK_INTERVAL": 1.0,
                              "CLOCK": clock}, store=store)
    server = WebServer(app, "127.0.0.1", 0, threads=4)
    server.start()
    return app, server


@pytest.fixture
def live(tmp_path_factory, tmp_path):
    """``(base URL, store, clock, app)``: the dashboard on the seeded data, with a clock
    the test moves."""
    from dashboard import _load_config
    from monitor.store import Store

    folder = tmp_path_factory.getbasetemp() / "truth-seed"
    if not (folder / "vigie.sqlite").exists():
        folder.mkdir(exist_ok=True)
        url = f"sqlite:///{folder / 'vigie.sqlite'}"
        config = _load_config(seed.write_config(folder, url))
        template = seed.prepare_store(url)
        seed.seed_all(template, config)
        template.dispose()
    config = _load_config(folder / "vigie.yaml")
    shutil.copyfile(folder / "vigie.sqlite", tmp_path / "vigie.sqlite")
    store = Store(f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    clock = Clock(seed.NOW)
    app, server = _serve(config, store, clock)
    yield f"http://127.0.0.1:{server.port}", store, clock, app
    server.stop()
    store.dispose()


def _text(day) -> str:
    """The text vigie.js wrote into a day's segment, spaces made plain."""
    return day.locator("span").text_content().replace("\xa0", " ")


def _percent(text: str) -> float:
    """The number of a figure: ``disponible à 99,98 %`` → 99.98."""
    found = re.search(r"(\d+(?:[.,]\d+)?)\s?%", text.replace("\xa0", " "))
    assert found, text
    return float(found.group(1).replace(",", "."))


@pytest.mark.parametrize(("lang", "width"), SIZES)
def test_today_follows_an_outage_within_one_snapshot(browser, live, lang, width):
    from playwright.sync_api import expect

    base, store, clock, app = live
    context = browser.new_context(locale={"fr": "fr-FR", "en": "en-GB"}[lang],
                                  viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(f"{base}/?lang={lang}")
    web = page.locator("[data-service=web]")
    today = web.locator("ol.bars li").last
    assert today.is_visible()
    assert today.get_attribute("class") is None  # operational all day
    assert _text(today).endswith(("100 %", "100%"))
    page.evaluate("window.__notReloaded = true")

    store.record_service_change("web", clock.now, ServiceStatus.OPERATIONAL,
                                ServiceStatus.MAJOR_OUTAGE)
    clock.advance(app.config["CHECK_INTERVAL"])  # one snapshot period later

    # the page updates itself: the status, today's colour and today's figure together
    expect(web.locator(".service-status .status-text")).to_have_text(STATUS[lang],
                                                                      timeout=PATIENCE)
    expect(today).to_have_class("m", timeout=PATIENCE)
    figure = _text(today)
    assert not figure.endswith(("100 %", "100%")) and _percent(figure) < 100, figure
    assert page.evaluate("window.__notReloaded") is True
    page.screenshot(path=str(artifact(f"truth-outage-{lang}-{width}.png")), full_page=False)

    # a fresh page says the same
    page.reload()
    expect(today).to_have_class("m", timeout=PATIENCE)
    assert _text(today) == figure
    assert web.locator(".service-status .status-text").inner_text() == STATUS[lang]
    context.close()


@pytest.fixture
def slow(tmp_path):
    """The dashboard on ten days of history where web was only slow for five."""
    config, store = write_history(tmp_path)
    app, server = _serve(config, store, Clock(seed.NOW))
    yield f"http://127.0.0.1:{server.port}"
    server.stop()
    store.dispose()


@pytest.mark.parametrize(("lang", "width"), SIZES)
def test_a_service_that_was_only_slow_stays_available(browser, slow, lang, width):
    context = browser.new_context(locale={"fr": "fr-FR", "en": "en-GB"}[lang],
                                  viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(f"{slow}/?lang={lang}")
    web = page.locator("[data-service=web]")
    assert web.locator(".service-status .status-text").inner_text() == SLOW[lang]
    figure = web.locator(".bar-legend .uptime")
    assert figure.is_visible()
    assert _percent(figure.inner_text()) >= 99
    # every day it was slow reads as available
    days = web.locator("ol.bars li")
    slow_days = [_text(days.nth(i))
                 for i in range(days.count()) if days.nth(i).get_attribute("class") == "g"]
    assert len(slow_days) == 6  # five days back and today
    assert all(_percent(day) >= 99 for day in slow_days), slow_days
    # the partial outage of mail is weighted, the full one of nextcloud is not
    assert _percent(page.locator("[data-service=mail] .bar-legend .uptime").inner_text()) == 97
    assert _percent(page.locator("[data-service=nextcloud] .bar-legend .uptime")
                    .inner_text()) == 90
    page.screenshot(path=str(artifact(f"truth-slow-{lang}-{width}.png")), full_page=False)
    context.close()
