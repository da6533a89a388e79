"""The habits `make lint` cannot check itself: every silenced finding says why.

A ``noqa`` or ``type: ignore`` comment names the codes it silences and gives a short reason
on the same line (``# noqa: F401 (re-export)``, ``# type: ignore[misc]  # frozen: the
test``), so a reader knows whether it may go.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitor", "plugins", "dashboard", "docs_bridge", "tickets_bridge", "tests", "bench")

# Built from pieces so that this file does not match its own patterns.
_NOQA = re.compile(r"#\s*no" r"qa\b(?P<rest>.*)$", re.IGNORECASE)
_IGNORE = re.compile(r"#\s*type:\s*ig" r"nore\b(?P<rest>.*)$")
_NOQA_CODES = re.compile(r":\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*")
_IGNORE_CODES = re.compile(r"\[[a-z-]+(?:\s*,\s*[a-z-]+)*\]")
_REASON = re.compile(r"[^\W\d_]{3,}")


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def unjustified(line: str) -> str | None:
    """What the silencing comment on ``line`` lacks, or ``None`` when it is complete."""
    for pattern, codes, what in ((_NOQA, _NOQA_CODES, "noqa"),
                                 (_IGNORE, _IGNORE_CODES, "type: ignore")):
        found = pattern.search(line)
        if found is None:
            continue
        rest = found.group("rest")
        named = codes.match(rest)
        if named is None:
            return f"a bare {what}: name the codes it silences"
        if not _REASON.search(rest[named.end():]):
            return f"a {what} without its reason"
    return None


@pytest.mark.parametrize("line, lacks", [
    ("import uvloop  # no" "qa: F401 (imported to check it is installed)", None),
    ("x = f()  # type: ig" "nore[misc]  # frozen: the test", None),
    ("def do_GET(self):  # no" "qa: N802 - http.server's naming", None),
    ("import uvloop  # no" "qa: F401", "a noqa without its reason"),
    ("import uvloop  # no" "qa", "a bare noqa: name the codes it silences"),
    ("x = f()  # type: ig" "nore", "a bare type: ignore: name the codes it silences"),
    ("x = f()  # type: ig" "nore[misc]", "a type: ignore without its reason"),
    ("x = f()", None),
])
def test_the_rule_itself(line, lacks):
    assert unjustified(line) == lacks


def test_every_noqa_and_type_ignore_names_its_codes_and_says_why():
    problems = []
    for path in sources():
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if (lacks := unjustified(line)) is not None:
                problems.append(f"{path.relative_to(ROOT)}:{number}: {lacks}")
    assert problems == []


def test_make_lint_runs_ruff_and_mypy_and_ci_runs_it_before_the_tests():
    makefile = (ROOT / "Makefile").read_text("utf-8")
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check" in recipe and "mypy" in recipe
    ci = (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    assert ci.index("make lint") < ci.index("make test")


def test_the_public_api_is_type_checked_strictly():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert "monitor" in config["tool"]["mypy"]["files"]
    [api] = [o for o in config["tool"]["mypy"]["overrides"] if "monitor.api" in o["module"]]
    assert api["disallow_untyped_defs"] and api["disallow_any_generics"]
    assert api["warn_return_any"] and api["disallow_untyped_calls"]
    assert "disable_error_code" not in api and "ignore_errors" not in api
