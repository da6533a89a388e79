"""Calling event hooks so that one failing plugin never stops the others.

:func:`fire` is :func:`monitor.plugins.call_each` (each plugin called on its own through
pluggy's hook caller, a failure logged, counted and skipped) plus awaiting: pluggy is
synchronous, so a coroutine function's result is awaited here, before the next plugin is
called, and a coroutine that raises is logged and counted the same way.
"""

from __future__ import annotations

import inspect
from typing import Any

import pluggy

from monitor.plugins import HookFailures, call_each, note_failure


async def fire(pm: pluggy.PluginManager, hook_name: str, *,
               failures: HookFailures | None = None, **kwargs: Any) -> list[Any]:
    """Call every implementation of ``hook_name`` with ``kwargs``; return their results.

    A coroutine result is awaited. An implementation that raises is logged with its
    plugin's name, counted in ``failures`` (the runtime's
    :attr:`~monitor.runtime.Runtime.hook_failures`), and left out of the results.
    """
    results = []
    for plugin, value in call_each(pm, hook_name, kwargs, failures=failures):
        if inspect.isawaitable(value):
            try:
                value = await value
            except Exception:
                note_failure(failures, plugin, hook_name)
                continue
            if value is None:
                continue
        results.append(value)
    return results
