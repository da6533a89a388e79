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


def _yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
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


class _Source:
    """The parsed YAML document plus the line of every key path."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines: dict[Loc, int] = {}
        self.issues: list[ConfigIssue] = []
        #: key paths whose value is already reported (duplicate key, unset variable)
        self.unreliable: set[Loc] = set()
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            self.data = self._build(node, ()) if node is not None else {}
        except yaml.MarkedYAMLError as exc:
            line, message = _yaml_problem(exc)
            raise ConfigError(path, [ConfigIssue(line, (), message)]) from None
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
                    self._issue(key_node.start_mark.line + 1, child,
                                f"duplicate key {key!r} (first given on line {self.lines[child]}; "
                                "only one value is allowed)")
                    self.unreliable.add(child)
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
            self.unreliable.add(loc)
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


#: what a value of each pydantic type error should have been
_EXPECTED = {
    "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "a text", "list_type": "a list", "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
}
#: key names whose value is never repeated in an error message
_SECRET_KEY = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)
#: a StrictModel error about a ``<secret>_file`` key, raised at the level of its mapping
_SECRET_FILE_ERROR = re.compile(
    r"^(?:(?P<key>\w+_file): (?P<rest>.*)|give either '\w+' or '(?P<both>\w+_file)', not both)$")


def _issues_from_validation(
    exc: ValidationError, source: _Source, model: type[BaseModel], prefix: Loc = ()
) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        loc: Loc = (*prefix, *[p for p in err["loc"] if not _is_union_tag(p)])
        loc, message = _message(err, loc, model, prefix)
        issues.append(ConfigIssue(source.line_of(loc), loc, message))
    return issues


def _message(err: Any, loc: Loc, model: type[BaseModel], prefix: Loc) -> tuple[Loc, str]:
    """The key path and the sentence for one pydantic error."""
    kind, ctx = err["type"], err.get("ctx") or {}
    value = err.get("input")
    if kind == "extra_forbidden":
        holder = _model_at(model, loc[len(prefix):])
        message = f"unknown key {loc[-1]!r}"
        if holder is not None:
            allowed = holder.allowed_keys() if hasattr(holder, "allowed_keys") else []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            message += f" (did you mean {close[0]!r}?)" if close else (
                f" (allowed here: {', '.join(allowed)})" if allowed else "")
        return loc, message
    if kind == "missing":
        return loc, "required key is missing"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == IDENT:
        return loc, (f"invalid id {value!r}: use lower-case letters, digits, "
                     "'-' and '_', starting with a letter or digit")
    if kind == "too_short" and loc and loc[-1] == "checks":
        return loc, "a service needs at least one check"
    secret = bool(loc) and isinstance(loc[-1], str) and bool(_SECRET_KEY.search(loc[-1]))
    got = " (value hidden: it may be a secret)" if secret else f", got {_shorten(value)}"
    if kind in _EXPECTED:
        return loc, f"expected {_EXPECTED[kind]}{got}"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        word = "at least" if kind == "greater_than_equal" else "more than"
        return loc, f"must be {word} {bound}{got}"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        word = "at most" if kind == "less_than_equal" else "less than"
        return loc, f"must be {word} {bound}{got}"
    if kind == "too_short":
        return loc, f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "string_too_short":
        return loc, "must not be empty"
    if kind == "string_too_long":
        return loc, f"is too long (at most {ctx.get('max_length')} characters)"
    if kind == "string_pattern_mismatch":
        shown = "" if secret else f" {_shorten(value)}"
        return loc, f"invalid value{shown}: expected the pattern {ctx.get('pattern')}"
    message = str(err["msg"]).removeprefix("Value error, ")
    if isinstance(value, dict) and (match := _SECRET_FILE_ERROR.match(message)):
        key = match.group("key") or match.group("both")
        if key in value:  # said at the mapping's level: move it to the key itself
            return (*loc, key), match.group("rest") or message
    if message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ") + got
    return loc, message


def _shorten(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _looks_secret(loc: Loc) -> bool:
    """Keys whose values must never be echoed back in an error message."""
    last = str(loc[-1]).lower() if loc else ""
    return any(word in last for word in ("password", "token", "secret", "key", "auth"))


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts union member names (e.g. 'str', 'function-before[...]') into locs
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"})


def load_config(path: str | Path, registry: ProbeRegistry,
                sections: dict[str, type[BaseModel]] | None = None) -> Config:
    """Read, validate and resolve the configuration at ``path``.

    :param registry: the probe kinds checks may use.
    :param sections: top-level sections owned by plugins (name → model), from
        :func:`monitor.plugins.config_sections`.
    :raises ConfigError: listing every problem with file, line and key path.
    """
    sections = sections or {}
    taken = set(FileConfig.model_fields) & set(sections)
    if taken:
        raise ValueError(f"plugin sections shadow core sections: {sorted(taken)}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [ConfigIssue(None, (), f"cannot read file: {exc.strerror}")]) from None
    source = _Source(path, text)
    if not isinstance(source.data, dict):
        raise ConfigError(path, [ConfigIssue(1, (), "the file must be a mapping of sections")])
    core = {k: v for k, v in source.data.items() if k not in sections}
    # every problem is collected before raising, so one run of `vigie config check` lists
    # them all: file-level ones (duplicate keys, unset variables), then the schema's, then
    # the references (groups, probe kinds, kind-specific keys)
    issues: list[ConfigIssue] = list(source.issues) + _duplicate_ids(core, source)
    plugin_sections: dict[str, Any] = {}
    for name, model in sections.items():
        raw = source.data.get(name)
        if raw is None:
            plugin_sections[name] = None
            continue
        try:
            plugin_sections[name] = model.model_validate(raw)
        except ValidationError as exc:
            issues += _issues_from_validation(exc, source, model, (name,))
    try:
        file = FileConfig.model_validate(core)
    except ValidationError as exc:
        found = _issues_from_validation(exc, source, FileConfig)
        if sections:
            found = [_with_sections_hint(i, sections) for i in found]
        issues += found + _reference_issues(core, source, registry)
        raise ConfigError(path, _without_echoes(issues, source)) from None
    services, resolve_issues = _resolve_services(file, source, registry)
    issues = _without_echoes(issues + resolve_issues, source)
    if issues:
        raise ConfigError(path, issues)
    return Config(path=path, file=file, services=tuple(services), sections=plugin_sections)


def _without_echoes(issues: list[ConfigIssue], source: _Source) -> list[ConfigIssue]:
    """Drop what only repeats an earlier problem: the schema's own duplicate-id messages
    (:func:`_duplicate_ids` says more), and errors about a value that was a duplicate key
    or an unset variable (it is already reported)."""
    kept, seen = [], set()
    for issue in issues:
        echo = issue not in source.issues and any(
            issue.loc[:len(loc)] == loc for loc in source.unreliable)
        if echo or "is used twice" in issue.message or issue in seen:
            continue
        seen.add(issue)
        kept.append(issue)
    return kept


def _duplicate_ids(data: dict[str, Any], source: _Source) -> list[ConfigIssue]:
    """Group, service and check ids used twice, each pointing at the first use."""
    issues = []

    def scan(items: Any, loc: Loc, what: str) -> None:
        first: dict[str, int] = {}
        for index, item in enumerate(items if isinstance(items, list) else []):
            ident = item.get("id") if isinstance(item, dict) else None
            if not isinstance(ident, str):
                continue
            if ident in first:
                where = (*loc, first[ident], "id")
                issues.append(ConfigIssue(
                    source.line_of((*loc, index, "id")), (*loc, index, "id"),
                    f"{what} id {ident!r} is already used by {format_loc(where[:-1])} "
                    f"(line {source.line_of(where)}); ids must be unique"))
            else:
                first[ident] = index

    scan(data.get("groups"), ("groups",), "group")
    scan(data.get("services"), ("services",), "service")
    for s_index, service in enumerate(data.get("services") or []):
        if isinstance(service, dict):
            scan(service.get("checks"), ("services", s_index, "checks"), "check")
    return issues


def _reference_issues(data: dict[str, Any], source: _Source,
                      registry: ProbeRegistry) -> list[ConfigIssue]:
    """Unknown groups and probe kinds, and kind-specific keys, checked on the raw data.

    Used when the schema rejected the file, so those problems are reported in the same
    run; a check whose common keys are themselves invalid is left to the schema's errors.
    """
    issues: list[ConfigIssue] = []
    groups = data.get("groups") if isinstance(data.get("groups"), list) else []
    group_ids = {g.get("id") for g in groups if isinstance(g, dict)}
    services = data.get("services") if isinstance(data.get("services"), list) else []
    for s_index, service in enumerate(services):
        if not isinstance(service, dict):
            continue
        if isinstance(service.get("group"), str) and service["group"] not in group_ids:
            issues.append(_unknown_group(service["group"], group_ids, s_index, source))
        checks = service.get("checks") if isinstance(service.get("checks"), list) else []
        for c_index, raw in enumerate(checks):
            try:
                check = CheckConfig.model_validate(raw)
            except ValidationError:
                continue
            _validate_options(check, ("services", s_index, "checks", c_index), source,
                              registry, issues)
    return issues


def _unknown_group(group: str, known_ids: set[Any], s_index: int, source: _Source) -> ConfigIssue:
    loc: Loc = ("services", s_index, "group")
    names = sorted(str(g) for g in known_ids if g is not None)
    close = difflib.get_close_matches(group, names, n=1)
    hint = (f"did you mean {close[0]!r}?" if close
            else f"known: {', '.join(names)}" if names else "no group is defined under 'groups'")
    return ConfigIssue(source.line_of(loc), loc, f"unknown group {group!r} ({hint})")


def _with_sections_hint(issue: ConfigIssue, sections: dict[str, Any]) -> ConfigIssue:
    """Top-level unknown keys: suggest among core and plugin sections alike."""
    if len(issue.loc) != 1 or not issue.message.startswith("unknown key"):
        return issue
    allowed = sorted({*FileConfig.allowed_keys(), *sections})
    close = difflib.get_close_matches(str(issue.loc[0]), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed here: {', '.join(allowed)})"
    return ConfigIssue(issue.line, issue.loc, f"unknown key {issue.loc[0]!r}{hint}")


def _resolve_services(
    file: FileConfig, source: _Source, registry: ProbeRegistry
) -> tuple[list[Service], list[ConfigIssue]]:
    issues: list[ConfigIssue] = []
    services = []
    group_ids = {g.id for g in file.groups}
    defaults = file.defaults
    for s_index, service in enumerate(file.services):
        if service.group is not None and service.group not in group_ids:
            issues.append(_unknown_group(service.group, group_ids, s_index, source))
        checks = []
        for c_index, check in enumerate(service.checks):
            loc: Loc = ("services", s_index, "checks", c_index)
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
        close = difflib.get_close_matches(check.kind, registry.names(), n=1)
        hint = (f"did you mean {close[0]!r}?" if close
                else f"known: {', '.join(registry.names()) or 'none'}")
        issues.append(ConfigIssue(source.line_of((*loc, "kind")), (*loc, "kind"),
                                  f"unknown probe kind {check.kind!r} ({hint})"))
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


def blocked_plugins(path: str | Path) -> list[str]:
    """The ``plugins.blocked`` list of the file at ``path``, read before the plugins load.

    Any problem (unreadable file, bad YAML) gives an empty list: :func:`load_config`
    reports it properly afterwards.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        blocked = data["plugins"]["blocked"]
    except Exception:
        return []
    return [str(b) for b in blocked] if isinstance(blocked, list) else []
