"""Building the plugin manager and the probe registry, and calling hooks.

There is no module-level plugin manager: :func:`build_plugin_manager` makes one from the
``vigie`` entry-point group (where the built-in plugins are registered too) plus any
plugin objects passed in, minus the names blocked by the configuration.

How hooks are called. Every call goes through a pluggy :class:`~pluggy.HookCaller`.
Vigie calls **each plugin's implementation on its own**, through the hook caller
restricted to that plugin (:func:`plugin_callers`, built on pluggy's public
``PluginManager.subset_hook_caller``), because one plugin must never stop or delay
another: pluggy's own call runs every implementation in one loop and stops at the first
exception, and it cannot await coroutines. So:

- :func:`call_each` is the one place where a failing plugin is logged, counted and
  skipped while the others go on (event hooks through :func:`monitor.events.fire`,
  ``vigie_incident_links``);
- the outbox worker calls the one plugin a durable row is for (:func:`plugin_caller`);
- registration hooks (``vigie_register_*``) use :func:`plugin_callers` too, to name the
  plugin in an error; an exception there stops the start, as it should.

pluggy's options, hook by hook: no hook is ``firstresult`` (every hook either gathers
from all plugins or is an event all of them hear); none is ``historic`` (a historic call
runs all implementations in one pluggy call, so one failure would stop the rest, and the
coroutine of a plugin registered later would have no one to await it). Wrappers
(``wrapper=True``, ``hookwrapper=True``) cannot mean what their author expects when each
plugin is called on its own (a wrapper would wrap one other plugin's call at a time, and
only the creation of a coroutine), so :class:`VigiePluginManager` refuses them when the
plugin is registered, naming the plugin and the hook.
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from monitor import hookspecs, reasonwords
from monitor.probe import Probe

log = logging.getLogger(__name__)

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)
"""Marker for hook implementations: ``@hookimpl def vigie_register_probes(): ...``."""

#: failures per (plugin, hook): the counter behind ``vigie_plugin_hook_failures_total``
HookFailures = Counter[tuple[str, str]]


class PluginError(Exception):
    """A plugin could not be loaded or contradicts another one."""


class VigiePluginManager(pluggy.PluginManager):
    """pluggy's plugin manager, refusing a plugin that declares a wrapper hookimpl.

    Vigie calls each plugin's implementation on its own (see the module's docstring), so a
    wrapper would be called around one other plugin's call at a time; rather than do
    something its author did not mean, the plugin is refused when it is registered (at
    start for entry points), with an error naming the plugin and the hook.
    """

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` as pluggy does, after refusing wrappers.

        :raises PluginError: a hookimpl of ``plugin`` is declared ``wrapper=True`` or
            ``hookwrapper=True``.
        """
        for attr in dir(plugin):
            opts = self.parse_hookimpl_opts(plugin, attr)
            if opts and (opts.get("wrapper") or opts.get("hookwrapper")):
                hook = opts.get("specname") or attr
                label = name or self.get_canonical_name(plugin)
                raise PluginError(
                    f"plugin {label!r}: hook {hook!r} is declared as a wrapper "
                    "(wrapper=True or hookwrapper=True), which Vigie does not support: it "
                    "calls each plugin's implementation on its own, so a wrapper would "
                    "wrap nothing it expects; declare it with a plain @hookimpl")
        return super().register(plugin, name)


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
    pm = VigiePluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    if load_entry_points:
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        except PluginError:
            raise
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


def _name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or repr(plugin)


def plugin_callers(pm: pluggy.PluginManager,
                   hook_name: str) -> list[tuple[str, pluggy.HookCaller]]:
    """Each plugin implementing ``hook_name``, with pluggy's hook caller restricted to it.

    In pluggy's call order (the last registered first, ``tryfirst``/``trylast``
    honoured). Calling one of these callers runs that plugin's implementation only, and
    returns pluggy's result list: ``[value]``, or ``[]`` when it returned None.
    """
    # the implementers are read from the hook (a copy of its list), not from the manager's
    # plugin table: the incident engine calls from its thread while a plugin may register
    plugins = [impl.plugin for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls())]
    return [(_name(pm, plugin), pm.subset_hook_caller(
        hook_name, [other for other in plugins if other is not plugin]))
        for plugin in plugins]


