"""Markdown from volunteers is rendered and sanitised."""

from __future__ import annotations

import pytest

from dashboard.text import render_markdown


@pytest.mark.parametrize("evil", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "<iframe src=https://evil.example/></iframe>",
    '<a href="https://x.example/" onclick="alert(1)">x</a>',
    "<style>body{display:none}</style>",
])
def test_dangerous_markup_is_removed(evil):
    html = str(render_markdown(f"Bonjour {evil} fin"))
    for word in ("<script", "onerror", "javascript:", "<iframe", "onclick", "<style", "<img"):
        assert word not in html
    assert "Bonjour" in html and "fin" in html


def test_markdown_is_rendered_with_safe_links_and_lower_headings():
    html = str(render_markdown("# Titre\n\n- **un**\n- [guide](https://guides.example.coop/x)"))
    assert "<h3>Titre</h3>" in html
    assert "<li><strong>un</strong></li>" in html
    assert '<a href="https://guides.example.coop/x" rel="noopener noreferrer nofollow">guide</a>' in html
    assert str(render_markdown(None)) == ""
