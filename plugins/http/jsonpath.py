"""A small, safe JSON path for the ``json_path`` conditions: ``status.ok``, ``items[0].state``.

Dotted names, ``[index]`` (negative from the end) and ``["quoted.key"]``; a leading ``$`` is
accepted for people used to JSONPath. No filters, no wildcards, no ``eval``.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"""\.([^.\[\]"']+)|([^.\[\]"']+)|\[(-?\d+)\]|\["([^"]*)"\]|\['([^']*)'\]""")

MISSING = object()
"""Returned by :func:`lookup` when the path leads nowhere."""


def compile_path(path: str) -> tuple[str | int, ...]:
    """Parse ``a.b[0]["c.d"]`` into ``("a", "b", 0, "c.d")``.

    :raises ValueError: the path is not of that form.
    """
    text = path.strip()
    text = text.removeprefix("$")
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        # a bare name is only allowed first ("a.b", not "a[0]b")
        if match is None or (match.group(2) is not None and pos > 0):
            raise ValueError(f"invalid JSON path {path!r} (use e.g. status.ok or items[0].state)")
        dotted, bare, index, double, single = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(next(v for v in (dotted, bare, double, single) if v is not None))
        pos = match.end()
    if not steps:
        raise ValueError(f"invalid JSON path {path!r} (use e.g. status.ok or items[0].state)")
    return tuple(steps)


def lookup(document: Any, steps: tuple[str | int, ...]) -> Any:
    """The value at ``steps`` in a parsed JSON document, or :data:`MISSING`."""
    value = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return MISSING
        elif not isinstance(value, dict) or step not in value:
            return MISSING
        value = value[step]
    return value


def same_value(a: Any, b: Any) -> bool:
    """JSON equality, where ``true`` is not ``1`` (booleans only equal booleans)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return a == b
