"""The YAML reader: the fast event-based reading gives exactly what the reference
node-based reading gives (data, problems, lines), and falls back to it for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from monitor.config_issues import ConfigError
from monitor.config_source import ConfigSource, read_top_level
from monitor.config_yaml import NodeReader

CASES = Path(__file__).parent / "config_cases"

DOCUMENTS = {
    "anchors": "a: &x {k: 1, j: [1, 2, &y z]}\nb: *x\nc: *y\nd: [*x, *y]\n",
    "nested_aliases": "a: &x {k: &w 1}\nb: &z {m: *x, n: *w}\nc: *z\n",
    "duplicate_key": "a: 1\nb: 2\na: 3\n",
    "duplicate_nested": "s:\n  - {id: a, id: b}\n",
    "duplicate_with_anchor_inside": "a: 1\na: &x [1]\nb: *x\n",
    "merge_key": "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n",
    "types": ("i: 1\nf: 1.5\nb: true\nn: null\nt: 2024-01-01\nts: 2024-01-01 10:00:00\n"
              "s: '1'\nh: 0x10\ne: ${VIGIE_TEST_SOURCE}\nu: ${VIGIE_TEST_UNSET}\n"
              "d: ${VIGIE_TEST_UNSET:-fallback}\nstr: !!str 12\n"),
    "odd_keys": "1: a\ntrue: b\n? [1, 2]\n: c\nnull: d\n",
    "empty": "",
    "comment_only": "# nothing\n",
    "scalar_document": "just text\n",
    "list_document": "- a\n- b\n",
    "two_documents": "a: 1\n---\nb: 2\n",
    "undefined_alias": "a: *nope\n",
    "anchor_twice": "a: &x 1\nb: &x 2\n",
    "unclosed_bracket": "a: [1, 2\nb: 3\n",
    "tab_indent": "a:\n\tb: 1\n",
    "checks": ("services:\n  - id: web\n    name: Web\n    checks:\n"
               "      - {id: home, kind: http, url: 'http://127.0.0.1/'}\n"
               "      - id: db\n        kind: tcp\n        host: 127.0.0.1\n        port: 5432\n"),
}


def reference(text: str) -> tuple:
    """What the node-based reading gives: (data, issues, unreliable) and lines, or the error."""
    lines: dict = {}
    issues: list = []
    unreliable: set = set()
    try:
        data = NodeReader(yaml.SafeLoader, Path("vigie.yaml"), lines, issues,
                          unreliable).read(text)
    except ConfigError as exc:
        return ("error", str(exc)), None
    return (data, issues, unreliable), lines


def fast(text: str) -> tuple:
    try:
        source = ConfigSource(Path("vigie.yaml"), text)
    except ConfigError as exc:
        return ("error", str(exc)), None
    return (source.data, source.issues, source.unreliable), source.lines


@pytest.mark.parametrize("name", [*DOCUMENTS, *sorted(p.name for p in CASES.glob("*.yaml"))])
def test_event_reading_gives_what_the_node_reading_gives(name, monkeypatch):
    monkeypatch.setenv("VIGIE_TEST_SOURCE", "from the environment")
    monkeypatch.delenv("VIGIE_TEST_UNSET", raising=False)
    text = DOCUMENTS[name] if name in DOCUMENTS else (CASES / name).read_text()
    assert fast(text) == reference(text)


def test_the_fast_reading_keeps_no_line_table_until_asked():
    source = ConfigSource(Path("vigie.yaml"), DOCUMENTS["checks"])
    assert source._lines is None  # the event reader was used, lines not computed
    assert source.line_of(("services", 0, "checks", 1, "port")) == 9
    assert source.line_of(("services", 0, "checks", 0, "nope")) == 5  # deepest known part


def test_aliases_are_read_without_falling_back():
    source = ConfigSource(Path("vigie.yaml"), DOCUMENTS["anchors"])
    assert source._lines is None
    assert source.data["b"] == {"k": 1, "j": [1, 2, "z"]}
    assert source.data["b"] is not source.data["a"]  # a copy, as the node reading makes


def test_errors_read_the_same_whatever_the_parser():
    # libyaml words this one "did not find expected ',' or ']'": PyYAML's wording is kept
    with pytest.raises(ConfigError) as caught:
        ConfigSource(Path("vigie.yaml"), DOCUMENTS["unclosed_bracket"])
    assert str(caught.value) == "vigie.yaml:2: invalid YAML: expected ',' or ']', but got ':'"


def test_read_top_level_reads_one_section(tmp_path):
    path = tmp_path / "vigie.yaml"
    path.write_text("services: &s [{id: a}]\nplugins: {blocked: [demo, dns]}\nother: *s\n")
    assert read_top_level(path, "plugins") == {"blocked": ["demo", "dns"]}
    assert read_top_level(path, "other") == [{"id": "a"}]  # an alias to a skipped value
    with pytest.raises(KeyError):
        read_top_level(path, "missing")
