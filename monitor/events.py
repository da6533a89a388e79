"""Calling event hooks so that one failing plugin never stops the others.

pluggy stops a hook call at the first exception and is synchronous; Vigie calls every
implementation on its own, awaits coroutine results, and logs and counts failures.
"""

from __future__ import annotations

import inspect
import logging
from collections import Counter
from typing import Any

import pluggy

log = logging.getLogger(__name__)

#: failures per (plugin, hook), read by the metrics collector
hook_failures: Counter[tuple[str, str]] = Counter()


async def fire(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[Any]:
    """Call every implementation of ``hook_name`` with ``kwargs``; return their results.

    A coroutine result is awaited. An implementation that raises is logged with its
    plugin's name, counted in :data:`hook_failures`, and left out of the results.
    """
    hook = getattr(pm.hook, hook_name)
    results = []
    for impl in reversed(hook.get_hookimpls()):  # pluggy's own order: last registered first
        plugin = pm.get_name(impl.plugin) or repr(impl.plugin)
        try:
            args = {name: kwargs[name] for name in impl.argnames}
            value = impl.function(**args)
            if inspect.isawaitable(value):
                value = await value
        except Exception:
            hook_failures[(plugin, hook_name)] += 1
            log.exception("plugin %s failed in %s", plugin, hook_name)
            continue
        if value is not None:
            results.append(value)
    return results
