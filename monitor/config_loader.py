"""Reading ``vigie.yaml``: YAML with line numbers, ``${ENV}`` secrets, strict validation.

Every error names the file, the line and the key path, e.g.::

    vigie.yaml:12: services[0].checks[1].interval: invalid duration '5 minutes' (use e.g. 30s, 5m, 1h)

All errors of a file are reported at once, in line order.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from monitor.config import IDENT, Check, CheckConfig, Config, FileConfig, LocalizedText, Service
from monitor.plugins import ProbeRegistry
from monitor.probe import CheckRef

Loc = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem found in the file."""

    line: int | None
    loc: Loc
    message: str

    def render(self, path: Path) -> str:
        """``file:line: key.path: message``."""
        where = f"{path}:{self.line}" if self.line else str(path)
        key = format_loc(self.loc)
        return f"{where}: {key}: {self.message}" if key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration file is invalid; ``str()`` lists every problem, one per line."""

    def __init__(self, path: Path, issues: list[ConfigIssue]) -> None:
        self.path = path
        self.issues = sorted(issues, key=lambda i: (i.line or 0, format_loc(i.loc)))
        super().__init__("\n".join(i.render(path) for i in self.issues))


def format_loc(loc: Loc) -> str:
    """``('services', 0, 'checks', 1, 'url')`` → ``services[0].checks[1].url``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Source:
    """The parsed YAML document plus the line of every key path."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines: dict[Loc, int] = {}
        self.issues: list[ConfigIssue] = []
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            self.data = self._build(node, ()) if node is not None else {}
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            problem = exc.problem or exc.context or "invalid YAML"
            raise ConfigError(path, [ConfigIssue(line, (), f"invalid YAML: {problem}")]) from None
        finally:
            loader.dispose()

    def _build(self, node: yaml.Node, loc: Loc) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if key is None or key_node.tag == "tag:yaml.org,2002:merge":
                    self._issue(key_node.start_mark.line + 1, loc, "unsupported YAML key")
                    continue
                child = (*loc, key)
                if key in out:
                    self._issue(key_node.start_mark.line + 1, child, "duplicate key")
                    continue
                self.lines[child] = key_node.start_mark.line + 1
                out[key] = self._build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*loc, i)) for i, item in enumerate(node.value)]
        constructor = yaml.constructor.SafeConstructor()
        value = constructor.construct_object(node, deep=True)
        if isinstance(value, str):
            value = self._interpolate(value, loc, node.start_mark.line + 1)
        return value

    def _interpolate(self, value: str, loc: Loc, line: int) -> str:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            self._issue(line, loc, f"environment variable {name} is not set")
            return ""

        return _ENV_REF.sub(replace, value)

    def _issue(self, line: int | None, loc: Loc, message: str) -> None:
        self.issues.append(ConfigIssue(line, loc, message))

    def line_of(self, loc: Loc) -> int | None:
        """Line of the deepest part of ``loc`` present in the file."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that holds the last key of ``loc`` (for 'did you mean')."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _issues_from_validation(
    exc: ValidationError, source: _Source, model: type[BaseModel], prefix: Loc = ()
) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        loc = (*prefix, *[p for p in err["loc"] if not _is_union_tag(p)])
        kind = err["type"]
        if kind == "extra_forbidden":
            holder = _model_at(model, loc[len(prefix):])
            message = f"unknown key {loc[-1]!r}"
            if holder is not None:
                allowed = holder.allowed_keys() if hasattr(holder, "allowed_keys") else []
                close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
                message += f" (did you mean {close[0]!r}?)" if close else (
                    f" (allowed here: {', '.join(allowed)})" if allowed else "")
        elif kind == "missing":
            message = "required key is missing"
        elif kind == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == IDENT:
            message = (f"invalid id {err['input']!r}: use lower-case letters, digits, "
                       "'-' and '_', starting with a letter or digit")
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            if "input" in err and kind.endswith("_type"):
                message += f", got {err['input']!r}"
        issues.append(ConfigIssue(source.line_of(loc), loc, message))
    return issues


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts union member names (e.g. 'str', 'function-before[...]') into locs
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"})


def load_config(path: str | Path, registry: ProbeRegistry) -> Config:
    """Read, validate and resolve the configuration at ``path``.

    :raises ConfigError: listing every problem with file, line and key path.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [ConfigIssue(None, (), f"cannot read file: {exc.strerror}")]) from None
    source = _Source(path, text)
    if not isinstance(source.data, dict):
        raise ConfigError(path, [ConfigIssue(1, (), "the file must be a mapping of sections")])
    if source.issues:
        raise ConfigError(path, source.issues)
    try:
        file = FileConfig.model_validate(source.data)
    except ValidationError as exc:
        raise ConfigError(path, _issues_from_validation(exc, source, FileConfig)) from None
    services, issues = _resolve_services(file, source, registry)
    if issues:
        raise ConfigError(path, issues)
    return Config(path=path, file=file, services=tuple(services))


def _resolve_services(
    file: FileConfig, source: _Source, registry: ProbeRegistry
) -> tuple[list[Service], list[ConfigIssue]]:
    issues: list[ConfigIssue] = []
    services = []
    group_ids = {g.id for g in file.groups}
    defaults = file.defaults
    for s_index, service in enumerate(file.services):
        if service.group is not None and service.group not in group_ids:
            loc: Loc = ("services", s_index, "group")
            known = ", ".join(sorted(group_ids)) or "none defined under 'groups'"
            issues.append(ConfigIssue(source.line_of(loc), loc,
                                      f"unknown group {service.group!r} (known: {known})"))
        checks = []
        for c_index, check in enumerate(service.checks):
            loc = ("services", s_index, "checks", c_index)
            options = _validate_options(check, loc, source, registry, issues)
            if options is None:
                continue
            checks.append(Check(
                ref=CheckRef(service.id, check.id, check.kind),
                name=check.name or LocalizedText(fr=check.id),
                interval=check.interval or defaults.interval,
                timeout=check.timeout or defaults.timeout,
                confirm=check.confirm or defaults.confirm,
                retry_interval=check.retry_interval or defaults.retry_interval,
                options=options,
                enabled=check.enabled,
            ))
        services.append(Service(service.id, service.name, service.group,
                                service.description, tuple(checks)))
    return services, issues


def _validate_options(check: CheckConfig, loc: Loc, source: _Source,
                      registry: ProbeRegistry, issues: list[ConfigIssue]) -> Any:
    kind = registry.get(check.kind)
    if kind is None:
        known = ", ".join(registry.names())
        issues.append(ConfigIssue(source.line_of((*loc, "kind")), (*loc, "kind"),
                                  f"unknown probe kind {check.kind!r} (known: {known})"))
        return None
    model = kind.probe_class.Config
    try:
        return model.model_validate(check.options())
    except ValidationError as exc:
        found = _issues_from_validation(exc, source, model, loc)
        for issue in found:
            if issue.message.startswith("unknown key"):
                common = sorted(CheckConfig.model_fields)
                allowed = sorted({*common, *getattr(model, "allowed_keys", list)()})
                close = difflib.get_close_matches(str(issue.loc[-1]), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else \
                    f" (a {check.kind!r} check accepts: {', '.join(allowed)})"
                issue = ConfigIssue(issue.line, issue.loc,
                                    f"unknown key {issue.loc[-1]!r}{hint}")
            issues.append(issue)
        return None
