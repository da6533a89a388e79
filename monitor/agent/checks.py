"""The checks a server assigns to the agent's location, made into :class:`Check` objects.

The server sends each check as a spec (``GET /api/agent/v1/checks``, see
docs/agent.md): its key, probe kind, timing, and its options as the probe model's JSON.
The options go through the same probe registry as a configuration file's (the kind's
``Config`` model, then its ``prepare``), so a check runs on an agent exactly as on the
server.

A check the agent cannot run still runs, and reports ``unknown`` with the reason, at
its interval, so volunteers see why its location says nothing:

- its secret options were left out by the server (the check does not have
  ``agent_secrets: true``): named in the spec's ``withheld``, and a secret field absent
  from the options means *not shared* too (an unset optional secret comes as ``null``);
- its probe kind is not installed on this agent;
- its options are refused by this agent's version of the probe.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.config import Check, LocalizedText, Service
from monitor.plugins import ProbeKind, ProbeRegistry
from monitor.probe import (
    CheckRef,
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    Reason,
    Status,
    reason,
)
from monitor.safetext import clean_line
from monitor.schema import holds_secret
from monitor.words import Bilingual, _

log = logging.getLogger(__name__)

#: a check's key, ``service/check``, each part an identifier of the configuration
KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}/[a-z0-9][a-z0-9_-]{0,62}$")
#: the probe kind of the checks the agent cannot run (never a kind of a plugin)
UNRUNNABLE = "vigie-agent:unrunnable"
#: what pydantic's JSON dump writes for a secret it did not reveal
HIDDEN_SECRET = "**********"
#: the longest problem quoted in a reason
PROBLEM_LIMIT = 200


class CheckSpec(BaseModel):
    """One check as the server describes it (keys the agent does not know are ignored:
    a newer server may add some)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key: str = Field(pattern=KEY.pattern)
    kind: str = Field(min_length=1, max_length=100)
    interval: float = Field(gt=0, le=7 * 86400)
    timeout: float = Field(gt=0, le=3600)
    confirm: int = Field(default=2, ge=1, le=100)
    retry_interval: float = Field(default=30.0, gt=0, le=7 * 86400)
    options: dict[str, Any] = Field(default_factory=dict)
    #: the secret options the server left out (their paths: ``basic_auth.password``)
    withheld: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list,
                                                                 max_length=100)


class ChecksAnswer(BaseModel):
    """The server's answer to ``GET /api/agent/v1/checks`` (the checks themselves are
    validated one by one, so one the agent cannot read does not hide the others)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    location: str = Field(min_length=1, max_length=100)
    agent: str = Field(min_length=1, max_length=200)
    revision: str = Field(min_length=1, max_length=200)
    server_time: float | None = None
    checks: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000)


class UnrunnableConfig(ProbeConfig):
    """Why a check cannot run here (the reason its runs report)."""

    code: str
    fr: str
    en: str
    public: bool = True


class Unrunnable(Probe):
    """Reports ``unknown`` with the reason the check cannot run on this agent."""

    kind = UNRUNNABLE
    Config = UnrunnableConfig
    description = "a check this agent cannot run (reports why)"

    async def check(self, config: UnrunnableConfig, ctx: ProbeContext) -> ProbeResult:
        """Always unknown, with the reason."""
        raise ProbeFailed(Reason(config.code, Bilingual(config.fr, config.en), config.public),
                          status=Status.UNKNOWN)


def agent_registry(registry: ProbeRegistry) -> ProbeRegistry:
    """``registry`` plus the agent's own :class:`Unrunnable` kind."""
    kinds = {kind.kind: kind for kind in registry}
    kinds[UNRUNNABLE] = ProbeKind(UNRUNNABLE, Unrunnable, Unrunnable(), "vigie-agent")
    return ProbeRegistry(kinds)


@dataclass(frozen=True, slots=True)
class AssignedChecks:
    """The checks of one answer of the server, ready for the scheduler."""

    location: str
    agent: str
    revision: str
    checks: tuple[Check, ...]

    def services(self) -> list[Service]:
        """The checks grouped by service (for the local :class:`~monitor.state.StateBook`)."""
        grouped: dict[str, list[Check]] = {}
        for check in self.checks:
            grouped.setdefault(check.ref.service_id, []).append(check)
        return [Service(sid, LocalizedText(fr=sid), None, None, tuple(checks))
                for sid, checks in grouped.items()]


