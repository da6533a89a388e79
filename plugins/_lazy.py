"""Driver modules imported on first use, not when the plugin loads.

Every installed probe plugin is loaded at start, but most configurations use a few kinds:
importing psycopg, aiomysql or dnspython only when a check of that kind is configured or
runs keeps them out of the memory of every other Vigie (about 10 MB for psycopg alone).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for module ``name``; the first attribute read imports it (and ``submodules``).

    ``psycopg = LazyModule("psycopg")`` then ``psycopg.connect`` behaves as after
    ``import psycopg``; ``LazyModule("dns", "rdatatype")`` as after ``import dns.rdatatype``.
    """

    def __init__(self, name: str, *submodules: str) -> None:
        self._name = name
        self._submodules = submodules
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        module = self._module
        if module is None:
            module = importlib.import_module(self._name)
            for sub in self._submodules:
                importlib.import_module(f"{self._name}.{sub}")
            self._module = module
        return module

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # copy/pickle probing: not the module's business
        return getattr(self._load(), attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"
