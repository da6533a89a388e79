"""The members' assistance path in a real browser, on a phone (360 px), with JavaScript
and without: a member whose service has an open incident is told first and can stop
there; a member whose words match a guide sees it; a member who goes on sends a request
with two real screenshots (one JPEG carrying EXIF GPS tags) and gets a reference; and
axe-core finds no serious problem on any page of the path."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from monitor.assistance.models import AssistanceRow
from tests.browser.conftest import REFRESH, artifact, seeded_folder
from tests.dashboard import seed
from tests.dashboard.assistance.conftest import make_site
from tests.dashboard.assistance.helpers import has_exif, has_gps, jpeg_with_gps, png

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 640}
#: the proof of work asked when JavaScript runs (small: the test's time, not a phone's)
POW_BITS = 10


@pytest.fixture
def assisted(tmp_path_factory, tmp_path):
    """``serve(extra)``: the seeded page with ``assistance:`` (and ``extra``) on Vigie's
    listener; returns ``(base URL, site)``."""
    from monitor.web import WebServer

    started = []

    def serve(extra: str = ""):
        folder = tmp_path / f"site{len(started)}"
        folder.mkdir()
        site = make_site(seeded_folder(tmp_path_factory) / "vigie.sqlite", folder,
                         lambda: seed.NOW, extra,
                         {"REFRESH_INTERVAL": REFRESH, "CHECK_INTERVAL": 0.0,
                          "TESTING": False})
        server = WebServer(site.app, "127.0.0.1", 0, threads=4, spool_dir=folder / "spool")
        server.start()
        started.append((server, site))
        return f"http://127.0.0.1:{server.port}", site

    yield serve
    for server, site in started:
        server.stop()
        site.service.close()
        site.store.dispose()


def phone(browser, javascript: bool, lang: str = "fr"):
    context = browser.new_context(locale={"fr": "fr-FR", "en": "en-GB"}[lang], viewport=PHONE,
                                  java_script_enabled=javascript)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return context, page, problems


def fits(page) -> bool:
    """No horizontal scrolling at this width."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def in_view(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]


