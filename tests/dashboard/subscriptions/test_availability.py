"""Where "S'abonner / Subscribe" is offered: in the header of every public page (the guide
pages too) and on each incident page, with the incident's services ticked in advance;
nowhere when subscriptions are not offered (``subscriptions.enabled: false``, or no
``mail.host``), and then signing up answers one page saying so, with a 404 (the links of
the mails already sent keep working)."""

from __future__ import annotations

import re

import pytest

from tests.dashboard.subscriptions.conftest import MAIL
from tests.dashboard.subscriptions.helpers import main_of, words

NAV = re.compile(r'<nav class="main-nav"[^>]*>(.*?)</nav>', re.DOTALL)


def nav_of(page: str) -> str:
    found = NAV.search(page)
    assert found is not None
    return found.group(1)


def public_pages(ids: dict) -> list[str]:
    return ["/", "/incidents", f"/incidents/{ids['open']}", "/maintenance",
            "/services/mail", "/abonnement/"]


def test_every_public_page_links_to_the_subscription_form(site, seeded):
    ids = dict(zip(("open", "resolved", "notice"), seeded[2], strict=True))
    client = site.client()
    for path in public_pages(ids):
        page = client.get(path)
        assert page.status_code == 200, path
        assert '<a class="subscribe-link" href="/abonnement/"' in nav_of(page.text), path
        assert ">S'abonner</a>" in nav_of(page.text).replace("&#39;", "'"), path
        english = client.get(path + ("&" if "?" in path else "?") + "lang=en")
        assert ">Subscribe</a>" in nav_of(english.text), path
    # the form's own page says where the visitor is
    assert 'href="/abonnement/" aria-current="page"' in client.get("/abonnement/").text


def test_an_incident_page_offers_to_follow_its_services(site, seeded):
    open_incident = seeded[2][0]
    main = main_of(site.client().get(f"/incidents/{open_incident}").text)
    link = re.search(r'<p class="subscribe-incident"><a href="([^"]+)">([^<]+)</a>', main)
    assert link is not None
    assert link.group(1) == "/abonnement/?service=mail"
    assert link.group(2) == "Suivre ces services par e-mail"


@pytest.mark.parametrize("extra", ["", MAIL + "subscriptions: {enabled: false}\n"],
                         ids=["no-mail", "disabled"])
def test_not_offered_no_link_and_one_clear_page(site_with, seeded, extra):
    site = site_with(extra)
    ids = dict(zip(("open", "resolved", "notice"), seeded[2], strict=True))
    client = site.client()
    from dashboard.subscriptions.blueprint import offered_service

    assert offered_service(site.app) is None
    for path in public_pages(ids)[:-1]:
        page = client.get(path).text
        assert "subscribe-link" not in page and "/abonnement/" not in page, path
    for path in ("/abonnement/", "/abonnement/confirmer/" + "A" * 43,
                 "/abonnement/gerer/" + "A" * 43, "/abonnement/u/" + "A" * 43):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert words(answer).startswith("Pas d'abonnement par e-mail ici Ce site n'envoie "
                                        "pas d'e-mails sur l'état des services."), path
    # a mail provider's one-click POST gets its usual answer (the links of mails already
    # sent keep working: tests/dashboard/subscriptions/test_when_sending_stops.py)
    one_click = client.post("/abonnement/u/" + "A" * 43, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert 'href="/abonnement/"' not in main_of(one_click.text)
    english = client.get("/abonnement/?lang=en")
    assert words(english).startswith("No e-mail subscriptions here")


def test_the_guide_pages_link_to_the_subscription_form_when_offered(tmp_path):
    from docs_bridge.guide_pages import GuidePages
    from tests.docs_bridge.test_guide_pages import call_as

    (tmp_path / "bon.md").write_text("# Un guide\n\nDu texte.\n", encoding="utf-8")
    _, _, offered = call_as(GuidePages([("g", tmp_path)], subscriptions=True), "/g/bon")
    assert '<a class="subscribe-link" href="/abonnement/"' in nav_of(offered)
    _, _, english = call_as(GuidePages([("g", tmp_path)], subscriptions=True), "/g/bon",
                            cookie="lang=en")
    assert ">Subscribe</a>" in nav_of(english)
    _, _, not_offered = call_as(GuidePages([("g", tmp_path)]), "/g/bon")
    assert "subscribe-link" not in not_offered


@pytest.mark.parametrize("available", [True, False])
async def test_vigie_run_mounts_the_guide_pages_with_the_link_when_offered(tmp_path, available):
    from types import SimpleNamespace

    from docs_bridge.guides_plugin import GuidesPlugin
    from tests.docs_bridge.test_guides_plugin import Runtime, load, write_config

    plugin = GuidesPlugin()
    _, config = load(write_config(tmp_path), plugin)
    runtime = Runtime(config=config, mounted={}, assistance=None,
                      subscriptions=SimpleNamespace(available=available))
    await plugin.vigie_startup(runtime)
    try:
        assert runtime.mounted["/guides"].subscriptions is available
    finally:
        await plugin.vigie_shutdown(runtime)
