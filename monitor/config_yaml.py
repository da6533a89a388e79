"""The two readings of ``vigie.yaml``: from the parser's events, and node by node.

The document is read from the YAML parser's events (libyaml's when PyYAML has it), never
as a tree of nodes: for 100,000 checks a node tree costs about 270 MB and 25 s of pure
Python, the events a few seconds and nothing that outlives the read
(:class:`EventReader`). Lines are only needed to explain an error, so they come from a
second, node-based reading (:class:`NodeReader`, the reference behaviour, also used when
the file is not valid YAML so that errors read exactly the same whatever the parser).
Both refuse what exceeds the limits of :mod:`monitor.config_issues`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from monitor.config_issues import (
    MAX_ALIAS_VALUES,
    MAX_DEPTH,
    TOO_DEEP,
    TOO_MANY_ALIASES,
    ConfigError,
    ConfigIssue,
    Interpolated,
    Loc,
    Refused,
    interpolate,
    quote,
    yaml_problem,
)

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
#: libyaml's loader when PyYAML has it, for the event reading
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: texts up to this length are interned (shared) when read
_INTERN_UP_TO = 24


class Unusual(Exception):
    """A shape the event reader leaves to the node reader (aliases as keys, several
    documents, anchors reused or recursive)."""


class EventReader:
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
                raise Unusual("several documents")
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
                raise Unusual("undefined or recursive alias")
            self._expanded += self._sizes[event.anchor]
            if self._expanded > MAX_ALIAS_VALUES:
                raise Refused(event.start_mark.line + 1, loc, TOO_MANY_ALIASES)
            self._replay.extend(reversed(events))
            return self._node(self._next(), loc)
        anchor = None if self._replayed else getattr(event, "anchor", None)
        if anchor is None:
            return self._value(event, loc)
        if anchor in self._anchors or any(r[0].anchor == anchor for r in self._recording):
            raise Unusual("anchor defined twice")
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
                value = interpolate(value, loc, event.start_mark.line + 1, self._issue,
                                    self._unreliable, self._interpolated)
            return value
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise Refused(event.start_mark.line + 1, loc, TOO_DEEP)
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
                raise Unusual("alias or anchor on a key")
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

        :raises Unusual: it defines an anchor (which a later alias may need).
        """
        depth = 0
        while True:
            if not self._replayed and _anchored(event):
                raise Unusual("anchor inside a value not read")
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                # a value not read is still read again for its lines, node by node
                if self._depth + depth > MAX_DEPTH:
                    raise Refused(event.start_mark.line + 1, loc, TOO_DEEP)
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


class GuardedLoader(yaml.SafeLoader):
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
                raise Refused(self.peek_event().start_mark.line + 1, tuple(self.loc), TOO_DEEP)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1
            if pushed:
                self.loc.pop()


class NodeReader:
    """The reference reading: a node tree, every key path's line recorded.

    With :class:`GuardedLoader` it enforces the limits itself; with another loader, the
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
                raise Refused(node.start_mark.line + 1, loc, TOO_MANY_ALIASES)
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
            value = interpolate(value, loc, node.start_mark.line + 1, self._issue,
                                self._unreliable, self._interpolated)
        return value
