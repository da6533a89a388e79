"""Statuses are ranked in one place: :mod:`monitor.status`.

Seven tables once ranked statuses and impacts, each a little differently (``unknown`` just
above ``up`` in one, level with ``degraded`` in another, missing in a third). This scan
fails when a module outside :mod:`monitor.status` writes a ranking of its own:

- a dict literal from status labels or members to integers (a rank table);
- a list or tuple literal of three or more status labels or members (an order), except
  a membership test (``x in (...)``) and a ``Literal[...]`` of config labels;
- ``max``/``min``/``sorted`` keyed on a status's ``code`` or ``value`` (storage contracts,
  not the order).

Mapping statuses to another vocabulary (words, colours, Apprise types, exit codes) is not
ranking and is not flagged.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from monitor.status import ServiceStatus, Status

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitor", "plugins", "dashboard", "docs_bridge", "tickets_bridge")
#: the one module allowed to rank statuses
ALLOWED = {"monitor/status.py"}
LABELS = {s.label for s in Status} | {s.label for s in ServiceStatus}
MEMBERS = {s.name for s in Status} | {s.name for s in ServiceStatus}
ENUMS = {"Status", "ServiceStatus", "S"}


def _names_status(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in LABELS
    return (isinstance(node, ast.Attribute) and node.attr in MEMBERS
            and isinstance(node.value, ast.Name) and node.value.id in ENUMS)


def own_rankings(source: str) -> list[int]:
    """Lines of ``source`` that rank statuses on their own."""
    tree = ast.parse(source)
    exempt: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            exempt.update(id(c) for c in node.comparators)
        elif isinstance(node, ast.Subscript):
            exempt.add(id(node.slice))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = [k for k in node.keys if k is not None]
            if (len(keys) >= 2 and all(_names_status(k) for k in keys)
                    and all(isinstance(v, ast.Constant) and type(v.value) is int
                            for v in node.values)):
                lines.append(node.lineno)
        elif isinstance(node, (ast.List, ast.Tuple)) and id(node) not in exempt:
            if len(node.elts) >= 3 and all(_names_status(e) for e in node.elts):
                lines.append(node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in {"max", "min", "sorted"}):
            for keyword in node.keywords:
                if keyword.arg == "key" and any(
                        isinstance(leaf, ast.Attribute) and leaf.attr in {"code", "value"}
                        for leaf in ast.walk(keyword.value)):
                    lines.append(node.lineno)
    return lines


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in rel and rel not in ALLOWED:
                yield rel, path


def test_no_module_ranks_statuses_on_its_own():
    found = {rel: lines for rel, path in _modules()
             if (lines := own_rankings(path.read_text(encoding="utf-8")))}
    assert found == {}, ("rank statuses with monitor.status (worst, <, >=), not a table "
                         f"of your own: {found}")


@pytest.mark.parametrize("source", [
    # the shapes the old tables had
    '_SEVERITY = {"degraded": 1, "partial_outage": 2, "major_outage": 3}',
    '_IMPACT_RANK = {"degraded": 1, "unknown": 1, "partial_outage": 2, "major_outage": 3}',
    "SEVERITY = {Status.UP: 0, Status.UNKNOWN: 1, Status.DEGRADED: 2, Status.DOWN: 3}",
    "ORDER = [ServiceStatus.OPERATIONAL, ServiceStatus.MAINTENANCE, ServiceStatus.UNKNOWN]",
    'IMPACTS = ("degraded", "partial_outage", "major_outage")',
    "worst = max(broken, key=lambda status: status.code)",
])
def test_the_scan_sees_a_ranking_table(source):
    assert own_rankings(source) == [1]


@pytest.mark.parametrize("source", [
    "if status in (Status.DOWN, Status.DEGRADED, Status.UNKNOWN): pass",
    'Level = Literal["degraded", "partial_outage", "major_outage"]',
    'WORDS = {"up": _("working"), "down": _("not working")}',
    "EXIT = {Status.UP: EXIT_OK, Status.DOWN: EXIT_DOWN}",
    "WEIGHTS = {S.OPERATIONAL: 1.0, S.MAJOR_OUTAGE: 0.0}",
    "worst = max(broken)",
])
def test_the_scan_lets_mappings_and_membership_pass(source):
    assert own_rankings(source) == []
