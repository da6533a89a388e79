"""The public plugin API: plugins and bridges import from ``monitor.api`` only, and every
name it offers exists and is documented."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import monitor.api as api

ROOT = Path(__file__).resolve().parents[2]
#: the packages that plug into Vigie: they see the core through monitor.api only
PLUGIN_PACKAGES = ("plugins", "docs_bridge", "tickets_bridge")
#: the docs a plugin author copies examples from
AUTHOR_DOCS = ("docs/plugins.md", "docs/hooks.md", "docs/bridges.md")
#: modules allowed to reach past the API, and why (module path → reason)
ALLOWED = {
    "plugins/demo/command.py":
        "`vigie demo` is a launcher, not a plugin of a running Vigie: it loads the "
        "configuration, builds the plugin manager and runs Vigie itself, as `vigie run` "
        "does (monitor.config_loader, monitor.plugins, monitor.runtime)",
    "plugins/demo/account.py":
        "the demo creates its volunteer account in the database before Vigie starts "
        "(monitor.store to upgrade and open it; the accounts are the dashboard's)",
}


def monitor_imports(source: str, filename: str = "<source>") -> list[str]:
    """``line: module`` for every import from ``monitor`` other than ``monitor.api``.

    Catches ``import monitor…``, ``from monitor… import …`` (``from monitor import api``
    is the API too) and ``importlib.import_module``/``__import__`` with a literal name.
    """
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "monitor":
                names = [f"monitor.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            if name.split(".")[0] == "monitor" and name != "monitor.api":
                found.append(f"{node.lineno}: {name}")
    return found


def plugin_modules() -> list[Path]:
    """Every Python module of the plugins and bridges shipped in this repository."""
    return sorted(p for package in PLUGIN_PACKAGES for p in (ROOT / package).rglob("*.py")
                  if "__pycache__" not in p.parts)


def test_the_scan_sees_the_plugins_and_bridges():
    names = {p.relative_to(ROOT).as_posix() for p in plugin_modules()}
    assert {"plugins/http/__init__.py", "plugins/notify_apprise/__init__.py",
            "plugins/demo/command.py", "docs_bridge/guides_plugin.py",
            "tickets_bridge/plugin.py"} <= names
    assert set(ALLOWED) <= names


def test_plugins_and_bridges_import_only_the_public_api_from_monitor():
    problems = []
    for path in plugin_modules():
        where = path.relative_to(ROOT).as_posix()
        if where in ALLOWED:
            continue
        problems += [f"{where}:{hit}"
                     for hit in monitor_imports(path.read_text(encoding="utf-8"), where)]
    assert problems == [], "import these from monitor.api (add them there if missing)"


def test_every_allowed_exception_still_needs_it():
    # an allow-list entry that no longer reaches past the API goes away
    for where in ALLOWED:
        assert monitor_imports((ROOT / where).read_text(encoding="utf-8"), where), where


@pytest.mark.parametrize("source, expected", [
    ("from monitor.api import Probe\n", []),
    ("from monitor import api\n", []),
    ("import monitor.api\n", []),
    ("from monitor.probe import Probe\n", ["1: monitor.probe"]),
    ("from monitor import terms\n", ["1: monitor.terms"]),
    ("import monitor\n", ["1: monitor"]),
    ("def f():\n    from monitor.store import Store\n", ["2: monitor.store"]),
    ("import importlib\nimportlib.import_module('monitor.runtime')\n", ["2: monitor.runtime"]),
    ("from monitoring import x\nfrom .monitor import y\n", []),
])
def test_the_scan_catches_every_form_of_import(source, expected):
    assert monitor_imports(source) == expected


def _documented_in_all() -> set[str]:
    """Names of ``__all__`` preceded by a ``#:`` comment in monitor/api.py."""
    lines = Path(api.__file__).read_text(encoding="utf-8").splitlines()
    return {match.group(1) for before, line in zip(lines, lines[1:])
            if before.strip().startswith("#:")
            and (match := re.fullmatch(r'\s*"(\w+)",', line))}


def test_every_public_name_exists_and_is_documented():
    assert len(api.__all__) == len(set(api.__all__))
    commented = _documented_in_all()
    undocumented = []
    for name in api.__all__:
        assert hasattr(api, name), f"monitor.api.__all__ names {name!r}, which is not there"
        value = getattr(api, name)
        if inspect.ismodule(value) or inspect.isclass(value) or inspect.isroutine(value):
            doc = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
            if not (doc or "").strip():
                undocumented.append(name)
        elif name not in commented:
            # an instance or a constant carries its type's docstring, not its own
            undocumented.append(name)
    assert undocumented == []


def test_the_comment_convention_is_what_the_test_reads():
    assert {"hookimpl", "Duration", "IDENT"} <= _documented_in_all()


def test_every_public_name_is_in_all():
    # what the module holds besides __all__ is its imports: each one offered
    public = {name for name, value in vars(api).items()
              if not name.startswith("__") and name != "annotations"}
    assert public == set(api.__all__)


def test_the_docs_for_plugin_authors_import_from_the_api_only():
    problems = []
    for doc in AUTHOR_DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            if re.match(r"\s*(from|import)\s+monitor\b(?!\.api\b)", line):
                problems.append(f"{doc}:{number}: {line.strip()}")
    assert problems == []
    assert "from monitor.api import" in (ROOT / "docs/plugins.md").read_text(encoding="utf-8")
