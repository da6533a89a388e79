"""Headless Chromium (Debian's) driven by Playwright against the dashboard served by
waitress on a free port, on the seeded data of the dashboard tests.

Never ``playwright install``: the browser is /usr/bin/chromium. Without it the tests skip
(and fail under VIGIE_REQUIRE_SERVICES=1, as in CI).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import which_or_require
from tests.dashboard import seed

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: the Markdown guides of the bridge's tests (served by Vigie itself in the guide tests)
GUIDES = Path(__file__).resolve().parents[1] / "docs_bridge" / "guides"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
#: the page fetches the summary this often in the browser tests (seconds)
REFRESH = 1


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium, or skip/fail."""
    return which_or_require("chromium", "Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser(chromium_path):
    """One headless Chromium per test module.

    Not per session: Playwright's sync API keeps an event loop marked as running in the
    main thread while it is open, which would break every asyncio test collected after it.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def seeded_folder(tmp_path_factory) -> Path:
    """The folder of the seeded data (``vigie.yaml``, ``vigie.sqlite``), made once per run."""
    from dashboard import _load_config

    folder = tmp_path_factory.getbasetemp() / "browser-seed"
    if not (folder / "vigie.sqlite").exists():
        folder.mkdir(exist_ok=True)
        url = f"sqlite:///{folder / 'vigie.sqlite'}"
        config = _load_config(seed.write_config(folder, url))
        template = seed.prepare_store(url)
        seed.seed_all(template, config)
        template.dispose()
    return folder


@pytest.fixture
def dashboard_app(tmp_path_factory, tmp_path):
    """``(app, store)``: the dashboard on a fresh copy of the seeded data, at the seed's
    "now", fetching the summary every :data:`REFRESH` seconds."""
    from dashboard import _load_config, create_app
    from monitor.store import Store

    folder = seeded_folder(tmp_path_factory)
    config = _load_config(folder / "vigie.yaml")
    shutil.copyfile(folder / "vigie.sqlite", tmp_path / "vigie.sqlite")
    store = Store(f"sqlite:///{tmp_path / 'vigie.sqlite'}")
    app = create_app(config, {"REFRESH_INTERVAL": REFRESH, "CHECK_INTERVAL": 0.0,
                              "CLOCK": lambda: seed.NOW}, store=store)
    yield app, store
    store.dispose()


@pytest.fixture
def served(dashboard_app):
    """``(base URL, store)``: the dashboard on waitress, on a fresh copy of the seeded data."""
    from monitor.web import WebServer

    app, store = dashboard_app
    server = WebServer(app, "127.0.0.1", 0, threads=4)
    server.start()
    yield f"http://127.0.0.1:{server.port}", store
    server.stop()


@pytest.fixture
def served_with_guides(dashboard_app):
    """The base URL of one listener serving the dashboard at ``/`` and the test guide folder
    at ``/guides/g/``, as ``vigie run`` mounts them."""
    from docs_bridge.guide_pages import PREFIX, GuidePages
    from monitor.router import Router
    from monitor.web import WebServer

    app, _ = dashboard_app
    router = Router(lambda: b"", lambda: {"ok": True}, "text/plain")
    router.mount("/", app)
    router.mount(PREFIX, GuidePages([("g", GUIDES)], app.extensions["vigie"].config.file.site))
    server = WebServer(router, "127.0.0.1", 0, threads=4)
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def set_statuses(store, statuses: dict) -> None:
    """Give services a new current status (a change ten minutes before the seed's "now")."""
    for service_id, (previous, current) in statuses.items():
        store.record_service_change(service_id, seed.NOW - 600, previous, current)


@pytest.fixture
def outage(served):
    """The seeded page with the mail service down (Nextcloud still slow, three services
    working): the outage of one service the issue describes."""
    from monitor.state import ServiceStatus

    base, store = served
    set_statuses(store, {"mail": (ServiceStatus.PARTIAL_OUTAGE, ServiceStatus.MAJOR_OUTAGE)})
    return base, store


@pytest.fixture
def page(browser):
    """A fresh page (French, desktop size)."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def artifact(name: str) -> Path:
    """Where a screenshot is kept (test-artifacts/ at the repository root)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
