"""No test asserts a bound on wall-clock time: on a busy machine such a test fails for no fault.

A test that needs time gives the code a clock it controls (the scheduler takes one, see
tests/monitor/test_scheduler.py) or waits on an event; how fast something is belongs to
bench/. This scan fails on an ``assert`` that compares, with a non-zero number, a value read
from a clock that measures durations: ``time.monotonic()``, ``time.perf_counter()``,
``loop.time()``, a name assigned from one of those (``start = time.monotonic()``,
``elapsed = time.perf_counter() - start``), a name containing ``elapsed``, or a run's
measured ``.duration``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
#: clock functions, as ``module.function`` or ``anything.function``
CLOCKS = {"monotonic", "perf_counter", "monotonic_ns", "perf_counter_ns"}
#: test file → (how many such asserts may stay, why); none today
ALLOWED: dict[str, tuple[int, str]] = {}
#: test file → how many asserts this scan found there when it came, not converted yet (to a
#: controlled clock, an event, or the reason that names which deadline fired). Counted per
#: file, not by line, so an edit above them does not break the scan; the counts may only
#: shrink (lower one when you convert an assert)
PENDING: dict[str, int] = {
    "tests/monitor/test_deadline.py": 1,
    "tests/monitor/test_metrics.py": 1,
    "tests/monitor/test_outbox.py": 1,
    "tests/monitor/test_store_writer.py": 2,
    "tests/plugins/test_deadman.py": 1,
    "tests/plugins/test_mysql.py": 4,
    "tests/plugins/test_nextcloud.py": 1,
    "tests/plugins/test_postgresql.py": 3,
    "tests/plugins/test_sympa.py": 2,
}


def _is_clock_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name in CLOCKS:
        return True
    # a loop's clock; not time.time(), which dates things (a certificate's expiry is
    # compared with it, give or take minutes), nor any .time() of a datetime
    return (name == "time" and isinstance(func, ast.Attribute) and not node.args
            and isinstance(func.value, ast.Name) and func.value.id == "loop")


def _clock_names(tree: ast.AST) -> set[str]:
    """Names assigned, anywhere in the file, from an expression that reads a clock."""
    names: set[str] = set()
    changed = True
    while changed:  # a name from a name from a clock is a clock name too
        changed = False
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if _reads_clock(node.value, names):
                    for target in targets:
                        for leaf in ast.walk(target):
                            if isinstance(leaf, ast.Name) and leaf.id not in names:
                                names.add(leaf.id)
                                changed = True
    return names


def _reads_clock(node: ast.AST, names: set[str]) -> bool:
    for leaf in ast.walk(node):
        if _is_clock_call(leaf):
            return True
        if isinstance(leaf, ast.Name) and (leaf.id in names or "elapsed" in leaf.id):
            return True
        if isinstance(leaf, ast.Attribute) and leaf.attr in ("duration", "elapsed"):
            return True
    return False


def _has_bound(compare: ast.Compare) -> bool:
    """An ordering comparison with a non-zero number in it."""
    if not any(isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in compare.ops):
        return False
    for side in (compare.left, *compare.comparators):
        for leaf in ast.walk(side):
            if isinstance(leaf, ast.Constant) and isinstance(leaf.value, (int, float)) \
                    and not isinstance(leaf.value, bool) and leaf.value != 0:
                return True
    return False


def wall_clock_asserts(source: str, filename: str = "<test>") -> list[int]:
    """Lines of the asserts in ``source`` that bound a wall-clock quantity."""
    tree = ast.parse(source, filename)
    names = _clock_names(tree)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            for compare in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
                if _has_bound(compare) and _reads_clock(compare, names):
                    lines.append(node.lineno)
                    break
    return sorted(lines)


def _found() -> dict[str, list[int]]:
    found = {}
    for path in sorted(TESTS.rglob("*.py")):
        lines = wall_clock_asserts(path.read_text(encoding="utf-8"), str(path))
        if lines:
            found[str(path.relative_to(TESTS.parent))] = lines
    return found


def test_no_test_asserts_a_wall_clock_bound():
    over = {}
    for where, lines in _found().items():
        allowed = ALLOWED.get(where, (0, ""))[0] + PENDING.get(where, 0)
        if len(lines) > allowed:
            over[where] = lines
    assert over == {}, "assert on elapsed wall-clock time (use a controlled clock or bench/)"


def test_the_pending_counts_only_shrink():
    """A converted assert lowers its file's count (so a new one cannot take its place)."""
    found = _found()
    assert {where: len(found.get(where, [])) for where in PENDING} == PENDING


@pytest.mark.parametrize("source, lines", [
    ("import time\nstart = time.monotonic()\nx()\nassert time.monotonic() - start < 1\n", [4]),
    ("elapsed = f()\nassert elapsed < 0.5\n", [2]),
    ("t0 = time.perf_counter()\nd = time.perf_counter() - t0\nassert 0.3 <= d\n", [3]),
    ("assert 0 < result.duration < 1\n", [1]),
    ("start = loop.time()\nassert loop.time() - start >= 0.2\n", [2]),
    # what stays allowed: no clock, or no bound
    ("assert result.duration >= 0\n", []),
    ("assert check.timeout < 5\n", []),
    ("x = time.monotonic()\nassert x\n", []),
    ("assert when.time() < noon\n", []),
    ("assert abs(expiry - (time.time() + 90 * DAY)) < 120\n", []),
])
def test_the_scan_finds_bounds_on_clocks_and_only_those(source, lines):
    assert wall_clock_asserts(source) == lines
