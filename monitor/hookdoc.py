"""Render the hook reference (``docs/hooks.md``) from the hookspec docstrings.

``python -m monitor.hookdoc > docs/hooks.md`` regenerates it; a test fails when the
committed file differs, so the docs never drift from the code.
"""

from __future__ import annotations

import inspect

from monitor import hookspecs

HEADER = """# Hook reference

Generated from `monitor/hookspecs.py` by `python -m monitor.hookdoc > docs/hooks.md`;
do not edit by hand. How to write and package a plugin: [plugins.md](plugins.md).

Every hook is called with keyword arguments, through pluggy's hook caller; an
implementation may accept any subset of them. Vigie calls each plugin's implementation on
its own (pluggy's caller restricted to that plugin, `monitor.plugins.plugin_callers`): an
event hook implementation that raises is logged and counted in
`vigie_plugin_hook_failures_total` and never stops the others (`monitor.plugins.call_each`),
and a durable delivery reaches exactly the plugin its outbox row is for. No hook is
`firstresult` or `historic`, and wrapper implementations (`wrapper=True`,
`hookwrapper=True`) are refused at start, naming the plugin and the hook: each call
involves one plugin, so there would be nothing for a wrapper to wrap.
"""


def hook_functions() -> list:
    """The hookspec functions, in source order."""
    functions = [f for name, f in vars(hookspecs).items()
                 if name.startswith("vigie_") and inspect.isfunction(f)]
    return sorted(functions, key=lambda f: f.__code__.co_firstlineno)


def render() -> str:
    """The whole Markdown page."""
    parts = [HEADER]
    for function in hook_functions():
        signature = str(inspect.signature(function)).replace("'", "").replace('"', "")
        doc = inspect.cleandoc(function.__doc__ or "(undocumented)")
        parts.append(f"## `{function.__name__}`\n\n```python\n"
                     f"def {function.__name__}{signature}\n```\n\n{doc}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
