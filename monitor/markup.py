"""Markdown written by volunteers, made into safe HTML once, when it is saved, in bounded
time.

Notices, incident updates, post-mortems and maintenance messages are Markdown. Their
models render each text when it is set (:func:`render`, see
:mod:`monitor.incidents.models`) and store the HTML beside it; pages only read that HTML,
so no request ever runs the renderer.

**Safe.** Markdown is rendered with Python-Markdown and the HTML cleaned with nh3 (an
allow-list sanitiser): no script, style, iframe, event handler or ``javascript:`` URL can
reach a page, whatever a volunteer account (or whoever took it over) writes.

**Bounded.** Python-Markdown spends time that grows faster than the text on a few shapes
(``bench/markup.py`` measures each family; the figures are in docs/performance.md). Each
has a guard that acts only past a threshold no ordinary text reaches, so ordinary text
renders exactly as Python-Markdown renders it:

- *brackets*: every ``[`` scans ahead for its ``]`` (``[`` ×10,000 then ``]`` ×9,999 took
  28.8 s). The link, image and reference processors here give up on a ``[`` nested more
  than :data:`BRACKET_DEPTH` deep, and together examine at most :data:`BRACKET_BUDGET`
  brackets and link characters per text; past that a ``[`` stays a plain ``[``;
- *unclosed* ``<`` (``<a <a <a…``, ``<http://<http://…``): the raw-HTML pass (the
  standard library's ``html.parser``) rescans the rest of the text for each. Past
  :data:`UNCLOSED_TAGS_MAX` of them in a text, each becomes ``&lt;`` (still a ``<`` on the
  page);
- *nesting*: block quotes and lists recurse once per level (``1. 1. 1. …`` raised
  ``RecursionError`` past ~300 levels). Markers past :data:`MAX_NESTING` levels on a line
  are escaped (shown as typed) and deeper indentation is brought back to that depth;
- *long blocks*: each inline element found copies the block it is in, so a block full of
  escapes or emphasis is quadratic. A block longer than :data:`BLOCK_MAX` characters is
  cut into paragraphs of about that size.

Markdown and nh3 are imported with the first text to render (about 3 MB): many sites
never write one.
"""

from __future__ import annotations

import re
import threading
from html import escape
from typing import Any

#: tags a message may use
ALLOWED_TAGS = {
    "p", "br", "strong", "em", "b", "i", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "h3", "h4", "h5", "h6", "hr", "del", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}

#: block quotes and lists nested deeper than this on one line are not nested further
MAX_NESTING = 8
#: a ``[`` with more than this many ``[`` open after it is not a link
BRACKET_DEPTH = 16
#: brackets and link characters the link processors examine per text, together
BRACKET_BUDGET = 100_000
#: longest ``(url "title")`` part of a link, and ``[id]`` of a reference
LINK_SPAN = 2_000
#: unclosed ``<`` a text may hold before they are all written ``&lt;``
UNCLOSED_TAGS_MAX = 16
#: longest block (lines without a blank one) rendered as one
BLOCK_MAX = 4_000


def render(text: str | None) -> str:
    """Safe HTML for the Markdown ``text`` ("" for None or empty), in bounded time.

    Headings are shifted down (``#`` becomes ``<h3>``) so a message never competes with
    the page's own headings; links get ``rel="noopener noreferrer nofollow"``.
    """
    if not text:
        return ""
    with _lock:
        md = _markdown()
        md.reset()
        md.bracket_budget = BRACKET_BUDGET
        try:
            html = md.convert(guard(text))
        except RecursionError:
            # no known shape gets here past the guard; if one does, the text is shown
            # as written rather than failing the save
            return plain(text)
    for level in range(6, 0, -1):  # h1 → h3 … h4+ → h6
        new = min(level + 2, 6)
        html = html.replace(f"<h{level}>", f"<h{new}>").replace(f"</h{level}>", f"</h{new}>")
    import nh3

    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow")


def plain(text: str | None) -> str:
    """``text`` as escaped paragraphs, without Markdown: what a page shows for a row
    stored without its HTML (written by another program, or before the upgrade could
    render it)."""
    if not text:
        return ""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join("<p>" + escape(p.strip()).replace("\n", "<br>\n") + "</p>"
                   for p in paragraphs)


def stored(html: str | None, text: str | None) -> str:
    """The HTML to show for a row: its stored ``html``, or :func:`plain` ``text`` when
    the row has none."""
    return html if html is not None else plain(text)


# The guard on the text ---------------------------------------------------------------------

