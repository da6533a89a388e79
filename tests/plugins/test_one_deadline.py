"""The run's deadline is the runner's: no probe computes a time budget of its own.

Probes bound their waits with ``ctx.remaining()`` (docs/plugins.md, "The run's deadline");
``ctx.timeout`` is only the figure a timeout reason names. This scan fails when a module
of plugins/ does arithmetic on ``ctx.timeout``, hands it to something that limits time,
or defines a deadline, clock or budget of its own (eight formulas and four deadline
classes were once spread over the probes, each a little different).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
#: calls that limit time: ``ctx.timeout`` handed to one of these is a budget of its own
LIMITING = {"timeout", "timeout_at", "wait_for", "ClientTimeout", "deadline", "min", "max",
            "call_later", "sleep"}
#: names of classes and functions that would be a second deadline
SECOND_DEADLINE = re.compile(r"(?i)^_?(deadline|clock|budget|time_budget)$")


def _is_ctx_timeout(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "timeout"
            and isinstance(node.value, ast.Name) and node.value.id == "ctx")


def own_budgets(source: str) -> list[int]:
    """Lines of ``source`` that compute a probe's time from ``ctx.timeout`` or define a
    deadline of their own."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.BinOp, ast.Compare)) and any(
                _is_ctx_timeout(leaf) for leaf in ast.walk(node)):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            if (name in LIMITING or "budget" in name.lower()
                    or SECOND_DEADLINE.match(name) or SECOND_DEADLINE.match(owner)) and any(
                    _is_ctx_timeout(arg) for arg in ast.walk(node) if arg is not node):
                lines.append(node.lineno)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if SECOND_DEADLINE.match(node.name):
                lines.append(node.lineno)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and "BUDGET" in target.id:
                    lines.append(node.lineno)
    return sorted(set(lines))


def test_no_probe_computes_its_own_time_budget():
    found = {}
    for path in sorted(PLUGINS.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "ProbeContext" not in source:
            continue  # not a probe (a notifier keeps its own clock for its own timers)
        lines = own_budgets(source)
        if lines:
            found[str(path.relative_to(PLUGINS.parent))] = lines
    assert found == {}, "use ctx.remaining(): the runner sets every probe's deadline"


@pytest.mark.parametrize("source, lines", [
    # the formulas this scan replaced
    ("budget = max(ctx.timeout * 0.9, ctx.timeout - 1.0)\n", [1]),
    ("async def f():\n    async with asyncio.timeout(_budget(ctx.timeout)):\n        pass\n",
     [2]),
    ("d = Deadline.for_timeout(ctx.timeout)\n", [1]),
    ("class _Deadline:\n    pass\n", [1]),
    ("def budget(timeout):\n    return timeout * 0.8\n", [1]),
    ("class Clock:\n    pass\n", [1]),
    ("TIME_BUDGET = 0.9\n", [1]),
    ("t = aiohttp.ClientTimeout(total=ctx.timeout)\n", [1]),
    # what stays allowed: naming the timeout, reading the deadline
    ("raise ProbeFailed(reason('x.timeout', _('within {s} s', s=Number(ctx.timeout))))\n", []),
    ("async def f():\n    async with asyncio.timeout(ctx.remaining()):\n        pass\n", []),
    ("limit = min(config.query_timeout, ctx.remaining())\n", []),
])
def test_the_scan_finds_budgets_and_only_those(source, lines):
    assert own_budgets(source) == lines
