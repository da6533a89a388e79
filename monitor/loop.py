"""Running Vigie's event loop: uvloop when it is installed, asyncio's own otherwise.

uvloop makes the probe pipeline noticeably cheaper per check (see docs/performance.md);
``VIGIE_EVENT_LOOP=asyncio`` forces the standard loop (to compare, or to debug).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: the loop :func:`run` will use."""
    if os.environ.get("VIGIE_EVENT_LOOP", "uvloop") == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401 (only whether it is installed)
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop, like :func:`asyncio.run`."""
    if loop_name() == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)
