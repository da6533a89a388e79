"""One bilingual type for texts that are data (monitor.words.Bilingual)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from monitor.config import GroupConfig, LocalizedText, SiteSettings
from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry
from monitor.words import Bilingual, Both, _

ROOT = Path(__file__).resolve().parents[2]
#: classes that still carry their own fr/en pair (none left: LocalizedText is a Bilingual,
#: a Reason carries one)
NOT_YET_MERGED: dict[str, set[str]] = {}


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


def test_a_text_of_the_configuration_is_a_bilingual():
    given = LocalizedText(fr="Fichiers", en="Files")
    assert isinstance(given, Bilingual) and given.say("en") == "Files"
    assert given == Bilingual("Fichiers", "Files") and hash(given) == hash(Bilingual("Fichiers",
                                                                                   "Files"))
    for written in ("Fichiers", {"fr": "Fichiers"}, Bilingual("Fichiers"), LocalizedText("Fichiers")):
        name = GroupConfig(id="g", name=written).name
        assert isinstance(name, Bilingual) and (name.fr, name.en) == ("Fichiers", None)
    title = SiteSettings(title={"fr": "État", "en": "Status"}).title
    assert title == Bilingual("État", "Status") and title.text("en") == "Status"
    assert SiteSettings().model_dump()["title"] == {"fr": "État des services",
                                                    "en": "Service status"}


def test_a_text_of_the_configuration_is_checked_key_by_key(tmp_path):
    path = tmp_path / "vigie.yaml"
    path.write_text(textwrap.dedent("""\
        site:
          title: {fr: État, eng: Status}
        groups:
          - {id: a, name: {fr: A, de: B}}
          - {id: b, name: ""}
          - {id: c, name: 3}
          - {id: d, name: {en: Only English}}
          - {id: e, name: {fr: [x]}}
          - {id: f, name: {fr: "%s"}}
          - {id: g, name: null}
        """ % ("x" * 201)), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, ProbeRegistry({}))
    assert str(caught.value).replace(str(path), "{f}").splitlines() == [
        "{f}:2: site.title.eng: unknown key 'eng' (did you mean 'en'?)",
        "{f}:4: groups[0].name.de: unknown key 'de' (allowed here: en, fr)",
        "{f}:5: groups[1].name.fr: must not be empty",
        "{f}:6: groups[2].name: expected a mapping (key: value), got 3",
        "{f}:7: groups[3].name.fr: required key is missing",
        "{f}:8: groups[4].name.fr: expected a text, got ['x']",
        "{f}:9: groups[5].name.fr: is too long (at most 200 characters)",
        "{f}:10: groups[6].name: expected a mapping (key: value), got None",
    ]
