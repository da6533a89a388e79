"""One result as the agent spools and sends it (``results[]`` of a push, docs/agent.md).

Every result crosses :func:`monitor.runner.clean_result` here, the boundary every result
of Vigie crosses, before it is written to the spool: the server receives text already
made safe, and checks it again at its own door.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from monitor.probe import ProbeResult, Status
from monitor.runner import clean_result
from monitor.state import unjudged


def result_record(check_key: str, result: ProbeResult) -> dict[str, Any]:
    """The JSON-ready record of ``result`` of the check ``check_key`` (without its seq,
    which the spool gives). A run that could not judge for want of a local resource
    (:func:`monitor.state.unjudged`) is sent ``unknown``, as the server stores such runs.

    :raises TypeError: ``result`` does not have the shape of a :class:`ProbeResult`.
    """
    result = clean_result(result)
    status = result.status
    if status is not Status.UP and unjudged(result):
        status = Status.UNKNOWN
    why = result.reason
    return {
        "check": check_key,
        "started_at": result.started_at,
        "duration": result.duration,
        "status": status.label,
        "reason": None if why is None else {"fr": why.fr, "en": why.en, "code": why.code,
                                            "public": why.public},
        "samples": _finite(result.samples),
        "info": dict(result.info),
    }


def _finite(samples: Mapping[str, Any]) -> dict[str, Any]:
    """The samples JSON can carry: finite numbers (a labelled sample: its finite ones)."""
    out: dict[str, Any] = {}
    for name, value in samples.items():
        if isinstance(value, Mapping):
            labelled = {str(label): float(number) for label, number in value.items()
                        if _number(number)}
            if labelled:
                out[name] = labelled
        elif _number(value):
            out[name] = float(value)
    return out


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))
