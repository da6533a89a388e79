"""Reading ``vigie.yaml`` into plain data, with the line of every key path on demand.

The document is read from the YAML parser's events (libyaml's when PyYAML has it), never
as a tree of nodes: for 100,000 checks a node tree costs about 270 MB and 25 s of pure
Python, the events a few seconds and nothing that outlives the read. Lines are only
needed to explain an error, so :attr:`ConfigSource.lines` is computed the first time it
is asked for, by a second, node-based reading (the reference behaviour, also used when the
file is not valid YAML so that errors read exactly the same whatever the parser).

A configuration file is trusted to be a configuration, not to be well-behaved: both
readings refuse what would exhaust time, memory or the stack before building anything
from it (a file over :data:`MAX_FILE_BYTES`, nesting deeper than :data:`MAX_DEPTH`, aliases
expanding to more than :data:`MAX_ALIAS_VALUES` values: the "billion laughs").
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: texts up to this length are interned (shared) when read
_INTERN_UP_TO = 24

#: a larger file is refused unread (far above 100,000 checks; sizes in docs/performance.md)
MAX_FILE_BYTES = 32 * 2**20
#: lists and mappings nested deeper are refused (a real configuration stays under 10)
MAX_DEPTH = 64
#: values that aliases (``*name``) may bring in, over the whole file
MAX_ALIAS_VALUES = 1_000_000
#: a key or value quoted in an error is cut to this many characters
MAX_QUOTED = 60
_TOO_DEEP = (f"nested more than {MAX_DEPTH} levels deep (an unclosed '[' or '{{'?); "
             "a configuration never needs this many")
_TOO_MANY_ALIASES = (f"aliases expand to more than {MAX_ALIAS_VALUES:,} values; write the "
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


def read_config_text(path: Path) -> str:
    """The text of the configuration file at ``path``.

    :raises ConfigError: unreadable, larger than :data:`MAX_FILE_BYTES` (checked while
        reading: a device or a pipe has no size), or not UTF-8.
    """
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(path, [ConfigIssue(None, (), f"cannot read file: {exc.strerror}")]
                          ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(path, [ConfigIssue(None, (), (
            f"file too large: at most {MAX_FILE_BYTES // 2**20} MiB is read "
            "(100,000 checks take about 7 MiB)"))])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(path, [ConfigIssue(line, (), (
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} in column {column}): save the "
            "file as UTF-8"))]) from None


class _Refused(Exception):
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


class ConfigSource:
    """The parsed YAML document, the problems found while reading it, and its lines.

    :raises ConfigError: the file is not valid YAML, or exceeds a limit (see the module).
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.issues: list[ConfigIssue] = []
        #: key paths whose value is already reported (duplicate key, unset variable)
        self.unreliable: set[Loc] = set()
        #: key paths whose value came (partly) from environment variables
        self.interpolated: dict[Loc, Interpolated] = {}
        self._lines: dict[Loc, int] | None = None
        try:
            try:
                self.data = _EventReader(_FAST_LOADER(text), self.issues, self.unreliable,
                                         self.interpolated).read()
            except (yaml.YAMLError, _Unusual):
                # rare shapes (and errors, whose wording differs between parsers): the
                # reference reading decides, with PyYAML's own parser
                self.issues.clear()
                self.unreliable.clear()
                self.interpolated.clear()
                self._lines = {}
                self.data = _NodeReader(_GuardedLoader, self.path, self._lines, self.issues,
                                        self.unreliable, self.interpolated).read(text)
        except _Refused as exc:
            raise ConfigError(path, [exc.issue]) from None

    @property
    def lines(self) -> dict[Loc, int]:
        """The line of every key path (and list item) in the file; computed on first use.

        The event reading already refused what could make this reading deep or large.
        """
        if self._lines is None:
            lines: dict[Loc, int] = {}
            _NodeReader(_FAST_LOADER, self.path, lines, [], set()).read(self.text)
            self._lines = lines
        return self._lines

    def line_of(self, loc: Loc) -> int | None:
        """Line of the deepest part of ``loc`` present in the file (a secret given by
        ``<key>_file`` is where that key is)."""
        lines = self.lines
        if loc and isinstance(loc[-1], str) and loc not in lines:
            by_file = (*loc[:-1], f"{loc[-1]}_file")
            if by_file in lines:
                return lines[by_file]
        for end in range(len(loc), -1, -1):
            if loc[:end] in lines:
                return lines[loc[:end]]
        return None