def assigned_checks(answer: ChecksAnswer, registry: ProbeRegistry) -> AssignedChecks:
    """The :class:`Check` objects of ``answer``; a spec that cannot be read at all (no
    valid key, a key given twice) is left out and logged."""
    checks: list[Check] = []
    seen: set[str] = set()
    for index, raw in enumerate(answer.checks):
        try:
            spec = CheckSpec.model_validate(raw)
        except ValidationError as exc:
            log.warning("the server sent a check the agent cannot read (checks[%d]: %s); "
                        "left out", index, _first_problem(exc))
            continue
        if spec.key in seen:
            log.warning("the server sent check %s twice; the first one is kept", spec.key)
            continue
        seen.add(spec.key)
        checks.append(build_check(spec, registry))
    return AssignedChecks(answer.location, answer.agent, answer.revision, tuple(checks))


def build_check(spec: CheckSpec, registry: ProbeRegistry) -> Check:
    """The :class:`Check` of ``spec``, its options validated by its probe kind's model
    and prepared; an :class:`Unrunnable` one when it cannot run here (see the module)."""
    service_id, check_id = spec.key.split("/")
    kind = registry.get(spec.kind)
    if kind is None or spec.kind == UNRUNNABLE:
        why = reason("agent.kind_missing",
                     _("Probe kind {kind} is not installed on this agent",
                       kind=clean_line(spec.kind, 100)))
        return _check(spec, service_id, check_id, UNRUNNABLE, _unrunnable(why))
    model = kind.probe_class.Config
    # the server names what it left out; a secret key absent from the options is
    # withheld too (an older server, or a path the list does not reach)
    found = withheld_secrets(model, spec.options)
    withheld = [*spec.withheld, *(path for path in found if path not in spec.withheld)]
    if withheld:
        why = reason("agent.secret_withheld",
                     _("The server does not share this check's secret ({keys}) with "
                       "agents (agent_secrets: true on the check shares it)",
                       keys=", ".join(withheld)))
        return _check(spec, service_id, check_id, UNRUNNABLE, _unrunnable(why))
    try:
        options = kind.probe_class.prepare(model.model_validate(spec.options))
    except ValidationError as exc:
        why = reason("agent.check_invalid",
                     _("This agent cannot run the check: {problem}",
                       problem=_first_problem(exc)), public=False)
        return _check(spec, service_id, check_id, UNRUNNABLE, _unrunnable(why))
    return _check(spec, service_id, check_id, spec.kind, options)


def _check(spec: CheckSpec, service_id: str, check_id: str, kind: str, options: Any) -> Check:
    return Check(ref=CheckRef(service_id, check_id, kind), name=LocalizedText(fr=check_id),
                 interval=spec.interval, timeout=spec.timeout, confirm=spec.confirm,
                 retry_interval=spec.retry_interval, options=options)


def _unrunnable(why: Reason) -> UnrunnableConfig:
    return UnrunnableConfig(code=why.code, fr=why.fr, en=why.en, public=why.public)


def _first_problem(exc: ValidationError) -> str:
    """``options.url: …`` for the first error pydantic found (never the input: it may
    be a secret)."""
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return clean_line(f"{where}: {error['msg']}" if where else error["msg"], PROBLEM_LIMIT)


def withheld_secrets(model: type[BaseModel], options: Mapping[str, Any],
                     prefix: str = "") -> list[str]:
    """The secret fields of ``model`` (:func:`monitor.schema.holds_secret`, nested
    models included) that ``options`` leaves out or gives hidden (``**********``)."""
    out: list[str] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = options.get(key)
        if holds_secret(field):
            given = key in options or f"{key}_file" in options
            if not given or value == HIDDEN_SECRET:
                out.append(prefix + key)
            continue
        inner = _model_of(field.annotation)
        if inner is not None and isinstance(value, Mapping):
            out += withheld_secrets(inner, value, f"{prefix}{key}.")
    return out


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class of a field typed ``Model`` or ``Model | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, type(int | None)):
        models = [arg for arg in get_args(annotation)
                  if isinstance(arg, type) and issubclass(arg, BaseModel)]
        return models[0] if len(models) == 1 else None
    return None

