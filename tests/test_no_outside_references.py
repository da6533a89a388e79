"""Code says why in its own words: no comment or docstring leans on a document outside the
repository (the design notes, the reference notes, the style notes, an issue by number),
which a reader of the code does not have. Tests may keep such references; the code may not.
Measured figures belong in docs/performance.md, next to how they were measured.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitor", "dashboard", "plugins", "docs_bridge", "tickets_bridge")

# Built from pieces so that a grep of this file's patterns finds only this file.
OUTSIDE = re.compile("|".join((
    r"(?-i:\bDESI" r"GN\b)",
    "\u00a7",
    r"\biss" r"ue[ -]?#?\d",
    r"(?-i:\bREFER" r"ENCE\.md\b)",
    r"(?-i:\bSTY" r"LE\.md\b)",
)), re.IGNORECASE)


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("line, outside", [
    ("results wait in memory (DESI" "GN \u00a76).", True),
    ('"""Incidents and the outbox (iss' 'ue 5)."""', True),
    ("# Iss" "ue 12 (point 10) found more reasons", True),
    ("Shapes (see REFER" "ENCE.md, 'Discourse')", True),
    ("# the design of the slots keeps one timer per loop", False),
    ("# an issue with the feed: say so once", False),
])
def test_the_pattern_itself(line, outside):
    assert (OUTSIDE.search(line) is not None) == outside


def test_no_code_comment_names_a_document_outside_the_repository():
    found = []
    for path in sources():
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
