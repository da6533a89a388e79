"""The admin area in a real browser (Debian's Chromium through Playwright): a volunteer
signs in, posts a notice, and members see it on the status page.

Without /usr/bin/chromium the test skips (and fails under VIGIE_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import pytest

from dashboard import create_app
from monitor.web import WebServer
from tests.browser.conftest import browser, chromium_path  # noqa: F401 (fixtures)
from tests.dashboard.admin.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def served(admin_seeded, volunteer):
    """The dashboard with its admin area on waitress, on a free port of 127.0.0.1."""
    config, store, _ = admin_seeded
    app = create_app(config, {"CHECK_INTERVAL": 0.0}, store=store)
    server = WebServer(app, "127.0.0.1", 0, threads=4)
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def test_a_volunteer_signs_in_and_posts_a_notice_members_see(browser, served):
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(served + "/")
        page.get_by_role("link", name="Espace bénévoles").click()
        page.get_by_label("Nom d'utilisateur").fill("camille")
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(served + "/admin/")
        assert "Connecté·e : camille" in page.inner_text(".admin-nav")

        page.get_by_role("link", name="Publier un message").click()
        page.get_by_label("Type").select_option("warning")
        page.get_by_label("Titre en français").fill("Migration de la messagerie samedi")
        page.get_by_label("Texte en français").fill("Le courrier sera **lent** samedi matin.")
        page.get_by_role("button", name="Publier", exact=True).click()
        assert "Le message est publié." in page.inner_text("main")

        page.goto(served + "/")
        main = page.inner_text("main")
        assert "Migration de la messagerie samedi" in main
        assert page.locator("strong", has_text="lent").count() >= 1

        # signing out ends the session
        page.goto(served + "/admin/")
        page.get_by_role("button", name="Se déconnecter").click()
        page.wait_for_url("**/admin/login?out=1")
        page.goto(served + "/admin/notices")
        assert "/admin/login" in page.url
    finally:
        context.close()
