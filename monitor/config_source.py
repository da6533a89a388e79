"""Reading ``vigie.yaml`` into plain data, with the line of every key path on demand.

:class:`ConfigSource` reads the document from the parser's events, and the lines
(:attr:`ConfigSource.lines`) the first time they are asked for, by a second, node-based
reading (:mod:`monitor.config_yaml` holds both). A rare shape, or a file that is not valid
YAML, is read by the node-based reading alone, so that errors read exactly the same
whatever the parser. What the file may not exceed, and how problems are said, is
:mod:`monitor.config_issues`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitor.config_issues import (
    MAX_FILE_BYTES,
    ConfigError,
    ConfigIssue,
    Interpolated,
    Loc,
    Refused,
)
from monitor.config_yaml import FAST_LOADER, EventReader, GuardedLoader, NodeReader, Unusual


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
                self.data = EventReader(FAST_LOADER(text), self.issues, self.unreliable,
                                        self.interpolated).read()
            except (yaml.YAMLError, Unusual):
                # rare shapes (and errors, whose wording differs between parsers): the
                # reference reading decides, with PyYAML's own parser
                self.issues.clear()
                self.unreliable.clear()
                self.interpolated.clear()
                self._lines = {}
                self.data = NodeReader(GuardedLoader, self.path, self._lines, self.issues,
                                       self.unreliable, self.interpolated).read(text)
        except Refused as exc:
            raise ConfigError(path, [exc.issue]) from None

    @property
    def lines(self) -> dict[Loc, int]:
        """The line of every key path (and list item) in the file; computed on first use.

        The event reading already refused what could make this reading deep or large.
        """
        if self._lines is None:
            lines: dict[Loc, int] = {}
            NodeReader(FAST_LOADER, self.path, lines, [], set()).read(self.text)
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


def read_top_level(path: Path, key: str) -> Any:
    """The value of one top-level key of a YAML file, without reading the others.

    :raises ConfigError, yaml.YAMLError, KeyError: unreadable or refused file (see
        :func:`read_config_text`, :class:`ConfigSource`), invalid YAML, no such key.
    """
    text = read_config_text(path)
    try:
        return EventReader(FAST_LOADER(text), [], set()).top_level(key)
    except Refused as exc:
        raise ConfigError(path, [exc.issue]) from None
    except Unusual:
        return ConfigSource(path, text).data[key]
