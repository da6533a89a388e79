"""Building the plugin manager and the probe registry.

There is no module-level plugin manager: :func:`build_plugin_manager` makes one from the
``vigie`` entry-point group (where the built-in plugins are registered too) plus any
plugin objects passed in, minus the names blocked by the configuration.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from monitor import hookspecs, reasonwords
from monitor.probe import Probe

log = logging.getLogger(__name__)

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)
"""Marker for hook implementations: ``@hookimpl def vigie_register_probes(): ...``."""


class PluginError(Exception):
    """A plugin could not be loaded or contradicts another one."""


def build_plugin_manager(
    blocked: Iterable[str] = (),
    extra_plugins: Iterable[tuple[str, object]] = (),
    load_entry_points: bool = True,
) -> pluggy.PluginManager:
    """Return a plugin manager with the ``vigie`` hookspecs and plugins registered.

    :param blocked: plugin names (entry-point names) not to load.
    :param extra_plugins: ``(name, module_or_object)`` pairs registered directly (tests,
        embedding applications).
    :param load_entry_points: load the ``vigie`` entry-point group (built-ins included).
    :raises PluginError: a hookimpl names no known hook or has wrong arguments.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    if load_entry_points:
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        except Exception as exc:  # an import error in a third-party plugin
            raise PluginError(f"could not load a 'vigie' plugin: {exc}") from exc
    for name, plugin in extra_plugins:
        if not pm.is_blocked(name):
            try:
                pm.register(plugin, name=name)
            except pluggy.PluginValidationError as exc:  # wrong hookimpl arguments
                raise PluginError(f"plugin {name!r}: {exc}") from exc
    _check_hook_names(pm)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r}: {exc}") from exc
    return pm


def _check_hook_names(pm: pluggy.PluginManager) -> None:
    """Refuse a hookimpl whose name matches no hookspec, naming the plugin and the hook it
    probably meant (pluggy's own ``check_pending`` names neither clearly)."""
    callers = dict(vars(pm.hook))
    known = sorted(name for name, caller in callers.items() if caller.spec is not None)
    for name, caller in sorted(callers.items()):
        if caller.spec is not None:
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            plugin = pm.get_name(impl.plugin) or repr(impl.plugin)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PluginError(f"plugin {plugin!r}: unknown hook {name!r}{hint}")


@dataclass(frozen=True, slots=True)
class ProbeKind:
    """A registered probe kind: its class, one shared instance and the providing plugin."""

    kind: str
    probe_class: type[Probe]
    instance: Probe
    plugin: str


class ProbeRegistry:
    """Maps a ``kind`` name to the probe that implements it."""

    def __init__(self, kinds: dict[str, ProbeKind]) -> None:
        self._kinds = kinds

    @classmethod
    def from_plugin_manager(cls, pm: pluggy.PluginManager) -> "ProbeRegistry":
        """Collect ``vigie_register_probes`` from every plugin, refusing duplicate kinds,
        and learn each kind's members' words for its reasons (:mod:`monitor.reasonwords`)."""
        kinds: dict[str, ProbeKind] = {}
        for impl in pm.hook.vigie_register_probes.get_hookimpls():
            plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)
            for probe_class in impl.function() or ():
                kind = getattr(probe_class, "kind", None)
                if not isinstance(kind, str) or not kind:
                    raise PluginError(
                        f"plugin {plugin_name!r} registered {probe_class!r} without a 'kind'"
                    )
                if kind in kinds:
                    raise PluginError(
                        f"probe kind {kind!r} is provided by both plugin "
                        f"{kinds[kind].plugin!r} and plugin {plugin_name!r}; "
                        "block one of them with 'plugins: {blocked: [...]}'"
                    )
                try:
                    reasonwords.learn(getattr(probe_class, "public_words", {}), kind)
                except reasonwords.WordsConflict as exc:
                    raise PluginError(f"plugin {plugin_name!r}: {exc}") from None
                kinds[kind] = ProbeKind(kind, probe_class, probe_class(), plugin_name)
        return cls(kinds)

    def get(self, kind: str) -> ProbeKind | None:
        """The probe kind named ``kind``, or None."""
        return self._kinds.get(kind)

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds

    def __iter__(self):
        return iter(sorted(self._kinds.values(), key=lambda k: k.kind))

    def names(self) -> list[str]:
        """Sorted names of the registered kinds."""
        return sorted(self._kinds)

    async def aclose(self) -> None:
        """Close every probe instance (at shutdown)."""
        for kind in self._kinds.values():
            try:
                await kind.instance.aclose()
            except Exception:  # a probe failing to close must not stop the others
                log.exception("probe kind %s failed to close", kind.kind)


def plugin_commands(pm: pluggy.PluginManager) -> list[tuple[str, Any]]:
    """``(plugin name, click command)`` pairs from ``vigie_register_commands``."""
    out = []
    for impl in pm.hook.vigie_register_commands.get_hookimpls():
        name = pm.get_name(impl.plugin) or repr(impl.plugin)
        for command in impl.function() or ():
            out.append((name, command))
    return out


def config_sections(pm: pluggy.PluginManager) -> dict[str, type]:
    """Top-level configuration sections registered by plugins (name → model class).

    :raises PluginError: two plugins claim the same section.
    """
    sections: dict[str, type] = {}
    owners: dict[str, str] = {}
    for impl in pm.hook.vigie_register_config_sections.get_hookimpls():
        plugin = pm.get_name(impl.plugin) or repr(impl.plugin)
        for name, model in (impl.function() or {}).items():
            if name in sections:
                raise PluginError(f"configuration section {name!r} is claimed by both plugin "
                                  f"{owners[name]!r} and plugin {plugin!r}")
            sections[name], owners[name] = model, plugin
    return sections
