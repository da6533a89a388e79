"""One bilingual type for texts that are data (monitor.words.Bilingual)."""

from __future__ import annotations

import ast
from pathlib import Path

from monitor.words import Bilingual, Both, _

ROOT = Path(__file__).resolve().parents[2]
#: classes that still carry their own fr/en pair: the config file's schema (validated with
#: lengths and the plain-string form) and a probe's Reason (code and public flag besides)
NOT_YET_MERGED = {"monitor/config.py": {"LocalizedText"}, "monitor/probe.py": {"Reason"}}


def test_french_when_english_is_missing():
    assert Bilingual("Fichiers", "Files").say("en") == "Files"
    assert Bilingual("Fichiers").say("en") == "Fichiers"
    assert Bilingual("Fichiers", "").say("en") == "Fichiers"
    assert Bilingual("Fichiers", "Files").say("fr") == "Fichiers"
    assert Bilingual("Fichiers", "Files").text("en") == "Files"  # the templates' name
    assert not Bilingual("") and Bilingual("", "Files")


def test_the_dashboards_text_and_the_words_parameter_are_the_one_type():
    from dashboard.views import Html, Text

    assert Text is Bilingual and Both is Bilingual and issubclass(Html, Bilingual)
    title = _("{service}: {impact}", service=Bilingual("Fichiers", "Files"),
              impact=_("major outage"))
    assert title.en == "Files: major outage"


def _pair_classes(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            fields = {s.target.id for s in node.body
                      if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
            if {"fr", "en"} <= fields:
                found.add(node.name)
    return found


def test_no_other_class_carries_a_french_and_english_pair():
    found = {}
    for package in ("monitor", "plugins", "dashboard", "docs_bridge", "tickets_bridge"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            names = _pair_classes(path.read_text(encoding="utf-8"))
            names -= NOT_YET_MERGED.get(rel, set()) | ({"Bilingual"} if rel == "monitor/words.py"
                                                         else set())
            if names:
                found[rel] = names
    assert found == {}, f"use monitor.words.Bilingual: {found}"


def test_the_scan_sees_a_pair_class():
    assert _pair_classes("class Text:\n    fr: str\n    en: str | None = None\n") == {"Text"}
