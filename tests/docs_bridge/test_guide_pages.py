"""The Markdown guide pages served at ``/guides/``: what a guide file may put on a page
that shares its origin with ``/admin`` (no script, whatever the file holds), and the
Content-Security-Policy that stops script even if something slipped through."""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.request

import pytest

from docs_bridge.guide_pages import GuidePages, render_markdown
from monitor.router import Router
from monitor.web import WebServer

EVIL = """\
# Guide piégé

<script>fetch('/admin/api/v1/notices')</script>

<img src="x.png" onerror="alert(1)">

<iframe src="https://evil.example/"></iframe>

<svg onload="alert(2)"><circle r="1"/></svg>

<a href="javascript:alert(3)">cliquez</a> et [ici](javascript:alert(4)).

<form action="https://evil.example/"><input name="password"></form>

<style>body{display:none}</style>

<object data="x.swf"></object><embed src="x.swf">

<p style="background:url(https://evil.example/)" onclick="alert(5)">Texte</p>

<meta http-equiv="refresh" content="0;url=https://evil.example/">

<base href="https://evil.example/">
"""

GOOD = """\
# Sauvegarder ses fichiers

Un **guide** avec une [aide](https://guides.exemple.coop/aide) et un
[courriel](mailto:aide@exemple.coop).

| colonne | valeur |
| --- | --- |
| a | b |

```
rsync -a ~/ sauvegarde:
```

Une note[^1].

[^1]: En bas de page.
"""

ACTIVE = re.compile(r"<\s*(script|iframe|svg|form|input|style|object|embed|meta|base)\b"
                    r"|\son[a-z]+\s*=|javascript:|style\s*=", re.IGNORECASE)


def call(app, path: str, method: str = "GET") -> tuple[str, dict[str, str], str]:
    seen: dict = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method}, start_response))
    return seen["status"], seen["headers"], body.decode()


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "piege.md").write_text(EVIL, encoding="utf-8")
    (tmp_path / "bon.md").write_text(GOOD, encoding="utf-8")
    return tmp_path


def main_of(page: str) -> str:
    return re.split(r"<main\b[^>]*>", page, maxsplit=1)[1].split("</main>", 1)[0]


def test_active_html_in_a_guide_never_reaches_the_page(folder):
    status, _, page = call(GuidePages([("g", folder)]), "/g/piege")
    assert status == "200 OK"
    body = main_of(page)
    assert ACTIVE.search(body) is None, body
    # the harmless parts stay
    assert "<h1>Guide piégé</h1>" in body and "Texte" in body and "cliquez" in body
    assert '<img src="x.png">' in body


def test_ordinary_markdown_still_renders(folder):
    _, _, page = call(GuidePages([("g", folder)]), "/g/bon")
    body = main_of(page)
    assert "<strong>guide</strong>" in body
    assert 'href="https://guides.exemple.coop/aide"' in body
    assert 'href="mailto:aide@exemple.coop"' in body
    assert 'rel="noopener noreferrer nofollow"' in body
    assert "<table>" in body and "<td>b</td>" in body
    assert "<pre><code>rsync -a ~/ sauvegarde:" in body
    assert 'id="fn:1"' in body and 'href="#fn:1"' in body  # footnotes keep their anchors


def test_render_markdown_cleans_on_its_own():
    html = render_markdown('<script>x()</script><a href="javascript:y()" onclick="z()">a</a>')
    assert "<script" not in html and "javascript:" not in html and "onclick" not in html


@pytest.mark.parametrize("path", ["/g/bon", "/g/absent"])
def test_every_answer_carries_a_policy_that_forbids_script(folder, path):
    status, headers, page = call(GuidePages([("g", folder)]), path)
    assert status == ("200 OK" if path == "/g/bon" else "404 Not Found")
    policy = {d.split()[0]: d.split()[1:] for d in
              headers["Content-Security-Policy"].split("; ")}
    assert policy["script-src"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    # the page's own inline style sheet is allowed by its hash, and only that one
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy["style-src"] == [f"'sha256-{digest}'"]


def test_served_by_vigies_listener_with_the_policy(folder):
    """Through the router and waitress, as ``vigie run`` mounts it."""
    router = Router(lambda: b"", lambda: {"ok": True}, "text/plain")
    router.mount("/guides", GuidePages([("g", folder)]))
    server = WebServer(router, "127.0.0.1", 0, threads=2)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/guides/g/piege",
                                    timeout=5) as response:
            policy = response.headers["Content-Security-Policy"]
            page = response.read().decode()
    finally:
        server.stop()
    assert "script-src 'none'" in policy
    assert ACTIVE.search(main_of(page)) is None


