"""Markdown from volunteers, made safe and rendered in bounded time (issue 12, point 5).

Python-Markdown is super-linear on a few shapes of input; :func:`monitor.markup.guard`
and the bounded link processors neutralise each family. These tests assert the
structure (what the renderer is given, how much it may examine, how deep the output
nests), never a duration: the timings are in ``bench/markup.py``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import markdown
import nh3
import pytest

from monitor import markup
from monitor.markup import guard, render

LIMIT = 20_000  # MESSAGE_MAX of monitor.incidents.service


@pytest.mark.parametrize("evil", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "<iframe src=https://evil.example/></iframe>",
    '<a href="https://x.example/" onclick="alert(1)">x</a>',
    "<style>body{display:none}</style>",
])
def test_dangerous_markup_is_removed(evil):
    html = render(f"Bonjour {evil} fin")
    for word in ("<script", "onerror", "javascript:", "<iframe", "onclick", "<style", "<img"):
        assert word not in html
    assert "Bonjour" in html and "fin" in html


def test_markdown_is_rendered_with_safe_links_and_lower_headings():
    html = render("# Titre\n\n- **un**\n- [guide](https://guides.example.coop/x)")
    assert "<h3>Titre</h3>" in html
    assert "<li><strong>un</strong></li>" in html
    assert ('<a href="https://guides.example.coop/x" rel="noopener noreferrer nofollow">'
            "guide</a>") in html
    assert render(None) == "" and render("") == ""


ORDINARY = [
    "# Titre\n\n- **un**\n- [guide](https://guides.example.coop/x)",
    'Voir [le guide](https://a.b/c "titre") et ![img](https://x/y.png) et [ref][1]\n\n'
    "[1]: https://r.example",
    "a < b and c > d, `x < y`, <b>gras</b> <br> &amp; &copy;",
    "1. un\n2. deux\n    - sous\n        - sous-sous\n\n> cite\n> > double",
    "Texte [entre crochets] et [lien](http://a.b/(c)) et [[double]](http://x)",
    "* * *\n\n---\n\n- - - - - - - - - - - -\n",
    "code :\n\n    if a < b:\n        [x]\n\nfin",
    "<http://exemple.coop> <me@example.coop> _em_ __strong__ ***both***",
    "ligne  \ncoupée\n\n1) listes\n2) sensées",
    "> niveau 1\n> > niveau 2\n> > > niveau 3\n\n" + "\n".join("    " * i + "- n" + str(i)
                                                              for i in range(8)),
    "Incident [INC-2026-0042] : le disque de `imap2` est plein (90 %).\n" * 40,
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_untouched_by_the_guard_and_rendered_as_python_markdown_does(text):
    assert guard(text) == text
    plain = markdown.markdown(text, extensions=["sane_lists"], output_format="html")
    for level in range(6, 0, -1):
        new = min(level + 2, 6)
        plain = plain.replace(f"<h{level}>", f"<h{new}>").replace(f"</h{level}>", f"</h{new}>")
    assert render(text) == nh3.clean(plain, tags=markup.ALLOWED_TAGS,
                                     attributes=markup.ALLOWED_ATTRIBUTES,
                                     url_schemes=markup.URL_SCHEMES,
                                     link_rel="noopener noreferrer nofollow")


def fill(unit: str, size: int = LIMIT) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# Brackets: each "[" scanned ahead for its "]" ----------------------------------------------


class Counting:
    """Counts what the bounded link processors examine."""

    def __init__(self, monkeypatch) -> None:
        self.brackets = 0
        self.link_chars = 0
        real = markup._BRACKETS

        class Brackets:
            def finditer(inner, data, pos=0):
                for found in real.finditer(data, pos):
                    self.brackets += 1
                    yield found

        monkeypatch.setattr(markup, "_BRACKETS", Brackets())
        from markdown import inlinepatterns

        original = inlinepatterns.LinkInlineProcessor.getLink

        def get_link(proc, data, index):
            self.link_chars += len(data) - index
            return original(proc, data, index)

        monkeypatch.setattr(inlinepatterns.LinkInlineProcessor, "getLink", get_link)


@pytest.mark.parametrize("text", [
    "[" * 10_000 + "]" * 9_999,  # the notice: 28.8 s before
    fill("["),
    fill("!["),
    fill("[a"),
    fill("[a]("),
    fill('[a]("'),
    fill("[a]["),
    fill("[[]"),
    "[" * 5_000 + "a" + "](b)" * 3_000,
])
def test_the_link_processors_examine_a_bounded_amount(monkeypatch, text):
    count = Counting(monkeypatch)
    html = render(text)
    assert count.brackets <= markup.BRACKET_BUDGET + 1
    assert count.link_chars <= markup.BRACKET_BUDGET + markup.LINK_SPAN
    assert "[" in html


def test_the_budget_only_runs_out_on_crafted_text(monkeypatch):
    text = "Voir [le guide](https://guides.example.coop/thunderbird) et [l'aide][1].\n\n" * 200
    text += "[1]: https://aide.example.coop/"
    count = Counting(monkeypatch)
    html = render(text)
    assert html.count("<a href") == 400
    assert count.brackets + count.link_chars < markup.BRACKET_BUDGET


# Unclosed "<": the raw-HTML pass rescans the rest for each ---------------------------------


@pytest.mark.parametrize("unit", ["<a ", "<a", "<http://", "<a b='", "</", "<!--", "<a<"])
def test_unclosed_tags_are_written_as_entities_past_a_few(unit):
    text = fill(unit)
    guarded = guard(text)
    assert len(markup._UNCLOSED.findall(guarded)) <= markup.UNCLOSED_TAGS_MAX
    assert render(text)  # and it renders


def test_a_few_unclosed_tags_stay_as_typed():
    text = "si a < b et b < c alors a < c"
    assert guard(text) == text


# Nesting: one recursion per level -----------------------------------------------------------


class Depth(HTMLParser):
    """Deepest nesting of lists and block quotes in some HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = self.deepest = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("ul", "ol", "blockquote"):
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)

    def handle_endtag(self, tag):
        if tag in ("ul", "ol", "blockquote"):
            self.depth -= 1


