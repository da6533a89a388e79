"""Serving a Markdown guide folder on Vigie's own listener (``/guides/<source>/<slug>``).

For a cooperative (or the demo) whose guides are a folder of Markdown files not published
anywhere else: the guide links then point here. A guide wears the status site's header
(its name, the main menu, the French/English switch) and style, rendered by
:mod:`dashboard.frame` without the dashboard's app or database; the style sheet is inline,
no external asset, so the page works when everything else is down. The menu follows the
visitor's language (``?lang=``, the ``lang`` cookie of the status page's switch, the
browser's languages); the guide's own text is in the site's language.

The pages share the origin of the status page and of the volunteers' area (``/admin``),
so whoever can write in a guide folder must not be able to run script there: the
Markdown's HTML is cleaned with ``nh3`` (an allow-list sanitiser, as
:mod:`monitor.markup` does) and every answer carries a Content-Security-Policy that
allows no script at all and only the page's own style sheet.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

import markdown
import nh3
from markupsafe import Markup
from werkzeug.wrappers import Request

from dashboard import frame
from dashboard.i18n import choose_language
from docs_bridge.sources.markdown import parse_page
from monitor.api import SiteSettings, clean_text, guard

PREFIX = "/guides"
_SLUG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}$")

#: tags a guide may use (no script, style, iframe, form, object, svg…)
ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "strong", "em", "b", "i", "code",
    "pre", "kbd", "samp", "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "a", "img",
    "del", "ins", "sup", "sub", "abbr", "table", "thead", "tbody", "tr", "th", "td", "div",
}
#: attributes kept (ids let footnotes and "#section" links work)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "id"}, "img": {"src", "alt", "title"}, "abbr": {"title"},
    "th": {"align"}, "td": {"align"}, "li": {"id"}, "sup": {"id"},
    **{f"h{n}": {"id"} for n in range(1, 7)},
}
URL_SCHEMES = {"http", "https", "mailto"}
#: a guide file larger than this is not served (a guide is a page, not a book)
MAX_GUIDE_BYTES = 512 * 1024
#: rendered guides kept in memory, keyed by file, modification time and size
CACHED_PAGES = 128

#: no script at all; the inline style sheet (the status page's) is allowed by its hash,
#: nothing else
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self' data:; "
    f"style-src {frame.stylesheet()[1]}; "
    "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'")


def render_markdown(text: str) -> str:
    """Safe HTML for a guide's Markdown body: rendered, then cleaned with an allow-list.

    Raw HTML in the Markdown is kept only when it is harmless (formatting, links, images);
    scripts, event handlers, ``javascript:`` links, frames and forms are removed. The text
    is made safe and bounded first (:func:`monitor.markup.guard`: the shapes that make
    Python-Markdown super-linear are neutralised), as for the volunteers' texts.
    """
    rendered = markdown.markdown(guard(clean_text(text, MAX_GUIDE_BYTES)),
                                 extensions=["extra", "sane_lists"])
    return nh3.clean(rendered, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow")


class GuidePages:
    """WSGI application serving the Markdown files of the given folders."""

    def __init__(self, folders: Iterable[tuple[str, Path]],
                 site: SiteSettings | None = None, assistance: bool = False,
                 subscriptions: bool = False) -> None:
        self.folders = {source_id: folder.resolve() for source_id, folder in folders}
        #: the site's name, default language (that of the guides' text) for the header
        self.site = site or SiteSettings()
        #: the site offers ``/assistance/``: the header links to it ("Un problème ?")
        self.assistance = assistance
        #: the site offers e-mail subscriptions: the header links to them ("S'abonner")
        self.subscriptions = subscriptions
        # rendered once per version of a file: a request never renders an unchanged guide
        self._pages: OrderedDict[tuple[Path, int, int], tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def page(self, source_id: str, slug: str) -> tuple[str, str] | None:
        """``(title, html)`` of one guide, or None when there is no such guide."""
        folder = self.folders.get(source_id)
        if folder is None or not _SLUG.match(slug) or ".." in slug.split("/"):
            return None
        path = (folder / f"{slug.strip('/')}.md").resolve()
        if folder not in path.parents or not path.is_file():
            return None
        stat = path.stat()
        if stat.st_size > MAX_GUIDE_BYTES:
            return None
        key = (path, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            found = self._pages.get(key)
            if found is not None:
                self._pages.move_to_end(key)
                return found
        parsed = parse_page(path.read_text(encoding="utf-8", errors="replace"), slug)
        found = parsed.title, render_markdown(parsed.body)
        with self._lock:
            self._pages[key] = found
            while len(self._pages) > CACHED_PAGES:
                self._pages.popitem(last=False)
        return found

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        request = Request(environ)
        source_id, _, slug = request.path.strip("/").partition("/")
        found = self.page(source_id, slug) if request.method in ("GET", "HEAD") else None
        lang = choose_language(request.args.get("lang"), request.cookies.get("lang"),
                               request.headers.get("Accept-Language"), self.site.language)
        # the site's root: where this app is mounted, less its own prefix
        root = request.root_path.removesuffix(PREFIX)
        title, content = found if found is not None else ("", None)
        body = frame.render(
            "guide.html", lang, title=title, body=Markup(content) if content is not None else None,
            content_lang=self.site.language,
            header=frame.header(lang, self.site.title.text(lang), root,
                                request.root_path + request.path,
                                assistance=self.assistance,
                                subscriptions=self.subscriptions)).encode()
        status = "200 OK" if found is not None else "404 Not Found"
        start_response(status, [("Content-Type", "text/html; charset=utf-8"),
                                ("Content-Length", str(len(body))),
                                ("Cache-Control", "max-age=300"),
                                ("Vary", "Cookie, Accept-Language"),
                                ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                                ("X-Content-Type-Options", "nosniff"),
                                ("Referrer-Policy", "same-origin")])
        return [body] if request.method != "HEAD" else [b""]
