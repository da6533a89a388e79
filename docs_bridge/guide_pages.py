"""Serving a Markdown guide folder on Vigie's own listener (``/guides/<source>/<slug>``).

For a cooperative (or the demo) whose guides are a folder of Markdown files not published
anywhere else: the guide links then point here. The page is plain HTML with inline style,
no external asset, so it works when everything else is down.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from docs_bridge.sources.markdown import parse_page

PREFIX = "/guides"
_SLUG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}$")

_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;
line-height:1.55;color:#1b1b1b;background:#fff}}
@media (prefers-color-scheme:dark){{body{{color:#eee;background:#161616}}a{{color:#8cf}}}}
pre,code{{background:rgba(127,127,127,.15);padding:.1em .3em;border-radius:3px}}
pre{{padding:.8em;overflow-x:auto}}
</style></head>
<body><main>{body}</main>
<p><a href="/">← État des services</a></p></body></html>
"""


def render_markdown(text: str) -> str:
    """HTML for a Markdown body (the ``markdown`` package when present, else escaped
    preformatted text)."""
    try:
        import markdown
    except ImportError:  # pragma: no cover - markdown comes with apprise
        return f"<pre>{html.escape(text)}</pre>"
    return markdown.markdown(text, extensions=["extra", "sane_lists"])


class GuidePages:
    """WSGI application serving the Markdown files of the given folders."""

    def __init__(self, folders: Iterable[tuple[str, Path]]) -> None:
        self.folders = {source_id: folder.resolve() for source_id, folder in folders}

    def page(self, source_id: str, slug: str) -> tuple[str, str] | None:
        """``(title, html)`` of one guide, or None when there is no such guide."""
        folder = self.folders.get(source_id)
        if folder is None or not _SLUG.match(slug) or ".." in slug.split("/"):
            return None
        path = (folder / f"{slug.strip('/')}.md").resolve()
        if folder not in path.parents or not path.is_file():
            return None
        parsed = parse_page(path.read_text(encoding="utf-8"), slug)
        return parsed.title, render_markdown(parsed.body)

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        source_id, _, slug = environ.get("PATH_INFO", "").strip("/").partition("/")
        found = self.page(source_id, slug) if environ.get("REQUEST_METHOD") in ("GET", "HEAD") else None
        if found is None:
            body = _PAGE.format(title="Guide introuvable",
                                body="<h1>Guide introuvable</h1><p>Ce guide n'existe pas "
                                     "(ou plus).</p>").encode()
            status = "404 Not Found"
        else:
            title, content = found
            body = _PAGE.format(title=html.escape(title), body=content).encode()
            status = "200 OK"
        start_response(status, [("Content-Type", "text/html; charset=utf-8"),
                                ("Content-Length", str(len(body))),
                                ("Cache-Control", "max-age=300")])
        return [body] if environ.get("REQUEST_METHOD") != "HEAD" else [b""]