#: one container marker at the start of what remains of a line: a block quote, or a list
#: item (bullet or number) followed by a space
_MARKER = re.compile(r"[ ]{0,3}(>|(?:[*+-]|\d{1,9}[.)])(?=[ \t]))[ \t]*")
_THEMATIC_BREAK = re.compile(r"[ ]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_INDENT = re.compile(r"[ \t]*")
#: a ``<`` with no ``>`` before the next ``<`` (or none at all)
_UNCLOSED = re.compile(r"<(?![^<>]*>)")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def guard(text: str) -> str:
    """``text`` with the shapes that make Python-Markdown super-linear neutralised (see
    the module's docstring); ordinary text comes back unchanged."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
    if len(_UNCLOSED.findall(text)) > UNCLOSED_TAGS_MAX:
        text = _UNCLOSED.sub("&lt;", text)
    # cut first: a cut line starts anew, and may start with markers
    return "\n".join(_flatten(line) for line in _cut_blocks(text).split("\n"))


def _flatten(line: str) -> str:
    """The line with its block quote and list nesting kept to :data:`MAX_NESTING`."""
    indent = len(_INDENT.match(line).group())
    if indent > 4 * MAX_NESTING:
        line = " " * (4 * MAX_NESTING) + line[indent:]
        indent = 4 * MAX_NESTING
    if _THEMATIC_BREAK.match(line):
        return line
    depth, pos = indent // 4, indent - indent % 4
    while True:
        found = _MARKER.match(line, pos)
        if found is None:
            return line
        depth += 1
        if depth > MAX_NESTING:
            # a backslash before the punctuation: "\>", "\-", "1\." are shown as typed
            marker = found.end(1) - 1
            return line[:marker] + "\\" + line[marker:]
        pos = found.end()


def _cut_blocks(text: str) -> str:
    """Blocks of at most about :data:`BLOCK_MAX` characters: a longer one is cut at its
    line ends (a line longer than that at its spaces, or anywhere)."""
    if len(text) <= BLOCK_MAX:
        return text
    out = []
    for block in _BLANK_LINE.split(text):
        if len(block) <= BLOCK_MAX:
            out.append(block)
            continue
        pieces: list[str] = []
        size = 0
        for line in block.split("\n"):
            for part in _cut_line(line):
                if pieces and size + len(part) > BLOCK_MAX:
                    out.append("\n".join(pieces))
                    pieces, size = [], 0
                pieces.append(part)
                size += len(part) + 1
        out.append("\n".join(pieces))
    return "\n\n".join(out)


def _cut_line(line: str) -> list[str]:
    parts = []
    while len(line) > BLOCK_MAX:
        cut = line.rfind(" ", BLOCK_MAX // 2, BLOCK_MAX)
        if cut < 0:
            cut = BLOCK_MAX
            run = cut
            while run > 0 and line[run - 1] == "\\":
                run -= 1
            if (cut - run) % 2:
                cut -= 1  # never between a backslash and what it escapes
        parts.append(line[:cut])
        line = line[cut:].lstrip(" ")
    parts.append(line)
    return parts


# The renderer --------------------------------------------------------------------------------

_lock = threading.Lock()
_instance: Any = None


def _markdown() -> Any:
    """The one Markdown converter (reset before each text; used under :data:`_lock`)."""
    global _instance
    if _instance is None:
        import markdown

        _instance = markdown.Markdown(extensions=["sane_lists", _bounded_links()],
                                      output_format="html")
    return _instance


_BRACKETS = re.compile(r"[\[\]]")


def _bounded_links() -> Any:
    """A Markdown extension putting bounded versions of the six processors that look
    for a ``[``'s ``]`` in place of the built-in ones (same names, same priorities)."""
    from markdown import inlinepatterns as ip
    from markdown.extensions import Extension

    class Bounded:
        """What bounds a link processor: its ``[`` is matched with at most
        :data:`BRACKET_DEPTH` levels open, and every bracket and link character it
        examines is taken from the text's :data:`BRACKET_BUDGET`."""

        md: Any
        #: ``[id]`` of a reference, at most LINK_SPAN characters
        RE_LINK = re.compile(rf"\s?\[([^\]]{{0,{LINK_SPAN}}})\]", re.DOTALL)

        def getText(self, data: str, index: int) -> tuple[str, int, bool]:
            if self.md.bracket_budget <= 0:
                return "", index, False
            depth = 1
            for found in _BRACKETS.finditer(data, index):
                self.md.bracket_budget -= 1
                if self.md.bracket_budget < 0:
                    break
                depth += 1 if found.group() == "[" else -1
                if depth == 0:
                    return data[index:found.start()], found.end(), True
                if depth > BRACKET_DEPTH:
                    break
            return "", index, False

        def getLink(self, data: str, index: int) -> tuple[str, str | None, int, bool]:
            if self.md.bracket_budget <= 0:
                return "", None, index, False
            part = data[index:index + LINK_SPAN]
            href, title, end, handled = ip.LinkInlineProcessor.getLink(self, part, 0)
            if not handled or end <= 0:
                # (an unclosed title makes the built-in answer "handled, ends at -1",
                # which drops the rest of the block: a plain ``[`` instead)
                self.md.bracket_budget -= len(part)
                return "", None, index, False
            self.md.bracket_budget -= end
            return href, title, index + end, True

    class Link(Bounded, ip.LinkInlineProcessor):
        RE_LINK = ip.LinkInlineProcessor.RE_LINK

    class Image(Bounded, ip.ImageInlineProcessor):
        RE_LINK = ip.ImageInlineProcessor.RE_LINK

    class Reference(Bounded, ip.ReferenceInlineProcessor):
        pass

    class ShortReference(Bounded, ip.ShortReferenceInlineProcessor):
        pass

    class ImageReference(Bounded, ip.ImageReferenceInlineProcessor):
        pass

    class ShortImageReference(Bounded, ip.ShortImageReferenceInlineProcessor):
        pass

    class BoundedLinks(Extension):
        def extendMarkdown(self, md: Any) -> None:
            md.bracket_budget = BRACKET_BUDGET
            for cls, pattern, name, priority in (
                    (Reference, ip.REFERENCE_RE, "reference", 170),
                    (Link, ip.LINK_RE, "link", 160),
                    (Image, ip.IMAGE_LINK_RE, "image_link", 150),
                    (ImageReference, ip.IMAGE_REFERENCE_RE, "image_reference", 140),
                    (ShortReference, ip.REFERENCE_RE, "short_reference", 130),
                    (ShortImageReference, ip.IMAGE_REFERENCE_RE, "short_image_ref", 125)):
                md.inlinePatterns.register(cls(pattern, md), name, priority)

    return BoundedLinks()
