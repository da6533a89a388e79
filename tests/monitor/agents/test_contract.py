"""The agent's side and the server's side read the protocol alike: each check of the
annotated example configuration, as the server's catalog writes it
(``monitor.agents.catalog``), becomes on the agent (``monitor.agent.checks``) the same
probe options, or a check reporting ``agent.secret_withheld`` exactly when a secret was
configured and not shared; an unset optional secret is not mistaken for a withheld one;
a batch as the agent writes it is read by the server, every status included."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from monitor.agent.checks import UNRUNNABLE, ChecksAnswer, agent_registry, assigned_checks
from monitor.agent.records import result_record
from monitor.agents.batch import read_batch
from monitor.agents.catalog import catalog_of, check_json
from monitor.config_loader import load_with_plugins
from monitor.probe import ProbeResult, Reason, Status
from monitor.schema import holds_secret
from monitor.words import Bilingual
from tests.monitor.agents.test_checks import EXAMPLE, EXAMPLE_ENV


def _secrets_set(model: BaseModel, prefix: str = "") -> list[str]:
    """The paths of the secret options ``model`` holds a value for (an independent
    reading of the model: no code of either side)."""
    found: list[str] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if holds_secret(field):
            if value not in (None, [], {}, ()):
                found.append(prefix + (field.alias or name))
        elif isinstance(value, BaseModel):
            found += _secrets_set(value, f"{prefix}{field.alias or name}.")
    return found


def _example(monkeypatch) -> tuple[Any, Any]:
    for name in re.findall(r"\$\{([A-Z_]+)", EXAMPLE.read_text(encoding="utf-8")):
        monkeypatch.setenv(name, EXAMPLE_ENV.get(name, "x"))
    _pm, registry, config = load_with_plugins(EXAMPLE)
    return registry, config


def _through_the_wire(checks: list, registry: Any, *, share: bool) -> dict[str, Any]:
    """``checks`` sent by the server's catalog and read by the agent: key → Check."""
    kinds = {k.kind: k.probe_class for k in registry}
    catalog = catalog_of(checks, lambda key: share, kinds)
    answer = ChecksAnswer.model_validate({"location": "lyon", "agent": "lyon-1",
                                          "revision": catalog.revision,
                                          "checks": json.loads(catalog.checks)})
    return {c.key: c for c in assigned_checks(answer, agent_registry(registry)).checks}


def test_secrets_withheld_by_the_server_are_those_the_agent_reports(monkeypatch):
    registry, config = _example(monkeypatch)
    kinds = {k.kind: k.probe_class for k in registry}
    runnable = [c for c in config.checks if kinds[c.ref.kind].runs_on_agents]
    got = _through_the_wire(runnable, registry, share=False)
    withheld_somewhere = unset_somewhere = 0
    for check in runnable:
        probe = kinds[check.ref.kind]
        model = probe.config_of(check.options)
        secrets = _secrets_set(model)
        agent_check = got[check.key]
        sent = check_json(check, False, probe)
        assert sent["withheld"] == secrets, check.key
        if secrets:
            withheld_somewhere += 1
            assert agent_check.ref.kind == UNRUNNABLE, check.key
            assert agent_check.options.code == "agent.secret_withheld"
            for path in secrets:
                assert path in agent_check.options.en, (check.key, agent_check.options.en)
        else:
            assert agent_check.ref.kind == check.ref.kind, (check.key, agent_check.options)
            assert probe.config_of(agent_check.options) == model, check.key
            unset_somewhere += any(holds_secret(f) for f in type(model).model_fields.values())
    # the example has both: checks with a password, and checks whose secret is unset
    assert withheld_somewhere and unset_somewhere


def test_an_unset_optional_secret_is_not_withheld(monkeypatch):
    """An smtp check without a password (optional) runs on the agent: the server sends
    ``password: null``, not an absent key (regression: the agent read the absent key as
    a secret withheld and reported the check ``unknown``)."""
    registry, config = _example(monkeypatch)
    kinds = {k.kind: k.probe_class for k in registry}
    check = next(c for c in config.checks if c.ref.kind == "smtp")
    model = kinds["smtp"].config_of(check.options)
    assert model.password is None
    sent = check_json(check, False, kinds["smtp"])
    assert "password" in sent["options"] and sent["options"]["password"] is None
    assert sent["withheld"] == []
    assert _through_the_wire([check], registry, share=False)[check.key].ref.kind == "smtp"


def test_shared_secrets_reach_the_agent_whole(monkeypatch):
    registry, config = _example(monkeypatch)
    kinds = {k.kind: k.probe_class for k in registry}
    runnable = [c for c in config.checks if kinds[c.ref.kind].runs_on_agents]
    got = _through_the_wire(runnable, registry, share=True)
    for check in runnable:
        probe = kinds[check.ref.kind]
        assert got[check.key].ref.kind == check.ref.kind, check.key
        assert probe.config_of(got[check.key].options) == probe.config_of(check.options)


def test_a_batch_the_agent_writes_is_read_by_the_server_every_status(monkeypatch):
    results = []
    for seq, status in enumerate(Status, start=1):
        why = Reason("http.status", Bilingual("Réponse 503", "Answer 503"))
        record = result_record("web/home", ProbeResult(
            status, why if status is not Status.UP else None,
            samples={"http_status_code": 503.0, "labelled": {"a": 1.0}},
            info={"server": "nginx"}, duration=0.05, started_at=1_765_000_000.0 + seq))
        results.append({"seq": seq, **record})
    body = json.dumps({"agent": "lyon-1", "boot": "b", "batch": 1,
                       "sent_at": 1_765_000_100.0, "buffered": 3, "dropped": 2,
                       "results": results}).encode()
    batch = read_batch(body, received_at=1_765_000_110.0, max_results=5000)
    assert [e.result.status for e in batch.entries] == [s.label for s in Status]
    read = [e.result.to_probe_result(e.started_at) for e in batch.entries]
    assert [r.status for r in read] == list(Status)
    assert read[0].started_at == 1_765_000_011.0  # moved onto the server's clock
    assert read[1].reason is not None and read[1].reason.en == "Answer 503"
    assert read[1].samples["labelled"] == {"a": 1.0}
    assert (batch.buffered, batch.dropped) == (3, 2)