def plugin_caller(pm: pluggy.PluginManager, hook_name: str,
                  plugin_name: str) -> pluggy.HookCaller | None:
    """pluggy's hook caller for ``hook_name`` restricted to the plugin ``plugin_name``, or
    None when that plugin is not loaded or does not implement the hook (the outbox's
    durable rows are each for one plugin)."""
    for name, caller in plugin_callers(pm, hook_name):
        if name == plugin_name:
            return caller
    return None


def implementers(pm: pluggy.PluginManager, hook_name: str) -> list[str]:
    """Names of the plugins implementing ``hook_name``, in pluggy's call order."""
    return [name for name, _ in plugin_callers(pm, hook_name)]


def is_coroutine_hook(caller: pluggy.HookCaller) -> bool:
    """Whether the implementation behind a one-plugin caller is a coroutine function (the
    outbox awaits those on the loop and runs the others in threads)."""
    import inspect

    return any(inspect.iscoroutinefunction(impl.function) for impl in caller.get_hookimpls())


def note_failure(failures: HookFailures | None, plugin: str, hook_name: str) -> None:
    """Log (with the traceback being handled) and count one plugin's failure in a hook."""
    if failures is not None:
        failures[(plugin, hook_name)] += 1
    log.error("plugin %s failed in %s", plugin, hook_name, exc_info=True)


def call_each(pm: pluggy.PluginManager, hook_name: str, kwargs: Mapping[str, Any], *,
              failures: HookFailures | None = None) -> Iterator[tuple[str, Any]]:
    """Call ``hook_name`` on each implementing plugin, one after the other, so that one
    failing plugin never stops the others; yield ``(plugin name, value)`` for each that
    returned something other than None.

    This is the one place where Vigie isolates plugins from each other. Each call goes
    through pluggy's hook caller restricted to one plugin (:func:`plugin_callers`). A
    plugin that raises is logged with its name (``plugin X failed in hook``), counted in
    ``failures`` and skipped. The generator is lazy: the caller may await a coroutine
    value before the next plugin is called (:func:`monitor.events.fire` does).
    """
    for plugin, caller in plugin_callers(pm, hook_name):
        try:
            values = caller(**dict(kwargs))
        except Exception:
            note_failure(failures, plugin, hook_name)
            continue
        for value in values:
            yield plugin, value


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
    def from_plugin_manager(cls, pm: pluggy.PluginManager) -> ProbeRegistry:
        """Collect ``vigie_register_probes`` from every plugin, refusing duplicate kinds,
        and learn each kind's members' words for its reasons (:mod:`monitor.reasonwords`)."""
        kinds: dict[str, ProbeKind] = {}
        for plugin_name, caller in reversed(plugin_callers(pm, "vigie_register_probes")):
            for probe_class in _one(caller()):
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
    for name, caller in reversed(plugin_callers(pm, "vigie_register_commands")):
        for command in _one(caller()):
            out.append((name, command))
    return out


def config_sections(pm: pluggy.PluginManager) -> dict[str, type]:
    """Top-level configuration sections registered by plugins (name → model class).

    :raises PluginError: two plugins claim the same section.
    """
    sections: dict[str, type] = {}
    owners: dict[str, str] = {}
    for plugin, caller in reversed(plugin_callers(pm, "vigie_register_config_sections")):
        for name, model in (_one(caller()) or {}).items():
            if name in sections:
                raise PluginError(f"configuration section {name!r} is claimed by both plugin "
                                  f"{owners[name]!r} and plugin {plugin!r}")
            sections[name], owners[name] = model, plugin
    return sections


def _one(values: list[Any]) -> Any:
    """The value of a one-plugin hook call (pluggy leaves a None out of its list)."""
    return values[0] if values else ()
