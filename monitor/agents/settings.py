"""The ``agents:`` section: how the server takes the batches of remote agents
(``vigie agent``; see docs/agents-server.md).

The agents themselves are not configured here: their tokens live in the database
(``vigie agent-token add``), the locations and which checks run where in ``locations:``
and each check's ``locations``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from monitor.schema import StrictModel

#: multipliers of the byte units accepted (``1MiB``, ``512KiB``, ``1MB``…)
_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "kib": 1024, "mib": 1024**2}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_bytes(value: Any) -> Any:
    """A size in bytes from ``1MiB``, ``512KiB``, ``2MB`` or a plain number."""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    found = _SIZE.match(value.lower())
    if found is None or found.group(2) not in _UNITS:
        raise ValueError(f"invalid size {value[:40]!r} (use e.g. 1MiB, 512KiB or a number "
                         "of bytes)")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


ByteCount = Annotated[int, BeforeValidator(parse_bytes)]
"""A number of bytes, or a size with its unit (``1MiB``)."""

#: the largest ``max_batch_bytes``: half of the listener's default body memory, so a
#: batch always fits beside the other requests' bodies
MAX_BATCH_BYTES = 16 * 1024 * 1024


class AgentSettings(StrictModel):
    """Remote agents (``vigie agent``) pushing results from other locations."""

    #: serve the agents' API (``/api/agent/v1``); by default it is served when
    #: ``locations.remote`` names at least one location
    enabled: bool | None = None
    #: largest batch in bytes (``1MiB``, ``512KiB`` or a number); a larger push is
    #: refused with 413 and nothing of it is stored
    max_batch_bytes: ByteCount = Field(default=1024 * 1024, ge=1024, le=MAX_BATCH_BYTES)
    #: most results in one batch; more is refused with 413
    max_batch_results: int = Field(default=5000, ge=1, le=100_000)
    #: pushes one agent token may make in a minute; beyond, 429 with ``Retry-After``
    pushes_per_minute: int = Field(default=120, ge=1, le=60_000)


def settings_of(config: Any) -> AgentSettings:
    """The ``agents:`` section of ``config`` (its defaults when absent)."""
    found = config.sections.get("agents") if config is not None else None
    return found if isinstance(found, AgentSettings) else AgentSettings()
