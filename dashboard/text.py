"""Markdown written by volunteers (notices, incident updates, post-mortems), made safe.

Markdown is rendered with ``markdown`` and the HTML cleaned with ``nh3`` (an allow-list
sanitiser): no script, style, iframe, event handler or ``javascript:`` URL can reach the
page, whatever a volunteer account (or whoever took it over) writes.
"""

from __future__ import annotations

from functools import lru_cache

from markupsafe import Markup

#: tags a message may use
ALLOWED_TAGS = {
    "p", "br", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "h3", "h4", "h5", "h6", "hr", "del", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=4096)
def render_markdown(text: str | None) -> Markup:
    """Safe HTML for the Markdown ``text`` (empty for None).

    Headings are shifted down (``#`` becomes ``<h3>``) so a message never competes with the
    page's own headings; links get ``rel="noopener noreferrer nofollow"``.
    """
    if not text:
        return Markup("")
    # imported with the first text to render (about 3 MB): many sites never write one
    import markdown
    import nh3

    html = markdown.markdown(text, extensions=["sane_lists"], output_format="html")
    for level in range(6, 0, -1):  # h1 → h3 … h4+ → h6
        new = min(level + 2, 6)
        html = html.replace(f"<h{level}>", f"<h{new}>").replace(f"</h{level}>", f"</h{new}>")
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                      url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow")
    return Markup(clean)
