"""A member's request never reaches a public place: after one is sent, no public page,
feed, badge or public API answer holds its title, description, name, address or
reference."""

from __future__ import annotations

import re

from tests.dashboard.assistance.test_send import filled, post, rows

SECRET_WORDS = {"title": "Zorglub-7731 refuse mes fichiers",
                "description": "Le dossier Zorglub-7731 reste vide depuis hier soir.",
                "name": "Xénophon Quirinal", "email": "quirinal-7731@example.org",
                "member_id": "m-7731"}


def _public_paths(app, service_ids) -> list[str]:
    """Every GET route of the app outside /assistance and /admin, with each service's
    id for the routes that take one, and the incidents found in the API."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.rule.startswith(("/assistance", "/admin",
                                                                       "/static")):
            continue
        if not rule.arguments:
            paths.append(rule.rule)
        elif rule.arguments == {"service_id"}:
            paths += [rule.rule.replace("<service_id>", s) for s in service_ids]
    return paths


def test_a_sent_request_appears_on_no_public_page_feed_or_api(site):
    client = site.client()
    answer = post(client, filled(client, **SECRET_WORDS))
    assert answer.status_code == 303, answer.text
    [row] = rows(site)
    reference = row.reference
    service_ids = [s["id"] for s in client.get("/api/v1/services").get_json()["services"]]
    paths = _public_paths(site.app, service_ids)
    incidents = client.get("/api/v1/incidents").get_data(as_text=True)
    paths += [f"/incidents/{n}" for n in sorted(set(re.findall(r'"id":\s*(\d+)', incidents)))]
    assert "/" in paths and "/feed.atom" in paths and "/api/v1/summary.json" in paths
    assert any(p.startswith("/services/") for p in paths)
    looked = 0
    for path in paths:
        for lang in ("fr", "en"):
            page = site.app.test_client().get(path, headers={"Accept-Language": lang})
            if page.status_code != 200:
                continue
            looked += 1
            body = page.get_data()
            for secret in (*SECRET_WORDS.values(), "Zorglub", "Quirinal", reference):
                assert secret.encode() not in body, f"{secret!r} is public at {path}"
    assert looked >= 10