@pytest.mark.parametrize("text", [
    fill("1. "),  # RecursionError before
    fill("- "),
    fill("+ "),
    fill("> "),
    fill(">"),
    fill("> - "),
    fill("1) * > "),
    "\n".join("    " * i + "- a" for i in range(2_000))[:LIMIT],  # RecursionError before
    "\n".join("> " * i + "- a" for i in range(200))[:LIMIT],
])
def test_nesting_is_kept_to_a_few_levels(text):
    html = render(text)
    parser = Depth()
    parser.feed(html)
    # a list item's inner list or quote counts two levels at most per marker
    assert parser.deepest <= 2 * markup.MAX_NESTING


def test_a_thematic_break_made_of_many_dashes_stays_one():
    assert render("- " * 30) == "<hr>"


def test_markers_past_the_nesting_limit_are_shown_as_typed():
    html = render("1. " * 10 + "fin")
    assert "1. 1. fin" in html and "\\" not in html
    assert "&gt; &gt; fin" in render("> " * 10 + "fin")


# Long blocks: each inline element copies its block ----------------------------------------


@pytest.mark.parametrize("unit", ["\\\\", "\\*", "`a` ", "**a** ", "*a", "&amp;", "a  \n",
                                  "<b>", "word "])
def test_long_blocks_are_cut_into_paragraphs(unit):
    guarded = guard(fill(unit, 100_000))
    blocks = re.split(r"\n[ \t]*\n", guarded)
    assert max(len(b) for b in blocks) <= markup.BLOCK_MAX + 100
    assert render(fill(unit, 100_000))


@pytest.mark.parametrize("unit", ["\\*", "\\\\", "\\"])
def test_a_cut_never_separates_a_backslash_from_what_it_escapes(unit):
    guarded = guard(unit * 10_000)
    for block in re.split(r"\n[ \t]*\n", guarded)[:-1]:
        trailing = len(block) - len(block.rstrip("\\"))
        assert trailing % 2 == 0
