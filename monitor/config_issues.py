"""What can be wrong with a configuration file, and how an error says it.

A problem is a :class:`ConfigIssue` (line, key path, message); :class:`ConfigError` lists
them. The file is trusted to be a configuration, not to be well-behaved: the readings
(:mod:`monitor.config_yaml`) refuse what would exhaust time, memory or the stack before
building anything from it (a file over :data:`MAX_FILE_BYTES`, nesting deeper than
:data:`MAX_DEPTH`, aliases expanding to more than :data:`MAX_ALIAS_VALUES` values: the
"billion laughs"), with :class:`Refused`. A value taken from environment variables
(:func:`interpolate`) is never repeated in an error (:class:`Interpolated`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

#: a larger file is refused unread (far above 100,000 checks; sizes in docs/performance.md)
MAX_FILE_BYTES = 32 * 2**20
#: lists and mappings nested deeper are refused (a real configuration stays under 10)
MAX_DEPTH = 64
#: values that aliases (``*name``) may bring in, over the whole file
MAX_ALIAS_VALUES = 1_000_000
#: a key or value quoted in an error is cut to this many characters
MAX_QUOTED = 60
#: the problems said when a reading refuses the file for its nesting or its aliases
TOO_DEEP = (f"nested more than {MAX_DEPTH} levels deep (an unclosed '[' or '{{'?); "
            "a configuration never needs this many")
TOO_MANY_ALIASES = (f"aliases expand to more than {MAX_ALIAS_VALUES:,} values; write the "
                    "repeated values out, or use fewer aliases")


@dataclass(frozen=True, slots=True)


class ConfigIssue:
    """One problem found in the file."""

    line: int | None
    loc: Loc
    message: str

    def render(self, path: Path) -> str:
        """``file:line: key.path: message`` (a long key path shortened)."""
        where = f"{path}:{self.line}" if self.line else str(path)
        loc = self.loc if len(self.loc) <= 8 else (*self.loc[:6], "…")
        key = format_loc(tuple(shorten(p) if isinstance(p, str) else p for p in loc))
        return f"{where}: {key}: {self.message}" if key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration file is invalid; ``str()`` lists every problem, one per line."""

    def __init__(self, path: Path, issues: list[ConfigIssue]) -> None:
        self.path = path
        self.issues = sorted(issues, key=lambda i: (i.line or 0, format_loc(i.loc)))
        super().__init__("\n".join(i.render(path) for i in self.issues))


def unknown_name(what: str, name: str, known: set[str], loc: Loc, line: int | None
                 ) -> ConfigIssue:
    """``unknown group 'hostin' (did you mean 'hosting'?)`` at ``loc`` (on ``line``)."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = (f"did you mean {close[0]!r}?" if close
            else f"known: {', '.join(names)}" if names
            else f"no {what} is defined under '{what}s'")
    return ConfigIssue(line, loc, f"unknown {what} {quote(name)} ({hint})")


def shorten(text: str) -> str:
    """``text`` cut to :data:`MAX_QUOTED` characters for an error message."""
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED - 1] + "…"


def quote(value: Any) -> str:
    """``repr(value)`` cut to :data:`MAX_QUOTED` characters, for an error message."""
    text = repr(value)
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED - 3] + "..."


def format_loc(loc: Loc) -> str:
    """``('services', 0, 'checks', 1, 'url')`` → ``services[0].checks[1].url``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


#: hints for the YAML mistakes people make most
_YAML_HINTS = (
    ("while scanning a quoted scalar", "a quoted value is not closed: add the missing quote"),
    ("mapping values are not allowed here",
     "a ':' inside a value: put the value in quotes, or check the indentation"),
    ("that cannot start any token", "indent with spaces, not tabs"),
    ("expected <block end>", "check the indentation of this line and the ones above"),
    ("did not find expected key", "check the indentation of this line and the ones above"),
    ("did not find expected '-' indicator", "check the indentation of this list"),
)


def yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    """The line and message for a YAML syntax error.

    An unclosed quote or bracket is only noticed at the end of the file: the line where it
    opened (PyYAML's *context*) is then the useful one.
    """
    problem = exc.problem or exc.context or "invalid YAML"
    mark = exc.problem_mark or exc.context_mark
    if exc.context_mark is not None and "end of stream" in problem:
        mark = exc.context_mark
    text = f"{exc.context or ''} {problem}"
    hint = next((h for needle, h in _YAML_HINTS if needle in text), None)
    message = f"invalid YAML: {problem}" + (f" ({hint})" if hint else "")
    return (mark.line + 1 if mark else None), message


class Refused(Exception):
    """The file exceeds a limit: refused with this problem, whichever reader found it."""

    def __init__(self, line: int | None, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.issue = ConfigIssue(line, loc, message)


@dataclass(frozen=True, slots=True)


class Interpolated:
    """A value made with environment variables: an error never repeats it (a variable
    is how secrets are given), it names the variables instead."""

    #: the variables whose value was used, in order
    names: tuple[str, ...]
    #: the value once interpolated
    value: str
    #: the variables' values
    parts: tuple[str, ...]

    def describe(self) -> str:
        """``the value given by ${NAME}`` (what an error says instead of the value)."""
        return "the value given by " + " and ".join(f"${{{n}}}" for n in self.names)


def interpolate(value: str, loc: Loc, line: int,
                 issue: Callable[[int | None, Loc, str], None], unreliable: set[Loc],
                 interpolated: dict[Loc, Interpolated]) -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}``; an unset variable is an issue, a value
    taken from the environment is noted in ``interpolated``."""
    if "${" not in value:
        return value
    names: list[str] = []
    parts: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            names.append(name)
            parts.append(os.environ[name])
            return os.environ[name]
        if default is not None:
            return default
        issue(line, loc, f"environment variable {name} is not set")
        unreliable.add(loc)
        return ""

    result = _ENV_REF.sub(replace, value)
    if names:
        interpolated[loc] = Interpolated(tuple(dict.fromkeys(names)), result, tuple(parts))
    return result
