"""Loading ``vigie.yaml``: strict validation, errors with file, line and key path.

The file is read by :mod:`monitor.config_source` (YAML, ``${ENV}`` variables, lines).

Every error names the file, the line and the key path, e.g.::

    vigie.yaml:12: services[0].checks[1].interval: invalid duration '5min' (use e.g. 30s, 5m, 1h)

All errors of a file are reported at once, in line order.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails

from monitor.config import (
    Check,
    CheckConfig,
    Config,
    FileConfig,
    LocalizedText,
    Service,
    ServiceConfig,
)
from monitor.config_errors import issues_from_validation, without_given_values
from monitor.config_issues import (
    ConfigError,
    ConfigIssue,
    Loc,
    format_loc,
    quote,
    unknown_name,
)
from monitor.config_locations import location_issues, resolved_locations
from monitor.config_source import ConfigSource, read_config_text, read_top_level
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from monitor.probe import CheckRef

__all__ = ["ConfigError", "ConfigIssue", "blocked_plugins", "format_loc", "load_config"]


def core_sections() -> dict[str, type[BaseModel]]:
    """The core's top-level sections kept in ``config.sections`` beside the plugins' (their
    models live with the code that uses them): ``assistance``, ``mail``,
    ``subscriptions``, ``webhooks``, ``cluster`` and ``agents``. Unlike a plugin's, an
    absent one is its defaults, never None."""
    from monitor.agents.settings import AgentSettings
    from monitor.assistance.settings import AssistanceSettings
    from monitor.cluster.settings import ClusterSettings
    from monitor.mail_settings import MailSettings
    from monitor.subscriptions.settings import SubscriptionSettings
    from monitor.webhooks.settings import WebhookSettings

    return {"assistance": AssistanceSettings, "mail": MailSettings,
            "subscriptions": SubscriptionSettings, "webhooks": WebhookSettings,
            "cluster": ClusterSettings, "agents": AgentSettings}


def load_config(path: str | Path, registry: ProbeRegistry,
                sections: dict[str, type[BaseModel]] | None = None) -> Config:
    """Read, validate and resolve the configuration at ``path``.

    :param registry: the probe kinds checks may use.
    :param sections: top-level sections owned by plugins (name → model), from
        :func:`monitor.plugins.config_sections`.
    :raises ConfigError: listing every problem with file, line and key path.
    """
    owned = core_sections()
    taken = (set(FileConfig.model_fields) | set(owned)) & set(sections or {})
    if taken:
        raise ValueError(f"plugin sections shadow core sections: {sorted(taken)}")
    sections = {**owned, **(sections or {})}
    path = Path(path)
    source = ConfigSource(path, read_config_text(path))
    if not isinstance(source.data, dict):
        raise ConfigError(path, [ConfigIssue(1, (), "the file must be a mapping of sections")])
    core = {k: v for k, v in source.data.items() if k not in sections}
    # every problem is collected before raising, so one run of `vigie config check` lists
    # them all: file-level ones (duplicate keys, unset variables, ids used twice, what
    # maintenance windows name), then each plugin section's and the schema's, then the
    # references (groups, probe kinds, kind-specific keys). Whatever needs only the raw
    # data is checked on it, so that no problem waits for another to be fixed.
    issues: list[ConfigIssue] = [*source.issues, *_duplicate_ids(core, source),
                                 *_maintenance_issues(core, source),
                                 *location_issues(core, source.line_of)]
    plugin_sections: dict[str, Any] = {}
    for name, model in sections.items():
        raw = source.data.get(name)
        if raw is None:
            plugin_sections[name] = model() if name in owned else None
            continue
        try:
            plugin_sections[name] = model.model_validate(raw)
        except ValidationError as exc:
            issues += issues_from_validation(exc, source, model, (name,))
    # across sections, on the raw store section: said whatever else is wrong
    from monitor.cluster.settings import store_issue

    if cluster_issue := store_issue(plugin_sections.get("cluster"), core.get("store"),
                                    source.line_of):
        issues.append(cluster_issue)
    try:
        file = FileConfig.model_validate(core)
    except ValidationError as exc:
        found = issues_from_validation(exc, source, FileConfig)
        if sections:
            found = [_with_sections_hint(i, sections) for i in found]
        raw_probes = core.get("probes")
        if isinstance(raw_probes, dict):
            issues += _kind_defaults({k: v for k, v in raw_probes.items()
                                      if isinstance(v, dict)}, source, registry)[1]
        issues += found + _reference_issues(core, source, registry)
        raise ConfigError(path, _final(issues, source)) from None
    # Memory with 100,000 checks: the parsed tree is not needed any more (lines of errors
    # come from the text), and each raw service goes once resolved (Config.services
    # replaces them; they held tens of MB nobody read). Freed before or while the resolved
    # objects are made, so those reuse its memory rather than new arenas that would stay.
    del core
    source.data = None
    raw_services, file = file.services, file.model_copy(update={"services": []})
    kind_defaults, default_issues = _kind_defaults(file.probes, source, registry)
    services, resolve_issues = _resolve_services(file, raw_services, source, registry,
                                                 kind_defaults)
    issues = _final(issues + default_issues + resolve_issues, source)
    if issues:
        raise ConfigError(path, issues)
    return Config(path=path, file=file, services=tuple(services), sections=plugin_sections)


def _final(issues: list[ConfigIssue], source: ConfigSource) -> list[ConfigIssue]:
    """The problems to report: no echo of another, no value from the environment."""
    return without_given_values(_without_echoes(issues, source), source)


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
                    f"{what} id {quote(ident)} is already used by {format_loc(where[:-1])} "
                    f"(line {source.line_of(where)}); ids must be unique"))
            else:
                first[ident] = index

    scan(data.get("groups"), ("groups",), "group")
    scan(data.get("services"), ("services",), "service")
    scan(data.get("maintenance"), ("maintenance",), "maintenance")
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
    group_ids = _ids(data.get("groups"))
    common = set(CheckConfig.model_fields)
    for s_index, service in enumerate(_items(data.get("services"))):
        if isinstance(service.get("group"), str) and service["group"] not in group_ids:
            issues.append(_unknown("group", service["group"], group_ids,
                                   ("services", s_index, "group"), source))
        for c_index, raw in enumerate(_items(service.get("checks"))):
            # the kind's own keys are checked even when a common key is wrong (a bad
            # interval must not hide a misspelt url)
            if isinstance(raw.get("kind"), str):
                options = {k: v for k, v in raw.items() if k not in common}
                _validate_options(raw["kind"], options, ("services", s_index, "checks", c_index),
                                  source, registry, issues)
    return issues


def _maintenance_issues(data: dict[str, Any], source: ConfigSource) -> list[ConfigIssue]:
    """Services and groups that maintenance windows name but the file does not define,
    each at its key (checked on the raw data: reported whatever else is wrong)."""
    services, groups = _ids(data.get("services")), _ids(data.get("groups"))
    issues = []
    for index, window in enumerate(_items(data.get("maintenance"))):
        named = window.get("services")
        for s_index, service in enumerate(named if isinstance(named, list) else []):
            if isinstance(service, str) and service not in services:
                issues.append(_unknown("service", service, services,
                                       ("maintenance", index, "services", s_index), source))
        if isinstance(window.get("group"), str) and window["group"] not in groups:
            issues.append(_unknown("group", window["group"], groups,
                                   ("maintenance", index, "group"), source))
    return issues


def _items(raw: Any) -> list[dict[str, Any]]:
    """The mappings of a raw list (anything else is left to the schema's errors)."""
    return [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []


def _ids(raw: Any) -> set[str]:
    """The ids of a raw list of mappings."""
    return {item["id"] for item in _items(raw) if isinstance(item.get("id"), str)}


def _unknown(what: str, name: str, known: set[str], loc: Loc, source: ConfigSource
             ) -> ConfigIssue:
    """``unknown group 'hostin' (did you mean 'hosting'?)`` at ``loc``."""
    return unknown_name(what, name, known, loc, source.line_of(loc))


def _with_sections_hint(issue: ConfigIssue, sections: dict[str, Any]) -> ConfigIssue:
    """Top-level unknown keys: suggest among core and plugin sections alike."""
    if len(issue.loc) != 1 or not issue.message.startswith("unknown key"):
        return issue
    allowed = sorted({*FileConfig.allowed_keys(), *sections})
    close = difflib.get_close_matches(str(issue.loc[0]), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed here: {', '.join(allowed)})"
    return ConfigIssue(issue.line, issue.loc, f"unknown key {quote(issue.loc[0])}{hint}")


def _kind_defaults(probes: dict[str, dict[str, Any]], source: ConfigSource,
                   registry: ProbeRegistry
                   ) -> tuple[dict[str, dict[str, Any]], list[ConfigIssue]]:
    """The valid entries of the ``probes`` section (kind → keys every check of that kind
    gets unless it sets its own), with the problems of the others at their keys.

    Each kind's keys are validated by the kind's model on their own (the keys a check
    must give, such as ``url``, are not asked for here), so a bad value is reported once,
    under ``probes``, not at every check.
    """
    valid: dict[str, dict[str, Any]] = {}
    issues: list[ConfigIssue] = []
    common = set(CheckConfig.model_fields)
    for kind_name, keys in probes.items():
        loc: Loc = ("probes", kind_name)
        kind = registry.get(kind_name)
        if kind is None:
            issues.append(_unknown("probe kind", kind_name, set(registry.names()), loc, source))
            continue
        shared = sorted(common & set(keys))
        if shared:
            issues.append(ConfigIssue(
                source.line_of((*loc, shared[0])), (*loc, shared[0]),
                f"{quote(shared[0])} is a key of every check: set it under 'defaults' "
                "(or on the check), not under 'probes'"))
            continue
        model = kind.probe_class.Config
        try:
            model.model_validate(keys)
        except ValidationError as exc:
            errors = [_init_error(e) for e in exc.errors(include_url=False)
                      if e["type"] != "missing"]
            if errors:
                issues += issues_from_validation(
                    ValidationError.from_exception_data(exc.title, errors), source, model, loc)
                continue
        valid[kind_name] = keys
    return valid, issues


def _init_error(error: ErrorDetails) -> InitErrorDetails:
    """A reported pydantic error as one to raise again (its message made anew)."""
    detail: InitErrorDetails = {"type": error["type"], "loc": error["loc"],
                                "input": error["input"]}
    if "ctx" in error:
        detail["ctx"] = error["ctx"]
    return detail


def _resolve_services(
    file: FileConfig, raw_services: list[ServiceConfig | None], source: ConfigSource,
    registry: ProbeRegistry, kind_defaults: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[Service], list[ConfigIssue]]:
    """The resolved services of ``raw_services`` (emptied on the way: each raw service
    is dropped once resolved), with the problems found. ``kind_defaults``: the keys of
    the ``probes`` section, by kind, under each check's own."""
    kind_defaults = kind_defaults or {}
    issues: list[ConfigIssue] = []
    services = []
    group_ids = {g.id for g in file.groups}
    defaults = file.defaults
    # a check without a name is named by its id: one shared (frozen) text per id, not one
    # per check (tens of MB with 100,000 checks)
    default_names: dict[str, LocalizedText] = {}
    # a check naming no location runs on the server alone: one tuple shared by them all
    here = (file.locations.self.name,)
    remote = set(file.locations.remote_names())
    for s_index, service in enumerate(raw_services):
        assert service is not None
        raw_services[s_index] = None
        if service.group is not None and service.group not in group_ids:
            issues.append(_unknown("group", service.group, group_ids,
                                   ("services", s_index, "group"), source))
        checks = []
        for c_index, check in enumerate(service.checks):
            loc: Loc = ("services", s_index, "checks", c_index)
            given = check.options()
            if check.kind in kind_defaults:
                given = {**kind_defaults[check.kind], **given}
            issues += _agent_issues(check.kind, check.locations, remote, loc, source,
                                    registry)
            options = _validate_options(check.kind, given, loc, source, registry, issues)
            if options is None:
                continue
            locations, quorum = resolved_locations(check.locations, check.quorum, here)
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
                locations=locations,
                quorum=quorum,
                agent_secrets=check.agent_secrets,
            ))
        services.append(Service(service.id, service.name, service.group,
                                service.description, tuple(checks)))
    return services, issues