def test_a_crafted_guide_is_rendered_bounded_and_once(folder, monkeypatch):
    """A guide file is outside text: the renderer gets it through the same guard as the
    volunteers' texts (``[`` ×10,000 rendered in quadratic time before), and an unchanged
    file is rendered once, not on every request."""
    import docs_bridge.guide_pages as guide_pages
    from docs_bridge.sources.markdown import parse_page
    from monitor.markup import guard

    crafted = "# Piège\n\n" + "[" * 10_000 + "]" * 9_999
    (folder / "crafted.md").write_text(crafted, encoding="utf-8")
    seen: list[str] = []
    real = guide_pages.markdown.markdown

    def spy(text, **kwargs):
        seen.append(text)
        return real(text, **kwargs)

    monkeypatch.setattr(guide_pages.markdown, "markdown", spy)
    pages = GuidePages([("g", folder)])
    for _ in range(3):
        status, _, _ = call(pages, "/g/crafted")
        assert status == "200 OK"
    assert len(seen) == 1
    body = parse_page(crafted, "crafted").body
    assert seen[0] == guard(body) != body


def test_an_oversized_guide_file_is_not_served(folder):
    from docs_bridge.guide_pages import MAX_GUIDE_BYTES

    (folder / "big.md").write_text("# Gros\n\n" + "a" * MAX_GUIDE_BYTES, encoding="utf-8")
    assert call(GuidePages([("g", folder)]), "/g/big")[0] == "404 Not Found"


def call_as(app, path: str, **headers: str) -> tuple[str, dict[str, str], str]:
    seen: dict = {}

    def start_response(status, response_headers):
        seen["status"], seen["headers"] = status, dict(response_headers)

    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "SCRIPT_NAME": "/guides",
               **{f"HTTP_{k.upper()}": v for k, v in headers.items()}}
    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body.decode()


@pytest.mark.parametrize("path", ["/g/bon", "/g/absent"])
def test_a_guide_wears_the_status_sites_header(folder, path):
    """The site's name, the main menu and the language switch (back to this guide), as on
    the status page; from the guide folder alone (no dashboard app, no database)."""
    from monitor.config import LocalizedText, SiteSettings

    site = SiteSettings(title=LocalizedText(fr="Coop — état des services", en="Coop — status"))
    status, headers, page = call_as(GuidePages([("g", folder)], site), path)
    assert status.startswith(("200", "404"))
    assert '<html lang="fr"' in page
    assert '<header class="site-header">' in page and '<a class="skip-link" href="#main">' in page
    assert '<p class="site-name"><a href="/">Coop — état des services</a></p>' in page
    nav = re.search(r'<nav class="main-nav" aria-label="Menu principal">(.*?)</nav>', page,
                    re.DOTALL).group(1)
    assert re.findall(r'<a href="([^"]+)"', nav) == ["/", "/incidents", "/maintenance"]
    assert (f'<a class="lang-switch" href="/lang/en?next=%2Fguides{path.replace("/", "%2F")}" '
            'lang="en" hreflang="en">English</a>') in page
    assert "Vary" in headers and "Cookie" in headers["Vary"]


def test_the_header_follows_the_visitors_language(folder):
    """The switch's cookie (or the browser's languages) chooses the menu's language; the
    guide's text stays marked as French."""
    app = GuidePages([("g", folder)])
    for how in ({"cookie": "lang=en"}, {"accept_language": "en-GB,en;q=0.9"}):
        _, _, page = call_as(app, "/g/bon", **how)
        assert '<html lang="en"' in page and ">Overview</a>" in page and ">Français</a>" in page
        assert re.search(r'<main\b[^>]*\blang="fr"', page)
    _, _, missing = call_as(app, "/g/absent", cookie="lang=en")
    assert "<h1 class=\"page-title\">Guide not found</h1>" in missing
    _, _, missing = call_as(app, "/g/absent")
    assert "<h1 class=\"page-title\">Guide introuvable</h1>" in missing
