"""One bilingual type for texts that are data (monitor.words.Bilingual)."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest

from monitor.config import GroupConfig, LocalizedText, SiteSettings
from monitor.config_loader import ConfigError, load_config
from monitor.plugins import ProbeRegistry
from monitor.words import Bilingual, Both, _

ROOT = Path(__file__).resolve().parents[2]
#: the packages whose classes are scanned for a French and English pair
PACKAGES = ("monitor", "plugins", "dashboard", "docs_bridge", "tickets_bridge")
#: every class that still holds a text as two fields (``<name>_fr``/``<name>_en``), and
#: why: a shape that is stored or sent as it is. Code that carries such a text reads it
#: as one Bilingual (the events' ``title``, ``name``, ``message`` properties…)
SHAPES = {
    # database rows: one column per language
    "monitor/store/models.py": {"ServiceRow", "CheckRow", "ResultRow", "CheckStatusChange",
                                "ServiceStatusChange"},
    "monitor/cluster/models.py": {"TransitionRow"},
    "monitor/incidents/models.py": {"Incident", "IncidentUpdate", "MaintenanceWindow",
                                    "Notice"},
    # the outbox's JSON payloads, given to plugins and stored as they are
    "monitor/notifications.py": {"ServiceSnapshot", "CheckSnapshot", "IncidentEvent",
                                 "MaintenanceEvent", "SystemAlert"},
    # the read model's rows, returned as JSON by the admin API (dataclasses.asdict)
    "monitor/incidents/queries.py": {"UpdateView", "IncidentSummary", "IncidentDetail",
                                     "NoticeView", "WindowView"},
    # a maintenance window's columns as the service layer writes them
    "monitor/incidents/maintenance.py": {"PlannedMaintenance"},
    # a row of the services table, read for the dashboard's lists
    "monitor/reads/status.py": {"ServiceEntry"},
    # the admin API's JSON bodies (title_fr, message_en… are the public API's keys)
    "dashboard/admin/bodies.py": {"NoticeChange", "MaintenanceChange", "IncidentCreate",
                                  "IncidentUpdate", "IncidentImpact", "IncidentResolve",
                                  "Postmortem"},
    # the agents' wire format: a result's reason as an agent sends it (docs/agents-server.md)
    "monitor/agents/batch.py": {"AgentReason"},
    # an agent's stand-in probe: its options are the reason its runs report, validated
    # like any probe's options (pydantic), then turned into a Reason
    "monitor/agent/checks.py": {"UnrunnableConfig"},
}


def _pair_classes(source: str) -> set[str]:
    """Classes holding a French and English pair: ``fr`` and ``en``, or ``<x>_fr`` and
    ``<x>_en``, as class fields or as attributes set on ``self``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        names = set()
        for item in ast.walk(node):
            targets = (item.targets if isinstance(item, ast.Assign)
                       else [item.target] if isinstance(item, ast.AnnAssign) else [])
            flat = [t for target in targets
                    for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
            for target in flat:
                if isinstance(target, ast.Name) and item in node.body:
                    names.add(target.id)
                elif (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                      and target.value.id == "self"):
                    names.add(target.attr)
        if {"fr", "en"} <= names or any(n.endswith("_fr") and f"{n[:-3]}_en" in names
                                        for n in names):
            found.add(node.name)
    return found


def test_french_when_english_is_missing():
    assert Bilingual("Fichiers", "Files").say("en") == "Files"
    assert Bilingual("Fichiers").say("en") == "Fichiers"
    assert Bilingual("Fichiers", "").say("en") == "Fichiers"
    assert Bilingual("Fichiers", "Files").say("fr") == "Fichiers"
    assert Bilingual("Fichiers", "Files").text("en") == "Files"  # the templates' name
    assert not Bilingual("") and Bilingual("", "Files")


def test_the_dashboards_text_and_the_words_parameter_are_the_one_type():
    from dashboard.views import Html

    assert Both is Bilingual and issubclass(Html, Bilingual)
    assert Html("<b>x</b>") != Bilingual("<b>x</b>")  # safe HTML is only equal to its kind
    title = _("{service}: {impact}", service=Bilingual("Fichiers", "Files"),
              impact=_("major outage"))
    assert title.en == "Files: major outage"


def test_no_other_class_carries_a_french_and_english_pair():
    found, shapes = {}, {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            names = _pair_classes(path.read_text(encoding="utf-8"))
            if rel == "monitor/words.py":
                names.discard("Bilingual")
            shapes[rel] = names & SHAPES.get(rel, set())
            if names - shapes[rel]:
                found[rel] = names - shapes[rel]
    assert found == {}, f"use monitor.words.Bilingual (or name the shape in SHAPES): {found}"
    stale = {rel: names - shapes.get(rel, set()) for rel, names in SHAPES.items()
             if names - shapes.get(rel, set())}
    assert stale == {}, f"no longer a pair, remove from SHAPES: {stale}"

def test_the_scan_sees_a_pair_class():
    assert _pair_classes("class Text:\n    fr: str\n    en: str | None = None\n") == {"Text"}
    assert _pair_classes("class Row:\n    title_fr = Column()\n    title_en = Column()\n"
                         "    other_fr = 1\n") == {"Row"}
    assert _pair_classes("class Refused(Exception):\n    def __init__(self, fr, en):\n"
                         "        self.message_fr, self.message_en = fr, en\n") == {"Refused"}
    assert _pair_classes("class Refused(Exception):\n    def __init__(self, fr, en):\n"
                         "        self.fr = fr\n        self.en = en\n") == {"Refused"}
    assert _pair_classes("class Said:\n    fr: str\n") == set()


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


def test_an_event_keeps_its_json_shape_and_offers_each_text_as_one():
    from monitor.notifications import IncidentEvent, ServiceSnapshot, from_json, to_json

    event = IncidentEvent("opened", "k", 1, "INC-2026-0001", "Fichiers : panne", "Files: outage",
                          "major_outage", "investigating", True, 0.0, 0.0,
                          message_fr="On cherche.", message_en="Looking into it.",
                          services=(ServiceSnapshot("files", "Fichiers", "Files", None,
                                                    "major_outage"),))
    assert event.title == Bilingual("Fichiers : panne", "Files: outage")
    assert event.message.say("en") == "Looking into it."
    assert event.services[0].name.say("en") == "Files"
    data = json.loads(to_json(event))["data"]
    assert {"title_fr", "title_en", "message_fr", "message_en"} <= set(data)
    assert "title" not in data and from_json(to_json(event)) == event
