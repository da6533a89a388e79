"""Markdown is rendered once, when a text is saved, never while a page is served (issue 12,
point 5): a notice of ``[`` ×10,000 then ``]`` ×9,999 took 28.8 s to render on each request
of ``/`` (and again after each start), and ``1. `` ×2,000 raised ``RecursionError``."""

from __future__ import annotations

from datetime import datetime, timedelta

import markdown.core
import pytest

from tests.dashboard.admin.test_api import API
from tests.monitor.test_maintenance_rules import within

#: pages members and volunteers read, each showing stored Markdown
PAGES = ("/", "/incidents", "/maintenance", "/feed.atom", "/admin/", "/admin/notices",
         "/admin/maintenance", "/admin/incidents")


@pytest.fixture
def api(admin_app, token):
    client = admin_app.test_client()

    def call(method: str, path: str, json=None):
        return within(lambda: client.open(API + path, method=method, json=json,
                                          headers={"Authorization": f"Bearer {token}"}))
    return call


@pytest.fixture
def no_rendering(monkeypatch):
    """From now on, running the Markdown renderer is an error."""
    def refuse(self, source):
        raise AssertionError("Markdown rendered while serving a page")

    def arm():
        monkeypatch.setattr(markdown.core.Markdown, "convert", refuse)
    return arm


def test_the_crafted_notice_is_rendered_when_saved_not_on_each_page(api, admin, seeded_ids,
                                                                    no_rendering):
    crafted = "[" * 10_000 + "]" * 9_999
    response = api("POST", "/notices", {"title_fr": "Piège", "text_fr": crafted})
    assert response.status_code == 201, response.get_json()
    notice_id = response.get_json()["id"]
    no_rendering()
    page = within(lambda: admin.get("/")).get_data(as_text=True)
    assert "Piège" in page and "[[[[" in page and "]]]]" in page
    for path in (*PAGES, f"/incidents/{seeded_ids['open']}",
                 f"/incidents/{seeded_ids['resolved']}",
                 f"/admin/incidents/{seeded_ids['open']}", f"/admin/notices/{notice_id}"):
        response = within(lambda path=path: admin.get(path))
        assert response.status_code == 200, (path, response.status_code)


@pytest.mark.parametrize("crafted", [
    "1. " * 2_000,
    "> " * 5_000,
    "\n".join("    " * i + "- a" for i in range(1_000))[:20_000],
    "<a " * 6_000,
    "![" * 9_000,
])
def test_other_crafted_shapes_are_saved_and_shown(api, admin, no_rendering, crafted):
    response = api("POST", "/notices", {"title_fr": "Forme", "text_fr": crafted})
    assert response.status_code == 201, response.get_json()
    no_rendering()
    assert within(lambda: admin.get("/")).status_code == 200


def test_every_kind_of_text_is_stored_with_its_html(api, admin, seeded_ids, no_rendering):
    open_id = seeded_ids["open"]
    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    assert api("POST", f"/incidents/{open_id}/updates", {
        "phase": "monitoring", "message_fr": "Le **nouveau** disque est en place.",
        "message_en": "The **new** disk is in."}).status_code in (200, 201)
    assert api("PUT", f"/incidents/{seeded_ids['resolved']}/postmortem", {
        "text_fr": "## Cause\n\nUn *disque* plein.", "text_en": "## Cause"}).status_code == 200
    assert api("POST", "/maintenance", {
        "title_fr": "Redémarrage", "message_fr": "Coupure de **5 minutes**.",
        "all_services": True, "start": tomorrow, "duration": "5m"}).status_code == 201
    no_rendering()
    page = admin.get(f"/incidents/{open_id}").get_data(as_text=True)
    assert "Le <strong>nouveau</strong> disque est en place." in page
    page = admin.get(f"/incidents/{seeded_ids['resolved']}").get_data(as_text=True)
    assert "<h4>Cause</h4>" in page and "<em>disque</em>" in page
    page = admin.get("/maintenance").get_data(as_text=True)
    assert "Coupure de <strong>5 minutes</strong>." in page
    page = admin.get(f"/admin/incidents/{open_id}").get_data(as_text=True)
    assert "Le <strong>nouveau</strong> disque est en place." in page
