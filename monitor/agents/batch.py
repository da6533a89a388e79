"""Reading a pushed batch: all or nothing.

A batch is JSON (``POST /api/agent/v1/results``, see docs/agents-server.md)::

    {"agent": "lyon-1", "boot": "<uuid>", "batch": 17, "sent_at": 1765000100.5,
     "buffered": 0, "dropped": 0,
     "results": [{"seq": 412, "check": "web/home", "started_at": 1765000090.1,
                  "duration": 0.051, "status": "up", "reason": null,
                  "samples": {"latency_seconds": 0.05}, "info": {}}]}

:func:`read_batch` refuses the whole batch at its first problem (:class:`Refusal` 400
``malformed`` naming the field, e.g. ``results[3].status``; 413 ``too_large`` past
``agents.max_batch_results``), or returns a :class:`Batch` whose results are sorted by
``seq``, each with its instant moved onto the server's clock: the agent's ``started_at``
plus ``received_at - sent_at`` (the offset between the two clocks as this batch measured
it, the time in transit included). Unknown keys are ignored, so a newer agent can talk
to an older server. The text of a result (reason, info, sample names) crosses
:func:`monitor.runner.clean_result` on its way to a :class:`~monitor.probe.ProbeResult`
(:meth:`AgentResult.to_probe_result`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from monitor.agents.errors import Refusal
from monitor.probe import ProbeResult, Reason, Status
from monitor.runner import clean_result
from monitor.safetext import clean_line
from monitor.words import Bilingual, _

#: what ``status`` may say (every status's label)
STATUSES = tuple(status.label for status in Status)
#: the largest ``seq`` (a signed 64-bit column)
SEQ_MAX = 2**63 - 1
#: the longest part of a field's name said in a refusal (a sample's name comes from outside)
FIELD_PART_MAX = 60
#: the longest run an agent may report (a day: no check's deadline is longer)
DURATION_MAX = 86400.0

_Text = Annotated[str, Field(max_length=2000)]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _sample_value(value: Any) -> float | dict[str, float]:
    """A sample: a finite number, or a mapping of label values to finite numbers."""
    number = _number(value)
    if number is not None:
        return number
    if isinstance(value, dict) and len(value) <= 200:
        inner = {k: _number(v) for k, v in value.items()
                 if isinstance(k, str) and len(k) <= 200}
        if len(inner) == len(value) and all(v is not None for v in inner.values()):
            return {k: v for k, v in inner.items() if v is not None}
    raise ValueError("expected a finite number, or a mapping of label values to finite "
                     "numbers (at most 200)")


_Sample = Annotated[Any, BeforeValidator(_sample_value)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False, frozen=True)


class AgentReason(_Strict):
    """A result's reason as an agent sends it."""

    code: Annotated[str, Field(min_length=1, max_length=200)]
    fr: _Text
    en: _Text | None = None
    public: bool = True


class AgentResult(_Strict):
    """One result of a batch, as sent."""

    seq: Annotated[int, Field(ge=0, le=SEQ_MAX)]
    check: Annotated[str, Field(min_length=3, max_length=127)]
    started_at: Annotated[float, Field(gt=0)]
    duration: Annotated[float, Field(ge=0, le=DURATION_MAX)]
    status: Literal["up", "degraded", "down", "unknown", "maintenance"]
    reason: AgentReason | None = None
    samples: Annotated[dict[Annotated[str, Field(max_length=200)], _Sample],
                       Field(max_length=200)] = {}
    info: Annotated[dict[Annotated[str, Field(max_length=200)], _Text],
                    Field(max_length=50)] = {}

    def to_probe_result(self, started_at: float) -> ProbeResult:
        """The result as Vigie's own, started at ``started_at`` (server clock), its text
        made safe (:func:`~monitor.runner.clean_result`)."""
        why = None
        if self.reason is not None:
            why = Reason(self.reason.code, Bilingual(self.reason.fr, self.reason.en or
                                                     self.reason.fr), self.reason.public)
        samples = {name: dict(value) if isinstance(value, dict) else value
                   for name, value in self.samples.items()}
        result = ProbeResult(Status.from_label(self.status), why, samples, dict(self.info),
                             duration=self.duration, started_at=started_at)
        return clean_result(result)


class _Body(_Strict):
    agent: Annotated[str, Field(min_length=1, max_length=100)]
    boot: Annotated[str, Field(min_length=1, max_length=100)]
    batch: Annotated[int, Field(ge=0, le=SEQ_MAX)]
    sent_at: Annotated[float, Field(gt=0)]
    buffered: Annotated[int, Field(ge=0, le=SEQ_MAX)] = 0
    dropped: Annotated[int, Field(ge=0, le=SEQ_MAX)] = 0
    results: list[AgentResult]


@dataclass(frozen=True, slots=True)
class Entry:
    """A result of the batch with its instant on the server's clock."""

    result: AgentResult
    #: ``result.started_at`` + the batch's clock offset
    started_at: float
    #: its place in the batch as sent (``results[index]``)
    index: int


@dataclass(frozen=True, slots=True)
class Batch:
    """A valid batch: what the agent says of itself and its results in ``seq`` order."""

    agent: str
    boot: str
    number: int
    sent_at: float
    received_at: float
    buffered: int
    dropped: int
    entries: tuple[Entry, ...]

    @property
    def offset(self) -> float:
        """Seconds to add to the agent's clock to read the server's (as measured on this
        batch)."""
        return self.received_at - self.sent_at


def field_name(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as the message names it: ``results[3].status`` (a key the
    agent chose, a sample's name, made one safe line)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = clean_line(part, FIELD_PART_MAX)
            out += f".{name}" if out else name
    return out or "body"


def _malformed(field: str, problem: str) -> Refusal:
    return Refusal(400, "malformed", _("Malformed batch: {field}: {problem}", field=field,
                                       problem=problem), field=field)


def read_batch(body: bytes, received_at: float, max_results: int) -> Batch:
    """The batch in ``body``, received at ``received_at`` (server clock).

    :raises Refusal: 400 ``malformed`` (not JSON, a missing or invalid field, a ``seq``
        twice), 413 ``too_large`` (more than ``max_results`` results).
    """
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise _malformed("body", "not valid JSON (UTF-8)") from None
    if not isinstance(data, dict):
        raise _malformed("body", "expected a JSON object")
    results = data.get("results")
    if isinstance(results, list) and len(results) > max_results:
        raise Refusal(413, "too_large", _("Batch too large: {count} results, at most {limit} "
                                          "(send smaller batches).", count=len(results),
                                          limit=max_results), field="results")
    try:
        parsed = _Body.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise _malformed(field_name(first["loc"]), first["msg"]) from None
    seen: dict[int, int] = {}
    for index, result in enumerate(parsed.results):
        if result.seq in seen:
            raise _malformed(f"results[{index}].seq",
                             f"seq {result.seq} is already results[{seen[result.seq]}]")
        seen[result.seq] = index
    offset = received_at - parsed.sent_at
    entries = tuple(sorted((Entry(r, r.started_at + offset, index)
                           for index, r in enumerate(parsed.results)),
                           key=lambda e: e.result.seq))
    return Batch(parsed.agent, parsed.boot, parsed.batch, parsed.sent_at, received_at,
                 parsed.buffered, parsed.dropped, entries)


__all__ = ["STATUSES", "AgentReason", "AgentResult", "Batch", "Entry", "field_name",
           "read_batch"]