def go_to_mail(page, base: str):
    page.goto(base + "/")
    page.get_by_role("link", name="Un problème ?").click()
    page.wait_for_url(base + "/assistance/")
    page.locator("a.choice", has_text="Messagerie").click()
    page.wait_for_url(base + "/assistance/mail/")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_member_whose_service_has_an_incident_is_told_first_and_can_stop(
        browser, assisted, javascript):
    base, site = assisted()
    context, page, problems = phone(browser, javascript)
    try:
        go_to_mail(page, base)
        heading = page.get_by_role("heading", level=1)
        assert heading.inner_text() == "Nous sommes au courant"
        summary = page.locator(".known-summary")
        assert summary.inner_text() == (
            "Un incident touche Messagerie en ce moment : les bénévoles s'en occupent.")
        # said first: on the first screen of a phone, before anything else to do
        assert in_view(heading) and in_view(summary)
        card = page.locator(".known article.incident")
        assert "Le disque du serveur imap2 est plein" in card.inner_text()
        assert card.get_by_role("link", name="Configurer Thunderbird").is_visible()
        assert page.get_by_role("link", name=re.compile("flux Atom")).is_visible()
        assert fits(page)
        page.get_by_role("button", name="Oui, merci : j'attends").click()
        page.wait_for_url(base + "/assistance/mail/merci")
        assert page.get_by_role("heading", level=1).inner_text() == "Merci"
        assert site.counts() == {"incident_known": 1}
        assert not problems, problems
    finally:
        context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_member_whose_words_match_a_guide_sees_it(browser, assisted, javascript):
    base, site = assisted()
    context, page, problems = phone(browser, javascript)
    try:
        go_to_mail(page, base)
        page.get_by_role("link", name="Non, mon problème est autre chose").click()
        page.wait_for_url(base + "/assistance/mail/decrire")
        page.get_by_label("En quelques mots, qu'est-ce qui ne va pas ?").fill(
            "Thunderbird ne reçoit plus mes courriels")
        page.get_by_label("Que se passe-t-il ?").fill(
            "Depuis ce matin, Thunderbird me redemande mon mot de passe.")
        page.get_by_role("button", name="Chercher une réponse").click()
        page.wait_for_url(base + "/assistance/mail/suggestions")
        guide = page.get_by_role("link", name=re.compile("^Configurer Thunderbird"))
        assert guide.is_visible()
        item = page.locator(".suggestion", has=guide)
        assert "Les réglages IMAP et SMTP, pas à pas." in item.inner_text()
        assert item.get_by_role("button", name="Ce guide a résolu mon problème").is_visible()
        assert fits(page)
        item.get_by_role("button", name="Ce guide a résolu mon problème").click()
        page.wait_for_url(base + "/assistance/resolu")
        assert site.counts() == {"guide_helped": 1}
        assert not problems, problems
    finally:
        context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_member_who_goes_on_sends_a_request_with_two_screenshots(
        browser, assisted, javascript):
    # with JavaScript the page also does its proof of work; without, none is asked
    base, site = assisted(f"  limits: {{proof_of_work: {POW_BITS}}}\n" if javascript else "")
    context, page, problems = phone(browser, javascript)
    try:
        go_to_mail(page, base)
        page.get_by_role("link", name="Non, mon problème est autre chose").click()
        page.get_by_label("En quelques mots, qu'est-ce qui ne va pas ?").fill(
            "Thunderbird ne reçoit plus mes courriels")
        page.get_by_label("Que se passe-t-il ?").fill(
            "Erreur « mot de passe incorrect ».\nSur mon téléphone aussi.")
        page.get_by_role("button", name="Chercher une réponse").click()
        page.wait_for_url(base + "/assistance/mail/suggestions")
        page.get_by_role("button", name="Je continue : écrire aux bénévoles").click()
        page.wait_for_url(base + "/assistance/mail/demande")
        # the words of step 2 are kept
        assert page.get_by_label("Que se passe-t-il ?").input_value() == (
            "Erreur « mot de passe incorrect ».\nSur mon téléphone aussi.")
        page.get_by_label("Votre nom").fill("Alice Martin")
        page.get_by_label("Votre adresse e-mail").fill("alice@example.org")
        page.get_by_label("Captures d'écran").set_input_files([
            {"name": "ecran.png", "mimeType": "image/png", "buffer": png()},
            {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps()}])
        page.get_by_label(re.compile("^Vos nom, adresse et captures")).check()
        assert fits(page)
        page.get_by_role("button", name="Envoyer ma demande").click()
        page.wait_for_url(re.compile(re.escape(base) + "/assistance/recu/.+"))
        assert page.get_by_role("heading", level=1).inner_text() == "Votre demande est bien reçue"
        reference = page.locator("#reference").inner_text()
        assert re.fullmatch(r"DEM-20260312-\w{4}", reference)
        page.screenshot(path=str(artifact(f"assistance-done-{javascript}.png")), full_page=True)
        assert not problems, problems
    finally:
        context.close()
    with site.store.session() as session:
        [row] = session.scalars(select(AssistanceRow)).all()
    assert row.reference == reference and row.screenshots == 2
    shots = json.loads(row.payload)["data"]["screenshots"]
    assert [s["filename"] for s in shots] == ["ecran.png", "photo.jpg"]
    for shot in shots:
        with open(shot["path"], "rb") as handle:
            data = handle.read()
        assert not has_exif(data) and not has_gps(data)
    assert site.counts() == {"continued": 1, "sent": 1}


def axe_problems(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    return [f"{page.url}: {v['id']} ({v['impact']}) {[n['target'] for n in v['nodes']][:3]}"
            for v in Axe().run(page).response["violations"]
            if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_no_serious_accessibility_violation_on_the_path(browser, assisted, lang):
    base, _site = assisted(f"  limits: {{proof_of_work: {POW_BITS}}}\n")
    context, page, _ = phone(browser, True, lang)
    found: list[str] = []
    try:
        page.goto(base + "/assistance/")
        found += axe_problems(page)
        page.goto(base + "/assistance/mail/")
        found += axe_problems(page)
        page.goto(base + "/assistance/mail/decrire")
        found += axe_problems(page)
        page.locator("#title").fill("Thunderbird")
        page.locator("#description").fill("Thunderbird ne reçoit plus.")
        page.locator("form.assistance-form button[type=submit]").click()
        page.wait_for_url(base + "/assistance/mail/suggestions")
        found += axe_problems(page)
        page.locator(".next button[type=submit]").click()
        page.wait_for_url(base + "/assistance/mail/demande")
        found += axe_problems(page)
        # sent without name, address nor consent: the error summary, focused, links the fields
        page.locator("#request-form button[type=submit]").click()
        page.wait_for_url(base + "/assistance/envoyer")
        summary = page.locator(".error-summary")
        assert summary.evaluate("e => e === document.activeElement")
        assert [a.get_attribute("href") for a in summary.get_by_role("link").all()] == [
            "#name", "#email", "#consent"]
        found += axe_problems(page)
        assert fits(page)
    finally:
        context.close()
    assert not found, "\n".join(found)
