"""The checks of a location as an agent fetches them (``GET /api/agent/v1/checks``).

Each check is sent with its timing and its probe options as the probe model dumps them
to JSON. A secret option (a :class:`pydantic.SecretStr` or secret URL field, at any
depth: :func:`monitor.schema.holds_secret`) is left out, and named in ``withheld``,
unless the check shares its secrets with agents (``agent_secrets: true``): then its
value is sent. An unset secret is sent as it is (``null``): the agent tells "withheld"
(an absent key, or one named in ``withheld``) from "none configured". The ``revision``
is the SHA-256 of the checks' JSON: the agent asks with ``If-None-Match`` and gets 304
while nothing changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, SecretStr

from monitor.config import Check
from monitor.probe import Probe
from monitor.schema import holds_secret


def _revealed(value: Any) -> Any:
    """A secret option's value as JSON, the secret in clear."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return options_json(value, reveal=True)[0]
    if isinstance(value, (list, tuple)):
        return [_revealed(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _revealed(v) for k, v in value.items()}
    return value if value is None or isinstance(value, (bool, int, float)) else str(value)


def _unset(value: Any) -> bool:
    """Whether a secret option holds nothing (None, or an empty list or mapping)."""
    return value is None or (isinstance(value, (list, tuple, dict)) and not value)


def _walk(model: BaseModel, dumped: dict[str, Any], reveal: bool, path: str,
          withheld: list[str]) -> None:
    for name, field in type(model).model_fields.items():
        if name not in dumped:
            continue
        value = getattr(model, name)
        where = f"{path}{name}"
        if holds_secret(field):
            if reveal:
                dumped[name] = _revealed(value)
            elif not _unset(value):
                del dumped[name]
                withheld.append(where)
            # an unset secret stays as it is (null, or an empty list): the agent reads
            # "none configured", as an absent key means "withheld"
        elif isinstance(value, BaseModel) and isinstance(dumped[name], dict):
            _walk(value, dumped[name], reveal, where + ".", withheld)
        elif isinstance(value, (list, tuple)) and isinstance(dumped[name], list):
            for index, (item, out) in enumerate(zip(value, dumped[name])):
                if isinstance(item, BaseModel) and isinstance(out, dict):
                    _walk(item, out, reveal, f"{where}[{index}].", withheld)
        elif isinstance(value, dict) and isinstance(dumped[name], dict):
            for key, item in value.items():
                out = dumped[name].get(str(key))
                if isinstance(item, BaseModel) and isinstance(out, dict):
                    _walk(item, out, reveal, f"{where}.{key}.", withheld)


def options_json(options: BaseModel, reveal: bool) -> tuple[dict[str, Any], list[str]]:
    """``options`` dumped to JSON, and the secret options left out (their paths: ``token``,
    ``auth.password``); with ``reveal`` none is left out."""
    dumped = options.model_dump(mode="json")
    withheld: list[str] = []
    _walk(options, dumped, reveal, "", withheld)
    return dumped, withheld


def check_json(check: Check, reveal: bool, probe: type[Probe] = Probe) -> dict[str, Any]:
    """One check as the agent gets it (``probe``: its kind's class, which knows the model
    its options were made from: :meth:`~monitor.probe.Probe.config_of`)."""
    model = probe.config_of(check.options)
    if not isinstance(model, BaseModel):
        raise TypeError(f"the {check.ref.kind!r} probe kind keeps its checks' options as "
                        f"{type(model).__name__}: its config_of() must give the model back")
    options, withheld = options_json(model, reveal)
    return {"key": check.key, "kind": check.ref.kind, "interval": check.interval,
            "timeout": check.timeout, "confirm": check.confirm,
            "retry_interval": check.retry_interval, "options": options,
            "withheld": withheld}


@dataclass(frozen=True, slots=True)
class Catalog:
    """A location's checks, made once: their JSON and its revision."""

    checks: bytes
    revision: str


def catalog_of(checks: Sequence[Check], shares_secrets: Callable[[str], bool],
               probe_kinds: Mapping[str, type[Probe]]) -> Catalog:
    """The catalog of ``checks`` (``shares_secrets(key)``: whether a check's secrets go to
    agents; ``probe_kinds``: kind → probe class)."""
    body = json.dumps([check_json(c, shares_secrets(c.key),
                                  probe_kinds.get(c.ref.kind, Probe)) for c in checks],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return Catalog(body, hashlib.sha256(body).hexdigest())


def document(catalog: Catalog, location: str, agent: str, server_time: float) -> bytes:
    """The answer to ``GET /checks``: who asks, the revision, the server's time and the
    checks."""
    head = json.dumps({"location": location, "agent": agent, "revision": catalog.revision,
                       "server_time": server_time}, ensure_ascii=False)
    return head[:-1].encode() + b', "checks": ' + catalog.checks + b"}"


__all__ = ["Catalog", "catalog_of", "check_json", "document", "options_json"]
