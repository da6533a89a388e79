"""The core knows no plugin: ``monitor/`` imports none and names no concrete system."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

MONITOR = Path(__file__).resolve().parents[2] / "monitor"
#: packages the core must never import (they plug into it, not the other way round)
FORBIDDEN_PACKAGES = ("plugins", "dashboard", "docs_bridge", "tickets_bridge")
#: concrete systems the core must not know about (they belong in plugins and bridges)
FORBIDDEN_WORDS = re.compile(r"nextcloud|zammad|discourse|sympa|bookstack", re.IGNORECASE)
#: the one set of catalogues (monitor.words) holds the words of every part of Vigie, the
#: plugins' reasons included: data shared by all, not the core's code
CATALOGUES = MONITOR / "locale"
#: files that cannot hold source text
BINARY_SUFFIXES = {".pyc", ".pyo", ".so", ".png", ".ico", ".woff", ".woff2", ".sqlite"}


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """``line: module`` for every import of a forbidden package in ``source``.

    Catches ``import x``, ``from x import y`` and ``importlib.import_module("x…")`` /
    ``__import__("x…")`` with a literal name; relative imports stay inside ``monitor``.
    """
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            if name.split(".")[0] in FORBIDDEN_PACKAGES:
                found.append(f"{node.lineno}: {name}")
    return found


def core_files() -> list[Path]:
    """Every file under monitor/ that holds text (code, templates, migrations, data)."""
    return sorted(p for p in MONITOR.rglob("*") if p.is_file()
                  and "__pycache__" not in p.parts and p.suffix not in BINARY_SUFFIXES)


def test_the_core_is_where_the_test_looks():
    modules = {p.name for p in core_files()}
    assert {"__init__.py", "probe.py", "plugins.py", "config.py"} <= modules


def test_monitor_imports_no_plugin_dashboard_or_bridge():
    problems = []
    for path in core_files():
        if path.suffix == ".py":
            source = path.read_text(encoding="utf-8")
            problems += [f"{path.relative_to(MONITOR.parent)}:{hit}"
                         for hit in forbidden_imports(source, str(path))]
    assert problems == []


def test_monitor_names_no_concrete_system():
    problems = []
    for path in core_files():
        if CATALOGUES in path.parents:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN_WORDS.search(line):
                problems.append(f"{path.relative_to(MONITOR.parent)}:{number}: {line.strip()}")
    assert problems == []


@pytest.mark.parametrize("source, expected", [
    ("import plugins.http", ["1: plugins.http"]),
    ("from dashboard import create_app", ["1: dashboard"]),
    ("x = 1\nfrom docs_bridge.guides import find", ["2: docs_bridge.guides"]),
    ("import importlib\nimportlib.import_module('tickets_bridge.zammad')",
     ["2: tickets_bridge.zammad"]),
    ("__import__('plugins')", ["1: plugins"]),
    ("def f():\n    import plugins as p", ["2: plugins"]),
    ("from . import plugins\nfrom monitor import plugins\nimport pluggy", []),
    ("import plugins_extra\nfrom dashboards import x", []),
])
def test_the_import_check_itself(source, expected):
    assert forbidden_imports(source) == expected


#: what tickets_bridge still takes from docs_bridge, none of it about HTTP: the impact
#: threshold (goes with the typed impact of the core) and the French dates and names
STILL_SHARED = {"docs_bridge.settings", "docs_bridge.french", "docs_bridge"}


def bridge_imports(package: str, other: str) -> set[str]:
    """Modules of ``other`` imported by the files of ``package``."""
    found = set()
    for path in (MONITOR.parent / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.split(".")[0] == other}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.split(".")[0] == other:
                found.add(node.module)
    return found


def test_the_bridges_share_their_http_layer_through_the_core_not_each_other():
    assert bridge_imports("docs_bridge", "tickets_bridge") == set()
    assert bridge_imports("tickets_bridge", "docs_bridge") <= STILL_SHARED
    # the core's HTTP layer, offered to both through the public plugin API
    from monitor import api, httpcall
    assert api.call is httpcall.call
    for package in ("docs_bridge", "tickets_bridge"):
        assert "monitor.api" in bridge_imports(package, "monitor")


def test_the_word_check_itself():
    assert FORBIDDEN_WORDS.search("# as Nextcloud's status.php does")
    assert FORBIDDEN_WORDS.search("ZAMMAD_URL")
    assert not FORBIDDEN_WORDS.search("a helpdesk, a forum, a guide site")
