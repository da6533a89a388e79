"""No test asserts a bound on wall-clock time or sleeps to wait: on a busy machine such a
test fails (or slows) for no fault.

A test that needs time gives the code a clock it controls (the scheduler takes one, see
tests/monitor/test_scheduler.py) or waits on an event; how fast something is belongs to
bench/. This scan fails on an ``assert`` that compares, with a non-zero number, a value read
from a clock that measures durations: ``time.monotonic()``, ``time.perf_counter()``,
``loop.time()``, a name assigned from one of those (``start = time.monotonic()``,
``elapsed = time.perf_counter() - start``), a name containing ``elapsed``, or a run's
measured ``.duration``.

A second scan fails on a ``time.sleep(…)`` or ``asyncio.sleep(…)`` whose delay is not 0:
a test waits on an event, a condition or a clock it moves. ``asyncio.sleep(0)`` (one turn
of the loop) stays allowed, and so does a sleep that plays a slow or hung peer (a local
test server that answers late, a plugin that never returns, a sender pausing between
segments) when its line says so with a comment: ``# slow peer`` or ``# hung peer``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
#: clock functions, as ``module.function`` or ``anything.function``
CLOCKS = {"monotonic", "perf_counter", "monotonic_ns", "perf_counter_ns"}
#: test file → (how many such asserts may stay, why); none today
ALLOWED: dict[str, tuple[int, str]] = {}
#: the comment that marks a sleep playing a slow or hung peer, on the sleep's line
PEER_SLEEP = re.compile(r"#\s*(slow|hung) peer\b")


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


def waiting_sleeps(source: str, filename: str = "<test>") -> list[int]:
    """Lines of ``source`` that sleep a non-zero time without the slow/hung peer mark."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "sleep" and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("time", "asyncio")):
            continue
        delay = node.args[0] if node.args else None
        if isinstance(delay, ast.Constant) and delay.value == 0:
            continue
        if PEER_SLEEP.search(lines[node.lineno - 1]):
            continue
        found.append(node.lineno)
    return sorted(found)


def _found(scan=wall_clock_asserts) -> dict[str, list[int]]:
    found = {}
    for path in sorted(TESTS.rglob("*.py")):
        lines = scan(path.read_text(encoding="utf-8"), str(path))
        if lines:
            found[str(path.relative_to(TESTS.parent))] = lines
    return found


def test_no_test_asserts_a_wall_clock_bound():
    over = {}
    for where, lines in _found().items():
        if len(lines) > ALLOWED.get(where, (0, ""))[0]:
            over[where] = lines
    assert over == {}, "assert on elapsed wall-clock time (use a controlled clock or bench/)"


def test_no_test_sleeps_to_wait():
    assert _found(waiting_sleeps) == {}, (
        "a test sleeps to wait: wait on an event or a condition, or move a clock the code "
        "takes (a sleep playing a slow peer says so: '# slow peer')")


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


@pytest.mark.parametrize("source, lines", [
    ("import time\ntime.sleep(0.2)\n", [2]),
    ("async def f():\n    await asyncio.sleep(0.01)\n", [2]),
    ("async def f(d):\n    await asyncio.sleep(d)\n", [2]),
    ("time.sleep(1)  # a few retries\n", [1]),
    # what stays allowed: one turn of the loop, a peer that is slow on purpose
    ("async def f():\n    await asyncio.sleep(0)\n", []),
    ("async def h(request):\n    await asyncio.sleep(5)  # hung peer\n", []),
    ("time.sleep(0.001)  # slow peer: its own segment\n", []),
    ("await trio.sleep(1)\n", []),
])
def test_the_sleep_scan_finds_waits_and_only_those(source, lines):
    assert waiting_sleeps(source) == lines
