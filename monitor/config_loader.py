"""Loading ``vigie.yaml``: strict validation, errors with file, line and key path.

The file is read by :mod:`monitor.config_source` (YAML, ``${ENV}`` variables, lines).

Every error names the file, the line and the key path, e.g.::

    vigie.yaml:12: services[0].checks[1].interval: invalid duration '5 minutes' (use e.g. 30s, 5m, 1h)

All errors of a file are reported at once, in line order.
"""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from monitor.config import (
    IDENT,
    Check,
    CheckConfig,
    Config,
    FileConfig,
    LocalizedText,
    Service,
    ServiceConfig,
)
from monitor.config_source import (
    ConfigError,
    ConfigIssue,
    ConfigSource,
    Loc,
    format_loc,
    read_top_level,
)
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from monitor.probe import CheckRef
from monitor.schema import holds_secret, redact

__all__ = ["ConfigError", "ConfigIssue", "blocked_plugins", "format_loc", "load_config"]


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
#: key names whose value is never repeated in an error message: secrets by name, and
#: addresses (a URL may carry a password, a token in its path or query)
_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|auth|url|uri|dsn|webhook|endpoint",
                         re.IGNORECASE)
#: under these keys no value is ever repeated (``headers.Authorization``, ``headers.X-Api``…)
_SECRET_HOLDERS = frozenset({"headers", "env", "environment"})
#: a StrictModel error about a ``<secret>_file`` key, raised at the level of its mapping
_SECRET_FILE_ERROR = re.compile(
    r"^(?:(?P<key>\w+_file): (?P<rest>.*)|give either '\w+' or '(?P<both>\w+_file)', not both)$")


def _issues_from_validation(
    exc: ValidationError, source: ConfigSource, model: type[BaseModel], prefix: Loc = ()
) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        loc: Loc = (*prefix, *[p for p in err["loc"] if not _is_union_tag(p)])
        hidden = _hides_value(loc[len(prefix):], err.get("input"), model)
        loc, message = _message(err, loc, model, prefix, hidden)
        # a validator's own sentence may still quote a URL with its password
        issues.append(ConfigIssue(source.line_of(loc), loc, redact(message)))
    return issues


def _message(err: Any, loc: Loc, model: type[BaseModel], prefix: Loc,
             hidden: bool = False) -> tuple[Loc, str]:
    """The key path and the sentence for one pydantic error (``hidden``: without the
    value, see :func:`_hides_value`)."""
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
    got = " (value hidden: it may be a secret)" if hidden else f", got {_shorten(value)}"
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
        shown = "" if hidden else f" {_shorten(value)}"
        return loc, f"invalid value{shown}: expected the pattern {ctx.get('pattern')}"
    message = str(err["msg"]).removeprefix("Value error, ")
    # a validator's own sentence may quote the value (or, for a mapping, a secret in it)
    for text in sorted(_secret_texts(value, hidden), key=len, reverse=True):
        message = message.replace(repr(text), "'***'")
        if len(text) >= 8:  # shorter ones could be ordinary words of the sentence
            message = message.replace(text, "***")
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


def _hides_value(loc: Loc, value: Any, model: type[BaseModel]) -> bool:
    """Whether an error at ``loc`` (a path in ``model``) must not repeat its value.

    Hidden: a field typed as a secret (``SecretStr``, a database URL…, at any depth), a
    key named like a secret or an address (``password``, ``api_key``, ``url``…), anything
    under ``headers``, and any value holding a URL (it may carry a password or a token).
    """
    names = [part for part in loc if isinstance(part, str)]
    if names and _SECRET_KEY.search(names[-1]):
        return True
    if _SECRET_HOLDERS.intersection(n.lower() for n in names):
        return True
    if any(holds_secret(field) for field in _fields_on_path(model, loc)):
        return True
    return bool(_secret_texts(value, False))


