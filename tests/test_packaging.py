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
