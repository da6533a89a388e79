"""What the subscription page tests share: the form's CSRF field read from the page as a
browser would, a sign-up posted, the page's words."""

from __future__ import annotations

import html
import re

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF field of the page's form."""
    found = CSRF.search(page)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def main_of(page: str) -> str:
    """The page's ``<main>``."""
    return page[page.index("<main"):page.index("</main>")]


def text_of(page: str) -> str:
    """The words of ``page`` (tags removed, entities decoded, spaces made single)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def words(response) -> str:
    """The words of a response's ``<main>``."""
    return text_of(main_of(response.text))


def signup(client, email: str = "alice@example.org", *, scope: str = "chosen",
           services=("mail",), groups=(), language: str = "fr", query: str = "",
           headers: dict | None = None, csrf: str | None = None):
    """Open the form (which sets the CSRF cookie) and post it as a browser would."""
    form = client.get(f"/abonnement/{query}")
    assert form.status_code == 200
    data = {"csrf": csrf if csrf is not None else csrf_of(form.text), "email": email,
            "scope": scope, "service": list(services), "group": list(groups),
            "language": language}
    return client.post(f"/abonnement/{query}", data=data, headers=headers or {})


def confirmed(site, client, email: str = "alice@example.org", **choice) -> str:
    """Sign ``email`` up and confirm it; its manage token."""
    assert signup(client, email, **choice).status_code == 200
    answer = client.post(f"/abonnement/confirmer/{site.confirm_token()}")
    assert answer.status_code == 200, words(answer)
    return site.subscriber(email).manage_token