def _fields_on_path(model: type[BaseModel], loc: Loc) -> list[FieldInfo]:
    """The fields ``loc`` goes through, from ``model`` down (several at a level when a
    union offers several models); list indexes, mapping keys and union tags are skipped."""
    fields: list[FieldInfo] = []
    holders = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        here = [f for holder in holders for name, f in holder.model_fields.items()
                if part in (name, f.alias)]
        if not here:
            continue  # a mapping key or a union member's tag: same models one level down
        fields += here
        holders = [m for f in here for m in _models_in(f.annotation)]
    return fields


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _secret_texts(value: Any, hidden: bool, depth: int = 0) -> list[str]:
    """The strings of a raw value an error must not repeat: every one when the value is
    ``hidden``, else those holding a URL; in a mapping, those under a secret-looking key
    (``password``, ``url``, ``headers``…), but never a ``*_file`` path.

    A mapping that is the error's own value (a model's error, e.g. about the whole file)
    keeps its other strings: its ids and names are what the message is about.
    """
    if isinstance(value, str):
        return [value] if value and (hidden or "://" in value) else []
    if depth > 5:
        return []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            name = str(key)
            secret = ((hidden and depth > 0) or bool(_SECRET_KEY.search(name))
                      or name.lower() in _SECRET_HOLDERS)
            if not name.endswith("_file"):
                found += _secret_texts(item, secret, depth + 1)
        return found
    if isinstance(value, (list, tuple, set, frozenset)):
        return [text for item in value for text in _secret_texts(item, hidden, depth + 1)]
    return []


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
    source = ConfigSource(path, text)
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
    # Memory with 100,000 checks: the parsed tree is not needed any more (lines of errors
    # come from the text), and each raw service goes once resolved (Config.services
    # replaces them; they held ~55 MB nobody read). Freed before or while the resolved
    # objects are made, so those reuse its memory rather than new arenas that would stay.
    del core
    source.data = None
    raw_services, file = file.services, file.model_copy(update={"services": []})
    services, resolve_issues = _resolve_services(file, raw_services, source, registry)
    issues = _without_echoes(issues + resolve_issues, source)
    if issues:
        raise ConfigError(path, issues)
    return Config(path=path, file=file, services=tuple(services), sections=plugin_sections)


def _without_echoes(issues: list[ConfigIssue], source: ConfigSource) -> list[ConfigIssue]:
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


def _duplicate_ids(data: dict[str, Any], source: ConfigSource) -> list[ConfigIssue]:
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


def _reference_issues(data: dict[str, Any], source: ConfigSource,
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


def _unknown_group(group: str, known_ids: set[Any], s_index: int, source: ConfigSource) -> ConfigIssue:
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
    file: FileConfig, raw_services: list[ServiceConfig | None], source: ConfigSource,
    registry: ProbeRegistry,
) -> tuple[list[Service], list[ConfigIssue]]:
    """The resolved services of ``raw_services`` (emptied on the way: each raw service
    is dropped once resolved), with the problems found."""
    issues: list[ConfigIssue] = []
    services = []
    group_ids = {g.id for g in file.groups}
    defaults = file.defaults
    # a check without a name is named by its id: one shared (frozen) text per id, not one
    # per check (with 100,000 checks, ~50 MB)
    default_names: dict[str, LocalizedText] = {}
    for s_index, service in enumerate(raw_services):
        assert service is not None
        raw_services[s_index] = None
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
                name=check.name or default_names.get(check.id) or default_names.setdefault(
                    check.id, LocalizedText(fr=check.id)),
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


def _validate_options(check: CheckConfig, loc: Loc, source: ConfigSource,
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
        return kind.probe_class.prepare(model.model_validate(check.options()))
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


def load_with_plugins(path: str | Path, plugin_manager: pluggy.PluginManager | None = None
                      ) -> tuple[pluggy.PluginManager, ProbeRegistry, Config]:
    """What ``vigie run`` does first: the plugin manager (without the plugins the file
    blocks, unless one is given), its probe registry, and the configuration at ``path``
    validated against both.

    :raises ConfigError: the configuration is invalid.
    """
    pm = plugin_manager or build_plugin_manager(blocked=blocked_plugins(path))
    registry = ProbeRegistry.from_plugin_manager(pm)
    return pm, registry, load_config(path, registry, config_sections(pm))


def blocked_plugins(path: str | Path) -> list[str]:
    """The ``plugins.blocked`` list of the file at ``path``, read before the plugins load.

    Any problem (unreadable file, bad YAML) gives an empty list: :func:`load_config`
    reports it properly afterwards.
    """
    try:
        blocked = read_top_level(Path(path), "plugins")["blocked"]
    except Exception:  # noqa: BLE001 - load_config reports any problem properly
        return []
    return [str(b) for b in blocked] if isinstance(blocked, list) else []