def _interpolate(value: str, loc: Loc, line: int,
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


class _Unusual(Exception):
    """A shape the event reader leaves to the node reader (aliases as keys, several
    documents, anchors reused or recursive)."""


class _EventReader:
    """Builds the data from parser events: no node tree, no line table.

    An anchored node's events are kept and replayed where it is aliased (as raw events:
    an alias inside them is expanded again at replay, anchors inside them are not
    redefined).
    """

    def __init__(self, loader: Any, issues: list[ConfigIssue], unreliable: set[Loc],
                 interpolated: dict[Loc, Interpolated] | None = None) -> None:
        self._loader = loader
        self._issues = issues
        self._unreliable = unreliable
        self._interpolated = {} if interpolated is None else interpolated
        self._constructor = yaml.constructor.SafeConstructor()
        self._resolver = yaml.resolver.Resolver()
        self._anchors: dict[str, list[yaml.Event]] = {}
        #: values each anchored node holds (what an alias to it brings in)
        self._sizes: dict[str, int] = {}
        #: values brought in by aliases so far
        self._expanded = 0
        #: lists and mappings open around the current event
        self._depth = 0
        #: events of the anchored nodes being read (raw, as the parser gave them)
        self._recording: list[list[yaml.Event]] = []
        #: events to give before the parser's (an alias being expanded), last first
        self._replay: list[yaml.Event] = []
        #: the last event given came from a replay
        self._replayed = False

    def read(self) -> Any:
        """The document's data (an empty mapping for an empty file)."""
        try:
            self._next()  # StreamStartEvent
            if isinstance(self._peek(), yaml.StreamEndEvent):
                return {}
            self._next()  # DocumentStartEvent
            data = self._node(self._next(), ())
            self._next()  # DocumentEndEvent
            if not isinstance(self._next(), yaml.StreamEndEvent):
                raise _Unusual("several documents")
            return data
        finally:
            self._loader.dispose()

    def _peek(self) -> yaml.Event:
        return self._replay[-1] if self._replay else self._loader.peek_event()

    def _next(self) -> yaml.Event:
        if self._replay:
            self._replayed = True
            return self._replay.pop()
        self._replayed = False
        event = self._loader.get_event()
        for recording in self._recording:
            recording.append(event)
        return event

    def _issue(self, line: int | None, loc: Loc, message: str) -> None:
        self._issues.append(ConfigIssue(line, loc, message))

    def _node(self, event: yaml.Event, loc: Loc) -> Any:
        if isinstance(event, yaml.AliasEvent):
            events = self._anchors.get(event.anchor)
            if events is None:
                raise _Unusual("undefined or recursive alias")
            self._expanded += self._sizes[event.anchor]
            if self._expanded > MAX_ALIAS_VALUES:
                raise _Refused(event.start_mark.line + 1, loc, _TOO_MANY_ALIASES)
            self._replay.extend(reversed(events))
            return self._node(self._next(), loc)
        anchor = None if self._replayed else getattr(event, "anchor", None)
        if anchor is None:
            return self._value(event, loc)
        if anchor in self._anchors or any(r[0].anchor == anchor for r in self._recording):
            raise _Unusual("anchor defined twice")
        recording = [event]
        self._recording.append(recording)
        try:
            value = self._value(event, loc)
        finally:
            self._recording.pop()  # recordings nest: this one is the last
        self._anchors[anchor] = recording
        self._sizes[anchor] = sum(isinstance(e, _VALUE_EVENTS) for e in recording)
        return value

    def _value(self, event: yaml.Event, loc: Loc) -> Any:
        if isinstance(event, yaml.ScalarEvent):
            value = self._scalar(event)
            if isinstance(value, str):
                value = _interpolate(value, loc, event.start_mark.line + 1, self._issue,
                                     self._unreliable, self._interpolated)
            return value
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(event.start_mark.line + 1, loc, _TOO_DEEP)
            if isinstance(event, yaml.SequenceStartEvent):
                out: list[Any] = []
                while not isinstance(self._peek(), yaml.SequenceEndEvent):
                    out.append(self._node(self._next(), (*loc, len(out))))
                self._next()
                return out
            return self._mapping(loc)
        finally:
            self._depth -= 1

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _STR:
            value = event.value
            # short texts repeat (kinds, ids, flags): one shared copy each
            return sys.intern(value) if len(value) <= _INTERN_UP_TO else value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return self._constructor.construct_object(node, deep=True)
        finally:
            self._constructor.constructed_objects.clear()

    def _mapping(self, loc: Loc) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        while not isinstance(self._peek(), yaml.MappingEndEvent):
            key_event = self._next()
            line = key_event.start_mark.line + 1
            key = None
            if isinstance(key_event, yaml.AliasEvent) or (
                    not self._replayed and _anchored(key_event)):
                raise _Unusual("alias or anchor on a key")
            if isinstance(key_event, yaml.ScalarEvent):
                key = sys.intern(key_event.value)  # kept in every model's extra keys
                tag = key_event.tag
                if tag is None or tag == "!":
                    tag = self._resolver.resolve(yaml.ScalarNode, key, key_event.implicit)
                if tag == _MERGE:
                    key = None
            else:
                self.skip(key_event, loc)
            if key is None:
                self._issue(line, loc, "unsupported YAML key")
                self.skip(self._next(), loc)
                continue
            child = (*loc, key)
            if key in first_line:
                self._issue(line, child, f"duplicate key {quote(key)} (first given on line "
                                         f"{first_line[key]}; only one value is allowed)")
                self._unreliable.add(child)
                self.skip(self._next(), child)
                continue
            first_line[key] = line
            out[key] = self._node(self._next(), child)
        self._next()
        return out

    def skip(self, event: yaml.Event, loc: Loc = ()) -> None:
        """Consume the node ``event`` starts (at ``loc``) without reading its value.

        :raises _Unusual: it defines an anchor (which a later alias may need).
        """
        depth = 0
        while True:
            if not self._replayed and _anchored(event):
                raise _Unusual("anchor inside a value not read")
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                # a value not read is still read again for its lines, node by node
                if self._depth + depth > MAX_DEPTH:
                    raise _Refused(event.start_mark.line + 1, loc, _TOO_DEEP)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            if depth == 0:
                return
            event = self._next()

    def top_level(self, key: str) -> Any:
        """The value of top-level ``key``, skipping every other value.

        :raises KeyError: no such key (or the document is not a mapping).
        """
        try:
            for expected in (yaml.StreamStartEvent, yaml.DocumentStartEvent,
                             yaml.MappingStartEvent):
                if not isinstance(self._next(), expected):
                    raise KeyError(key)
            while not isinstance(self._peek(), yaml.MappingEndEvent):
                key_event = self._next()
                if isinstance(key_event, yaml.ScalarEvent) and key_event.value == key:
                    return self._node(self._next(), (key,))
                self.skip(key_event)
                self.skip(self._next(), (getattr(key_event, "value", ""),))
            raise KeyError(key)
        finally:
            self._loader.dispose()


#: events that are a value (what :data:`MAX_ALIAS_VALUES` counts)
_VALUE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent,
                 yaml.AliasEvent)