def _agent_issues(kind_name: str, listed: list[str] | None, remote: set[str], loc: Loc,
                  source: ConfigSource, registry: ProbeRegistry) -> list[ConfigIssue]:
    """A check of a kind no agent can run (a push check, ``Probe.runs_on_agents``)
    listing a remote location: refused at that location's key."""
    kind = registry.get(kind_name)
    if kind is None or kind.probe_class.runs_on_agents or not listed:
        return []
    issues = []
    for index, name in enumerate(listed):
        if name in remote:
            at: Loc = (*loc, "locations", index)
            issues.append(ConfigIssue(source.line_of(at), at, (
                f"a {quote(kind_name)} check cannot run at the remote location "
                f"{quote(name)}: its results reach the server itself, no agent can "
                "run it; list only the server's own location, or leave the key out")))
    return issues


def _validate_options(kind_name: str, options: dict[str, Any], loc: Loc,
                      source: ConfigSource, registry: ProbeRegistry,
                      issues: list[ConfigIssue]) -> Any:
    """The prepared kind-specific ``options`` of the check at ``loc``, or None with the
    problems added to ``issues``."""
    kind = registry.get(kind_name)
    if kind is None:
        close = difflib.get_close_matches(kind_name, registry.names(), n=1)
        hint = (f"did you mean {close[0]!r}?" if close
                else f"known: {', '.join(registry.names()) or 'none'}")
        issues.append(ConfigIssue(source.line_of((*loc, "kind")), (*loc, "kind"),
                                  f"unknown probe kind {quote(kind_name)} ({hint})"))
        return None
    model = kind.probe_class.Config
    try:
        return kind.probe_class.prepare(model.model_validate(options))
    except ValidationError as exc:
        found = issues_from_validation(exc, source, model, loc)
        for issue in found:
            if issue.message.startswith("unknown key"):
                common = sorted(CheckConfig.model_fields)
                allowed = sorted({*common, *getattr(model, "allowed_keys", list)()})
                close = difflib.get_close_matches(str(issue.loc[-1]), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else \
                    f" (a {kind_name!r} check accepts: {', '.join(allowed)})"
                issue = ConfigIssue(issue.line, issue.loc,
                                    f"unknown key {quote(issue.loc[-1])}{hint}")
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
