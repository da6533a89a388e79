"""The package installs without warnings about its own metadata: the licence is an SPDX
expression (PEP 639), which the build backend the project asks for reads as such."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import metadata
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text("utf-8"))


def test_the_licence_is_an_spdx_expression_read_by_the_build_backend():
    assert PYPROJECT["project"]["license"] == "AGPL-3.0-or-later"
    # setuptools reads project.license as an SPDX expression from 77.0 on (before, a
    # table, deprecated with a warning at every build)
    [setuptools] = [r for r in PYPROJECT["build-system"]["requires"]
                    if re.match(r"setuptools\b", r)]
    minimum = re.search(r">=\s*(\d+)", setuptools)
    assert minimum and int(minimum.group(1)) >= 77, setuptools
    # a licence classifier beside an expression is refused by those versions
    assert not any(c.startswith("License ::")
                   for c in PYPROJECT["project"].get("classifiers", []))


def test_the_installed_metadata_carries_the_expression():
    assert metadata("vigie")["License-Expression"] == "AGPL-3.0-or-later"


# Every third-party module the code imports is a declared dependency --------------------

ROOT = Path(__file__).parents[1]
#: the packages shipped (their imports are checked); tests and bench are not shipped
SHIPPED = ("monitor", "dashboard", "plugins", "docs_bridge", "tickets_bridge")
#: import name → distribution name, where they differ
DISTRIBUTIONS = {
    "yaml": "pyyaml", "dns": "dnspython", "dateutil": "python-dateutil",
    "argon2": "argon2-cffi", "flask_babel": "flask-babel", "flask_wtf": "flask-wtf",
    "prometheus_client": "prometheus-client", "pydantic_core": "pydantic-core",
    "Stemmer": "pystemmer", "PIL": "pillow",
}
#: calls that import the module named by their first argument (lazily)
IMPORTING_CALLS = {"import_module", "__import__", "LazyModule"}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(source: str) -> set[str]:
    """Top-level names of the modules ``source`` imports (absolute imports, and the
    literal first argument of ``import_module``, ``__import__`` and ``LazyModule``)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in IMPORTING_CALLS:
                found.add(node.args[0].value)
    return {name.split(".")[0] for name in found}


def third_party_imports() -> dict[str, set[str]]:
    """Third-party top-level module → the shipped files importing it."""
    import sys

    out: dict[str, set[str]] = {}
    for package in SHIPPED:
        for path in (ROOT / package).rglob("*.py"):
            for module in imported_modules(path.read_text(encoding="utf-8")):
                if module in sys.stdlib_module_names or module in SHIPPED:
                    continue
                out.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return out


def test_every_imported_third_party_module_is_a_declared_dependency():
    declared = {_normalised(re.match(r"[A-Za-z0-9._-]+", r).group())
                for r in PYPROJECT["project"]["dependencies"]}
    missing = {module: sorted(files)[:3] for module, files in third_party_imports().items()
               if _normalised(DISTRIBUTIONS.get(module, module)) not in declared}
    assert missing == {}


def test_the_import_scan_itself():
    source = ("import yaml\nfrom flask_babel import _\nfrom . import x\nimport os.path\n"
              "nh3 = LazyModule('nh3')\nimportlib.import_module('Stemmer')\n"
              "def f():\n    import yarl.abc\n")
    assert imported_modules(source) == {"yaml", "flask_babel", "os", "nh3", "Stemmer", "yarl"}