def _anchored(event: yaml.Event) -> bool:
    """``event`` starts a node that defines an anchor."""
    return getattr(event, "anchor", None) is not None and not isinstance(event, yaml.AliasEvent)


class _GuardedLoader(yaml.SafeLoader):
    """PyYAML's own loader, refusing nesting deeper than :data:`MAX_DEPTH` while it
    composes (composing recurses once per level), and noting the nodes aliases point to
    (building them again is what :data:`MAX_ALIAS_VALUES` counts)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        #: key path of the collection being composed (for the error)
        self.loc: list[str | int] = []
        self.depth = 0
        #: ids of the nodes an alias points to
        self.alias_targets: set[int] = set()

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, nesting and aliases counted."""
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self.alias_targets.add(id(node))
            return node
        if not self.check_event(yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        # ``index``: the key's node in a mapping, the position in a list
        part = index.value if isinstance(index, yaml.ScalarNode) else index
        pushed = parent is not None and isinstance(part, (str, int))
        if pushed:
            self.loc.append(part)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(self.peek_event().start_mark.line + 1, tuple(self.loc),
                               _TOO_DEEP)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1
            if pushed:
                self.loc.pop()


class _NodeReader:
    """The reference reading: a node tree, every key path's line recorded.

    With :class:`_GuardedLoader` it enforces the limits itself; with another loader, the
    event reading must have checked the text first.
    """

    def __init__(self, loader_class: type, path: Path, lines: dict[Loc, int],
                 issues: list[ConfigIssue], unreliable: set[Loc],
                 interpolated: dict[Loc, Interpolated] | None = None) -> None:
        self._loader_class = loader_class
        self._path = path
        self.lines = lines
        self._issues = issues
        self._unreliable = unreliable
        self._interpolated = {} if interpolated is None else interpolated
        self._alias_targets: set[int] = set()
        self._built_targets: set[int] = set()
        self._expanded = 0

    def read(self, text: str) -> Any:
        """The document's data; YAML errors become a :class:`ConfigError`."""
        loader = self._loader_class(text)
        try:
            node = loader.get_single_node()
            self._alias_targets = getattr(loader, "alias_targets", set())
            return self._build(node, ()) if node is not None else {}
        except yaml.MarkedYAMLError as exc:
            line, message = yaml_problem(exc)
            raise ConfigError(self._path, [ConfigIssue(line, (), message)]) from None
        finally:
            loader.dispose()

    def _issue(self, line: int | None, loc: Loc, message: str) -> None:
        self._issues.append(ConfigIssue(line, loc, message))

    def _build(self, node: yaml.Node, loc: Loc, aliased: bool = False) -> Any:
        if not aliased and id(node) in self._alias_targets:
            # the first visit is the anchor's own place, the next ones are aliases
            aliased = id(node) in self._built_targets
            self._built_targets.add(id(node))
        if aliased:
            self._expanded += 1
            if self._expanded > MAX_ALIAS_VALUES:
                raise _Refused(node.start_mark.line + 1, loc, _TOO_MANY_ALIASES)
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is None or key_node.tag == _MERGE:
                    self._issue(key_node.start_mark.line + 1, loc, "unsupported YAML key")
                    continue
                child = (*loc, key)
                if key in out:
                    self._issue(key_node.start_mark.line + 1, child,
                                f"duplicate key {quote(key)} (first given on line "
                                f"{self.lines[child]}; only one value is allowed)")
                    self._unreliable.add(child)
                    continue
                self.lines[child] = key_node.start_mark.line + 1
                out[key] = self._build(value_node, child, aliased)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*loc, i), aliased) for i, item in enumerate(node.value)]
        value = yaml.constructor.SafeConstructor().construct_object(node, deep=True)
        if isinstance(value, str):
            value = _interpolate(value, loc, node.start_mark.line + 1, self._issue,
                                 self._unreliable, self._interpolated)
        return value


def read_top_level(path: Path, key: str) -> Any:
    """The value of one top-level key of a YAML file, without reading the others.

    :raises ConfigError, yaml.YAMLError, KeyError: unreadable or refused file (see
        :func:`read_config_text`, :class:`ConfigSource`), invalid YAML, no such key.
    """
    text = read_config_text(path)
    try:
        return _EventReader(_FAST_LOADER(text), [], set()).top_level(key)
    except _Refused as exc:
        raise ConfigError(path, [exc.issue]) from None
    except _Unusual:
        return ConfigSource(path, text).data[key]
